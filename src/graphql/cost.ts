// The cost of a request, computed from its document and variables before any resolver runs
// (FLOWS.md section 8). Depth and alias limits do not bound work: 15 aliases of
// customers(first: 100) { licenses(first: 100) } stay within both and ask for 150,000 rows.
//
// The rule: every connection field costs its page size times the page sizes of the connections it is
// nested in; the request costs the sum over all its connection fields (aliases and fragments
// included). A field that returns rows by an argument (createLicenses: one per input) declares its
// cost with rowsCost() as a type-graphql `complexity` and counts like a page of that many rows.
// graphql-query-complexity walks the document (fragments, @skip/@include, variables); the estimator
// below only says what one field costs given what its selection costs.
import type { ApolloServerPlugin } from '@apollo/server';
import { getNamedType, GraphQLError, type GraphQLField } from 'graphql';
import { fieldExtensionsEstimator, getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';
import { DEFAULT_PAGE_SIZE } from '../common/pagination';
import { ErrorCode } from '../errors';
import { Lru } from './lru';
import { variablesCoerce } from './variables';

export const QUERY_TOO_COMPLEX = 'QUERY_TOO_COMPLEX';

/**
 * A field that returns `rows` rows, each with a selection costing `childCost`: the rows themselves plus
 * the selection once per row. For a connection, `rows` is its page size; nesting multiplies.
 */
export function rowsCost(rows: number, childCost: number): number {
  return rows * (1 + childCost);
}

/**
 * The page size a connection is charged for: `first` or `last` as given, else the default. Values the
 * resolver will refuse (0, negative, above 100) still cost at least one row and at most what they
 * ask for, so an invalid page size never makes a request look cheaper than a valid one. `written`
 * says whether the document writes an argument: a root connection's `first` has the schema default
 * 20, which the resolver ignores when `last` is given (connections.ts pageArgsOf), so only a written
 * `first` is charged (one written as an unset variable is charged its default: never too little).
 */
export function chargedPageSize(args: Record<string, unknown>, written: (name: string) => boolean = () => true): number {
  const first = written('first') ? args.first : undefined;
  const given = [first, args.last].filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const size = given.length ? Math.max(...given) : DEFAULT_PAGE_SIZE;
  return Math.max(1, Math.trunc(size));
}

const isConnection = (field: GraphQLField<unknown, unknown>) => getNamedType(field.type).name.endsWith('Connection');

/**
 * Connections cost rowsCost(page size, selection); any other field passes its selection's cost on.
 * A list that is not a connection (apiTokens) has no page size: it passes its selection's cost on
 * unmultiplied, which is exact only while nothing below it is a connection; a unit test walks the
 * schema to keep it so, and a list that needs more declares a `complexity` as createLicenses does.
 */
const connectionEstimator: ComplexityEstimator = ({ field, node, args, childComplexity }) =>
  isConnection(field)
    ? rowsCost(
        chargedPageSize(args, (name) => (node.arguments ?? []).some((arg) => arg.name.value === name)),
        childComplexity,
      )
    : childComplexity;

export const costEstimators: ComplexityEstimator[] = [fieldExtensionsEstimator(), connectionEstimator];

function refusal(message: string, extensions: Record<string, unknown>): GraphQLError {
  // http.status: a request refused before execution answers 400 like the other request limits
  // (Apollo would answer 500 for an error thrown by a plugin); format-error.ts keeps the rest.
  return new GraphQLError(message, { extensions: { code: ErrorCode.BAD_USER_INPUT, ...extensions, http: { status: 400 } } });
}

function tooExpensive(cost: number, limit: number): GraphQLError {
  return refusal(
    `The request is too expensive: its cost is ${cost}, the limit is ${limit}. Ask for smaller pages or fewer nested connections.`,
    { reason: QUERY_TOO_COMPLEX, cost, limit },
  );
}

/**
 * Refuses a request whose cost exceeds `limit` with BAD_USER_INPUT, reason QUERY_TOO_COMPLEX and the
 * cost and limit in extensions. Runs in didResolveOperation: after validation (so the document is
 * well-formed and within the depth, alias and field limits), with the request's variables, and before
 * execution.
 */
export function queryCostPlugin(limit: number): ApolloServerPlugin {
  // The cost of an operation without variables depends on its document alone: computed once per
  // document text (Apollo's query hash) and operation name.
  const costs = new Lru<string, number>(1000);
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request, queryHash }) {
          if (!operation) return; // Apollo has already answered a document without a runnable operation.
          const key = operation.variableDefinitions?.length ? null : `${operation.name?.value ?? ''}\u0000${queryHash}`;
          const known = key === null ? undefined : costs.get(key);
          if (known !== undefined) {
            if (known > limit) throw tooExpensive(known, limit);
            return;
          }
          // Variables that do not coerce: execution refuses the request before any resolver runs,
          // with graphql-js's own message, so there is no cost to compute.
          if (!variablesCoerce(schema, operation, request.variables)) return;
          let cost: number;
          try {
            cost = getComplexity({
              schema,
              query: document,
              variables: request.variables ?? {},
              operationName: operation.name?.value,
              estimators: costEstimators,
            });
          } catch (error) {
            // An argument that cannot be read (a null variable for a required argument) or a document
            // the library will not walk: the cost is unknown, so the request is refused, not run.
            if (error instanceof GraphQLError) throw refusal(error.message, {});
            throw error;
          }
          if (key !== null) costs.set(key, cost);
          if (cost > limit) throw tooExpensive(cost, limit);
        },
      };
    },
  };
}
