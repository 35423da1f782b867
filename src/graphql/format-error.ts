// Every error leaves with one of the codes of FLOWS.md section 2 and nothing internal: request errors
// (parse, validation, limits) become BAD_USER_INPUT; anything unexpected becomes a generic
// INTERNAL_SERVER_ERROR and is logged here instead.
import { unwrapResolverError } from '@apollo/server/errors';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { GraphQLFormattedError } from 'graphql';
import { ErrorCode } from '../errors';
import { describeError, type Logger } from '../logger';

const CLIENT_REQUEST_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  ErrorCode.BAD_USER_INPUT,
]);
const PASS_THROUGH = new Set<string>(Object.values(ErrorCode).filter((c) => c !== ErrorCode.INTERNAL_SERVER_ERROR));

/**
 * The extensions a client may act on besides code and field: a stable `reason` (e.g. QUERY_TOO_COMPLEX)
 * and the numbers of a limit that was hit (`cost`, `limit`). Only strings and numbers are kept.
 */
function details(extensions: Record<string, unknown> | undefined): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  if (typeof extensions?.reason === 'string') out.reason = extensions.reason;
  for (const key of ['cost', 'limit'] as const) {
    if (typeof extensions?.[key] === 'number') out[key] = extensions[key];
  }
  return out;
}

export function createFormatError(options: { production: boolean; log: Logger }) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = String(formatted.extensions?.code ?? '');
    const original = unwrapResolverError(error);
    const base = { message: formatted.message, locations: formatted.locations, path: formatted.path };
    const stacktrace = options.production ? undefined : formatted.extensions?.stacktrace;
    const field = formatted.extensions?.field;

    if (original instanceof UniqueConstraintViolationException) {
      return { ...base, message: 'This conflicts with an existing object.', extensions: { code: ErrorCode.CONFLICT } };
    }
    if (CLIENT_REQUEST_CODES.has(code)) {
      return { ...base, extensions: { code: ErrorCode.BAD_USER_INPUT, ...(field ? { field } : {}), ...details(formatted.extensions), ...(stacktrace ? { stacktrace } : {}) } };
    }
    if (PASS_THROUGH.has(code)) {
      return { ...base, extensions: { code, ...(field ? { field } : {}), ...details(formatted.extensions), ...(stacktrace ? { stacktrace } : {}) } };
    }
    options.log.error('internal error', { path: formatted.path?.join('.'), ...describeError(original) });
    return {
      ...base,
      message: options.production ? 'Internal server error.' : formatted.message,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, ...(stacktrace ? { stacktrace } : {}) },
    };
  };
}
