// Typed errors with the stable codes of FLOWS.md section 2. Nothing else is thrown at a client.
import { GraphQLError } from 'graphql';

export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  TWO_FACTOR_REQUIRED: 'TWO_FACTOR_REQUIRED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  RATE_LIMITED: 'RATE_LIMITED',
  CONFLICT: 'CONFLICT',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error meant for the client: its message is safe to show, its code is one of ErrorCode. */
export class AppError extends GraphQLError {
  constructor(code: ErrorCode, message: string, extra: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...extra } });
  }
  get code(): ErrorCode {
    return this.extensions.code as ErrorCode;
  }
}

export const unauthenticated = (message = 'Not signed in, or the session has ended.') => new AppError(ErrorCode.UNAUTHENTICATED, message);
export const twoFactorRequired = (message = 'Two-factor authentication must be completed first.') =>
  new AppError(ErrorCode.TWO_FACTOR_REQUIRED, message);
/** `reason`: a stable name for why, where the client can act on it (e.g. RESELLER_SUSPENDED). */
export const forbidden = (message = 'You may not do this.', reason?: string) =>
  new AppError(ErrorCode.FORBIDDEN, message, reason ? { reason } : {});
export const notFound = (what = 'object') => new AppError(ErrorCode.NOT_FOUND, `No such ${what}.`);
/** `reason`: a stable name for the rule that failed, for clients (and the pages) that act on it. */
export const badInput = (message: string, field?: string, reason?: string) =>
  new AppError(ErrorCode.BAD_USER_INPUT, message, { ...(field ? { field } : {}), ...(reason ? { reason } : {}) });
export const rateLimited = (message = 'Too many failed attempts. Try again later.') => new AppError(ErrorCode.RATE_LIMITED, message);
export const conflict = (message: string, field?: string, reason?: string) =>
  new AppError(ErrorCode.CONFLICT, message, { ...(field ? { field } : {}), ...(reason ? { reason } : {}) });

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** Adds the WWW-Authenticate challenge of RFC 6750 to an UNAUTHENTICATED error (Apollo sends extensions.http headers). */
export function bearerChallenge(error: AppError, challenge = 'Bearer'): AppError {
  error.extensions.http = { headers: new Map([['www-authenticate', challenge]]) };
  return error;
}
