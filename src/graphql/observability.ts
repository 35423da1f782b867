// One structured log line and the metrics for every GraphQL operation: request id, operation (root
// field, from the schema), client operation name, principal id, duration (from the request's arrival,
// so the session lookup counts) and outcome. Never the
// query text or variables, which may hold passwords, codes and tokens.
import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, type OperationDefinitionNode } from 'graphql';
import type { Context } from '../context';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';

/**
 * e.g. "query:licenses" or "mutation:createLicense"; "query:(several)" for more than one root field and
 * "query:(fragment)" for a fragment at the root. One label per root field at most: a client cannot grow
 * the metric series by combining fields.
 */
function operationLabel(operation: OperationDefinitionNode): string {
  const fields = new Set(operation.selectionSet.selections.map((s) => (s.kind === Kind.FIELD ? s.name.value : '(fragment)')));
  return `${operation.operation}:${fields.size === 1 ? [...fields][0] : '(several)'}`;
}

export function observabilityPlugin(log: Logger, metrics: Metrics): ApolloServerPlugin<Context> {
  return {
    async contextCreationDidFail() {
      // format-error.ts logs the error itself; here it is counted like any other request.
      metrics.requests.inc({ operation: 'invalid', outcome: 'INTERNAL_SERVER_ERROR' });
      metrics.errors.inc({ code: 'INTERNAL_SERVER_ERROR' });
    },
    async requestDidStart({ request }) {
      let operation = 'invalid';
      return {
        async didResolveOperation({ operation: resolved }) {
          if (resolved) operation = operationLabel(resolved);
        },
        async willSendResponse({ response, contextValue }) {
          const seconds = Number(process.hrtime.bigint() - contextValue.receivedAt) / 1e9;
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
