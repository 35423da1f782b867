// Who is calling: resolved once per request from the bearer token.
import { Role, SessionStage } from '../../common/enums';

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
}

/** A principal whose password and TOTP are verified: the only kind the role-scoped schema serves. */
export type AuthenticatedPrincipal = Principal & { stage: SessionStage.AUTHENTICATED };

export function isAuthenticated(p: Principal | null): p is AuthenticatedPrincipal {
  return p !== null && p.stage === SessionStage.AUTHENTICATED;
}
