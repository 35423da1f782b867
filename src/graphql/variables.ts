// Whether a request's variables coerce to its operation's variable definitions: asked by the query-cost
// plugin (a request whose variables do not coerce has no cost: execution refuses it) and by the jit
// executor (such a request is answered by graphql-js, word for word), for the same request. Coercing
// 100 createLicenses rows (their DateTime strings parsed and checked) is about half a millisecond, so the
// answer is kept per request: per variables object (one per request) and operation node.
import { getVariableValues, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';

const answers = new WeakMap<object, WeakMap<OperationDefinitionNode, boolean>>();
/** A request without variables: one object, so that its answer is kept too (per operation, as it depends on nothing else). */
const NONE: Record<string, unknown> = Object.freeze({});

export function variablesCoerce(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
): boolean {
  if (!operation.variableDefinitions?.length) return true;
  const values = variables ?? NONE;
  let byOperation = answers.get(values);
  const known = byOperation?.get(operation);
  if (known !== undefined) return known;
  const coerce = !getVariableValues(schema, operation.variableDefinitions, values).errors;
  if (!byOperation) answers.set(values, (byOperation = new WeakMap()));
  byOperation.set(operation, coerce);
  return coerce;
}
