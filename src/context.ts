// The per-request context: a forked EntityManager (never the global one), the principal, the client
// address and the application's services.
import type { EntityManager } from '@mikro-orm/core';
import type { Request } from 'express';
import type { Services } from './services';
import type { Principal } from './modules/auth/principal';
import { invalidToken } from './modules/auth/session.service';

export interface Context {
  em: EntityManager;
  principal: Principal | null;
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

export async function createContext(services: Services, req: Request): Promise<Context> {
  const em = services.orm.em.fork();
  const token = bearerToken(req.headers.authorization);
  const principal = token ? await services.sessions.authenticate(em, token) : null;
  return { em, principal, clientAddress: req.ip ?? req.socket.remoteAddress ?? null, services, loaders: new Map() };
}
