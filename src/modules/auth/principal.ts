// Who is calling: resolved once per request from the bearer token.
import { ApiTokenPurpose, Role, SessionStage } from '../../common/enums';

export interface Principal {
  /** A sign-in session or an API token (which counts as 2FA-verified). */
  kind: 'session' | 'apiToken';
  /** The session's or API token's id. */
  credentialId: string;
  userId: string;
  role: Role;
  resellerId: string | null;
  customerId: string | null;
  stage: SessionStage;
  /** API tokens only: OWNER acts as its owner; RESELLER_PORTAL may only redeem activation tokens. Null for sessions. */
  purpose: ApiTokenPurpose | null;
}

/** A principal whose password and TOTP are verified: the only kind the role-scoped schema serves. */
export type AuthenticatedPrincipal = Principal & { stage: SessionStage.AUTHENTICATED };

/**
 * Password and TOTP verified, acting as a user. A reseller-portal API token is verified too but acts for
 * nobody: it may only redeem activation tokens, so it is not "authenticated" for the rest of the schema.
 */
export function isAuthenticated(p: Principal | null): p is AuthenticatedPrincipal {
  return p !== null && p.stage === SessionStage.AUTHENTICATED && p.purpose !== ApiTokenPurpose.RESELLER_PORTAL;
}

/** The reseller portal's server, calling with its RESELLER_PORTAL API token. */
export function isResellerPortal(p: Principal | null): boolean {
  return p !== null && p.kind === 'apiToken' && p.stage === SessionStage.AUTHENTICATED && p.purpose === ApiTokenPurpose.RESELLER_PORTAL;
}

/**
 * Who makes a change, as the services that serve both the API and the operator CLI take it: a signed-in
 * user (actorOf), or an operator at the command line, who acts with an admin's scope and is recorded in
 * the audit log as the system (actorId null).
 */
export interface Actor {
  role: Role;
  resellerId: string | null;
  customerId: string | null;
  /** The acting user; null for the operator CLI. */
  userId: string | null;
  clientAddress: string | null;
}

export function actorOf(p: AuthenticatedPrincipal, clientAddress: string | null): Actor {
  return { role: p.role, resellerId: p.resellerId, customerId: p.customerId, userId: p.userId, clientAddress };
}

export const OPERATOR: Actor = { role: Role.ADMIN, resellerId: null, customerId: null, userId: null, clientAddress: 'cli' };
