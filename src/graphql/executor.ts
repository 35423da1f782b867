// How a validated operation is executed: graphql-jit (default) or graphql-js (GRAPHQL_EXECUTOR). Apollo
// Server still parses, validates (request limits, introspection off in production), runs the plugins
// (query cost, observability) and formats every error; only execution itself is handed over, through
// Apollo's gateway interface. graphql-jit compiles an operation once into a function that resolves it
// without graphql-js's per-field interpretation; the compiled functions are kept per document text
// and operation name in a bounded LRU. A document graphql-jit cannot compile, and a request whose
// variables do not coerce, is executed by graphql-js, so those answers are graphql-js's own.
import type { ApolloServerOptionsWithGateway } from '@apollo/server';
import { execute, GraphQLError, type DocumentNode, type ExecutionResult, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { ExecutorName } from '../config';
import type { Context } from '../context';
import { Lru } from './lru';
import { variablesCoerce } from './variables';

type Gateway = ApolloServerOptionsWithGateway<Context>['gateway'];

/** The compiled operation, or null: graphql-jit did not compile it, graphql-js executes it. */
type Compiled = CompiledQuery | null;

export interface JitStats {
  compiled: number;
  fallbacks: number;
  cached: number;
}

export class JitExecutor {
  private readonly documents: Lru<string, Compiled>;
  readonly stats: JitStats = { compiled: 0, fallbacks: 0, cached: 0 };

  constructor(
    private readonly schema: GraphQLSchema,
    maxDocuments = 1000,
  ) {
    this.documents = new Lru(maxDocuments);
  }

  private compiled(key: string, document: DocumentNode, operationName: string | undefined): Compiled {
    const cached = this.documents.get(key);
    if (cached !== undefined) return cached;
    let compiled: Compiled;
    try {
      const result = compileQuery(this.schema, document, operationName);
      // Not compiled: graphql-jit answers with errors (an operation it cannot find, a feature it lacks).
      compiled = isCompiledQuery(result) ? result : null;
    } catch {
      compiled = null;
    }
    if (compiled) this.stats.compiled++;
    else this.stats.fallbacks++;
    this.documents.set(key, compiled);
    this.stats.cached = this.documents.size;
    return compiled;
  }

  /**
   * Executes a document Apollo has validated. `key` names the document text (Apollo's query hash);
   * the operation name is added to it, since one document may hold several operations.
   */
  execute(args: {
    key: string;
    document: DocumentNode;
    operation: OperationDefinitionNode | undefined;
    operationName: string | undefined;
    variables: Record<string, unknown> | undefined;
    context: Context;
  }): Promise<ExecutionResult> | ExecutionResult {
    const { document, operation, operationName, context } = args;
    const variables = args.variables ?? {};
    const compiled = operation ? this.compiled(`${operationName ?? ''}\u0000${args.key}`, document, operationName) : null;
    // graphql-jit coerces variables itself, with messages of its own: a request whose variables graphql-js
    // refuses is answered by graphql-js, word for word as without graphql-jit.
    const coercible = !operation || variablesCoerce(this.schema, operation, args.variables);
    if (!compiled || !coercible) {
      return execute({ schema: this.schema, document, contextValue: context, variableValues: variables, operationName });
    }
    const result = compiled.query(undefined, context, variables);
    return isPromise(result) ? result.then(withGraphQLErrors) : withGraphQLErrors(result);
  }
}

const isPromise = <T>(value: T | Promise<T>): value is Promise<T> => typeof (value as { then?: unknown }).then === 'function';

/**
 * graphql-jit's errors are graphql-js GraphQLErrors by prototype only: without extensions (graphql-js
 * always has an object there, which Apollo's error formatting reads). Each becomes the GraphQLError
 * graphql-js would have made: message, locations, path, the original error and its extensions.
 */
function withGraphQLErrors(result: ExecutionResult): ExecutionResult {
  if (!result.errors?.length) return result;
  const errors = result.errors.map((jitError) => {
    const error = new GraphQLError(jitError.message, {
      path: jitError.path,
      originalError: jitError.originalError ?? undefined,
      extensions: jitError.extensions,
    });
    if (jitError.locations) (error as { locations?: GraphQLError['locations'] }).locations = jitError.locations;
    return error;
  });
  return { ...result, errors };
}

/**
 * The Apollo Server options that choose the executor: the schema itself (graphql-js, exactly as without
 * this module) or a gateway whose executor is graphql-jit; and the jit executor, for its statistics.
 */
export function executionOptions(
  schema: GraphQLSchema,
  executor: ExecutorName,
): { apollo: { schema: GraphQLSchema } | { gateway: Gateway }; jit: JitExecutor | null } {
  if (executor === 'graphql-js') return { apollo: { schema }, jit: null };
  const jit = new JitExecutor(schema);
  const gateway: Gateway = {
    async load() {
      return {
        schema,
        executor: async (rc) =>
          jit.execute({
            key: rc.queryHash,
            document: rc.document,
            operation: rc.operation,
            operationName: rc.request.operationName ?? undefined,
            variables: rc.request.variables,
            context: rc.context as Context,
          }),
      };
    },
    onSchemaLoadOrUpdate(callback) {
      callback({ apiSchema: schema, coreSupergraphSdl: '' });
      return () => undefined;
    },
    async stop() {},
  };
  return { apollo: { gateway }, jit };
}
