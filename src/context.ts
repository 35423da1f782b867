// The per-request context: a forked EntityManager (never the global one), the principal, the client
// address and the application's services.
import type { EntityManager } from '@mikro-orm/core';
import type { Request } from 'express';
import type { Services } from './services';
import type { Principal } from './modules/auth/principal';
import { invalidToken } from './modules/auth/session.service';
import { isAppError, type AppError } from './errors';

export interface Context {
  /** Echoed in the X-Request-Id header and every log line of the request. */
  requestId: string;
  /** process.hrtime.bigint() when the request arrived: durations include the session lookup. */
  receivedAt: bigint;
  em: EntityManager;
  principal: Principal | null;
  /** Set when the request carried an invalid, unknown or expired token: protected fields answer with it (401). */
  credentialError: AppError | null;
  clientAddress: string | null;
  services: Services;
  /** Request-scoped batch loaders, created on first use. */
  loaders: Map<string, unknown>;
}

/** The bearer token of the request, null without an Authorization header; anything else malformed is a 401. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined || header === '') return null;
  const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
  if (!match) throw invalidToken();
  return match[1]!;
}

/** The client's address as Express resolves it (TRUST_PROXY decides how far X-Forwarded-For counts). */
export function clientAddressOf(req: Request): string | null {
  return req.ip ?? req.socket.remoteAddress ?? null;
}

export async function createContext(
  services: Services,
  req: Request,
  requestId: string,
  receivedAt = process.hrtime.bigint(),
): Promise<Context> {
  const em = services.orm.em.fork();
  const clientAddress = clientAddressOf(req);
  let principal: Principal | null = null;
  let credentialError: AppError | null = null;
  try {
    const token = bearerToken(req.headers.authorization);
    principal = token ? await services.sessions.authenticate(em, token, clientAddress) : null;
  } catch (error) {
    // A stale token must not stop the public operations (login, password reset): the gate answers
    // every protected field with this 401-style error instead.
    if (!isAppError(error)) throw error;
    credentialError = error;
  }
  return { requestId, receivedAt, em, principal, credentialError, clientAddress, services, loaders: new Map() };
}
