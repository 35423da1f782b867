// Typed access to the principal inside resolvers. The shield map has already admitted the call; these
// guards only narrow the type (and fail closed if a rule were ever missing).
import type { Context } from '../context';
import { unauthenticated } from '../errors';
import { isAuthenticated, type AuthenticatedPrincipal, type Principal } from '../modules/auth/principal';

export function requirePrincipal(ctx: Context): Principal {
  if (!ctx.principal) throw unauthenticated();
  return ctx.principal;
}

export function requireAuthenticated(ctx: Context): AuthenticatedPrincipal {
  if (!isAuthenticated(ctx.principal)) throw unauthenticated();
  return ctx.principal;
}
