// Every error leaves with one of the codes of FLOWS.md section 2 and nothing internal: request errors
// (parse, validation, limits) become BAD_USER_INPUT; anything unexpected becomes a generic
// INTERNAL_SERVER_ERROR and is logged here instead.
import { unwrapResolverError } from '@apollo/server/errors';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
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
/**
 * Production names no schema element the client did not write itself (FLOWS.md section 8): graphql-js
 * suggests names ("Did you mean ...?"), names the required arguments and input fields that are missing,
 * and a variable-coercion error repeats the value and explains it against the input type.
 */
export function withoutSchemaDetails(message: string): string {
  const variable = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)" got invalid value /.exec(message);
  if (variable) return `Variable "$${variable[1]}" got an invalid value.`;
  if (/ argument "[^"]*" of type "[^"]*" is required, but it was not provided\.$/.test(message))
    return 'A required argument was not provided.';
  if (/^Field "[^"]*" of required type "[^"]*" was not provided\.$/.test(message)) return 'A required input field was not provided.';
  return message.replace(/ ?Did you mean [^?]*\?/g, '');
}

/** graphql-js's parser recurses once per nesting level: the stack, not the syntax, ends a deep document. */
const STACK_OVERFLOW = /^Maximum call stack size exceeded/;

/**
 * Apollo's own refusals of a request that carry an HTTP 4xx status but no code (so they arrive as
 * INTERNAL_SERVER_ERROR), such as a persisted query whose hash does not match its text or an unknown
 * persisted-query version.
 */
function refusedRequest(error: unknown): boolean {
  const status = error instanceof GraphQLError ? (error.extensions.http as { status?: unknown } | undefined)?.status : undefined;
  return typeof status === 'number' && status >= 400 && status < 500;
}

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
    const message =
      code === 'GRAPHQL_PARSE_FAILED' && STACK_OVERFLOW.test(formatted.message) ? 'The document is nested too deeply.' : formatted.message;
    const base = {
      message: options.production ? withoutSchemaDetails(message) : message,
      locations: formatted.locations,
      path: formatted.path,
    };
    const stacktrace = options.production ? undefined : formatted.extensions?.stacktrace;
    const field = formatted.extensions?.field;

    if (original instanceof UniqueConstraintViolationException) {
      return { ...base, message: 'This conflicts with an existing object.', extensions: { code: ErrorCode.CONFLICT } };
    }
    if (CLIENT_REQUEST_CODES.has(code) || (code === ErrorCode.INTERNAL_SERVER_ERROR && refusedRequest(error))) {
      return {
        ...base,
        extensions: {
          code: ErrorCode.BAD_USER_INPUT,
          ...(field ? { field } : {}),
          ...details(formatted.extensions),
          ...(stacktrace ? { stacktrace } : {}),
        },
      };
    }
    if (PASS_THROUGH.has(code)) {
      return {
        ...base,
        extensions: { code, ...(field ? { field } : {}), ...details(formatted.extensions), ...(stacktrace ? { stacktrace } : {}) },
      };
    }
    options.log.error('internal error', { path: formatted.path?.join('.'), ...describeError(original) });
    return {
      ...base,
      message: options.production ? 'Internal server error.' : formatted.message,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, ...(stacktrace ? { stacktrace } : {}) },
    };
  };
}
