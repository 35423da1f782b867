// One structured log line and the metrics for every GraphQL operation: request id, operation (root
// fields, from the schema), client operation name, principal id, duration and outcome. Never the
// query text or variables, which may hold passwords, codes and tokens.
import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, type OperationDefinitionNode } from 'graphql';
import type { Context } from '../context';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';

const MAX_LABEL_FIELDS = 3;

/** e.g. "query:licenses" or "mutation:createLicense": bounded by the schema, safe as a metric label. */
function operationLabel(operation: OperationDefinitionNode): string {
  const fields = new Set<string>();
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind === Kind.FIELD) fields.add(selection.name.value);
    else fields.add('(fragment)');
  }
  const names = [...fields].sort();
  const shown = names.slice(0, MAX_LABEL_FIELDS).join(',') + (names.length > MAX_LABEL_FIELDS ? ',...' : '');
  return `${operation.operation}:${shown}`;
}

export function observabilityPlugin(log: Logger, metrics: Metrics): ApolloServerPlugin<Context> {
  return {
    async requestDidStart({ request }) {
      const started = process.hrtime.bigint();
      let operation = 'invalid';
      return {
        async didResolveOperation({ operation: resolved }) {
          if (resolved) operation = operationLabel(resolved);
        },
        async willSendResponse({ response, contextValue }) {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const body = response.body.kind === 'single' ? response.body.singleResult : null;
          const codes = (body?.errors ?? []).map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR'));
          const outcome = codes[0] ?? 'ok';
          metrics.requests.inc({ operation, outcome });
          metrics.latency.observe({ operation }, seconds);
          for (const code of codes) metrics.errors.inc({ code });
          log.info('graphql', {
            requestId: contextValue.requestId,
            operation,
            operationName: request.operationName ? request.operationName.slice(0, 64) : null,
            principal: contextValue.principal?.userId ?? null,
            credential: contextValue.principal?.kind ?? null,
            stage: contextValue.principal?.stage ?? null,
            durationMs: Math.round(seconds * 1e4) / 10,
            outcome,
            errorCodes: codes.length ? codes : undefined,
          });
        },
      };
    },
  };
}
