// Sessions: created per sign-in stage, resolved from bearer tokens, ended on logout, password change
// and 2FA reset. Idle timeout 30 minutes, absolute 12 hours; limited stages live 10 minutes.
import type { EntityManager } from '@mikro-orm/core';
import { Role, SessionStage } from '../../common/enums';
import type { Reader } from '../../db/reader';
import { readBoolean, readTime, sql } from '../../db/sql';
import { bearerChallenge, unauthenticated } from '../../errors';
import { ApiToken } from '../api-tokens/api-token.entity';
import { AccountToken } from './account-token.entity';
import { audit, AuditAction, target } from '../audit/audit.service';
import { User } from '../users/user.entity';
import type { Principal } from './principal';
import { hashToken, isWellFormedToken, newToken, TokenPrefix } from './secrets';
import { Session } from './session.entity';

export const IDLE_TIMEOUT_MS = 30 * 60 * 1000;
export const ABSOLUTE_TIMEOUT_MS = 12 * 60 * 60 * 1000;
export const LIMITED_STAGE_TIMEOUT_MS = 10 * 60 * 1000;
/** lastSeenAt / lastUsedAt are written at most this often, so reads stay reads. */
const TOUCH_INTERVAL_MS = 60 * 1000;

/**
 * A token that is malformed, unknown, expired or revoked: the client must sign in again. It answers like a
 * missing token (FLOWS.md section 13: HTTP 200 with UNAUTHENTICATED in `errors`, so that clients find the
 * code where they look for it), with the RFC 6750 challenge that names the token as the problem.
 */
export function invalidToken() {
  return bearerChallenge(unauthenticated('The token is invalid or has expired. Sign in again.'), 'Bearer error="invalid_token"');
}

interface SessionRow {
  id: string;
  stage: SessionStage;
  expires_at: Date | number;
  last_seen_at: Date | number;
  user_id: string;
  role: Role;
  reseller_id: string | null;
  customer_id: string | null;
  active: boolean | number;
  reseller_suspended_at: Date | number | null;
}

// Every request runs this: one joined row read as plain data (src/db/sql.ts), no entities. The user's
// state is read with it: a deactivation or suspension ends the sessions in its transaction, and a session
// created concurrently with it (a sign-in already past its checks) is refused here all the same.
const SESSION_SELECT =
  'select s.id, s.stage, s.expires_at, s.last_seen_at, u.id as user_id, u.role, u.reseller_id, u.customer_id,' +
  ' u.active, r.suspended_at as reseller_suspended_at' +
  ' from session s join app_user u on u.id = s.user_id left join reseller r on r.id = u.reseller_id where s.token_hash = ?';

/** May this account act at all: active, and not the user of a suspended reseller (FLOWS.md section 9)? */
export function accountMayAct(user: { active: boolean | number; resellerSuspendedAt: unknown }): boolean {
  return readBoolean(user.active) && (user.resellerSuspendedAt === null || user.resellerSuspendedAt === undefined);
}

export class SessionService {
  constructor(
    private readonly reader: Reader,
    private readonly now: () => number = Date.now,
  ) {}

  /** Creates a session (the caller flushes) and returns its bearer token, shown only now. */
  create(em: EntityManager, userId: string, stage: SessionStage): string {
    const token = newToken(TokenPrefix.session);
    const now = new Date(this.now());
    const lifetime = stage === SessionStage.AUTHENTICATED ? ABSOLUTE_TIMEOUT_MS : LIMITED_STAGE_TIMEOUT_MS;
    em.persist(
      em.create(Session, {
        tokenHash: hashToken(token),
        user: em.getReference(User, userId),
        stage,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: new Date(now.getTime() + lifetime),
      }),
    );
    return token;
  }

  /** The principal behind a bearer token; throws a 401-style UNAUTHENTICATED for anything invalid. */
  async authenticate(em: EntityManager, token: string, clientAddress: string | null = null): Promise<Principal> {
    if (isWellFormedToken(token, TokenPrefix.session)) return this.fromSession(em, token);
    if (isWellFormedToken(token, TokenPrefix.apiToken)) return this.fromApiToken(em, token, clientAddress);
    throw invalidToken();
  }

  private async fromSession(em: EntityManager, token: string): Promise<Principal> {
    const [session] = await this.reader.rows<SessionRow>(em, sql(SESSION_SELECT, hashToken(token)));
    const now = this.now();
    if (!session || !accountMayAct({ active: session.active, resellerSuspendedAt: session.reseller_suspended_at })) throw invalidToken();
    const lastSeen = readTime(session.last_seen_at).getTime();
    const idle = now - lastSeen > IDLE_TIMEOUT_MS;
    if (now >= readTime(session.expires_at).getTime() || idle) {
      await em.nativeDelete(Session, { id: session.id });
      throw invalidToken();
    }
    if (now - lastSeen > TOUCH_INTERVAL_MS) {
      await em.nativeUpdate(Session, { id: session.id }, { lastSeenAt: new Date(now) });
    }
    return {
      kind: 'session',
      credentialId: session.id,
      userId: session.user_id,
      role: session.role,
      resellerId: session.reseller_id ?? null,
      customerId: session.customer_id ?? null,
      stage: session.stage,
      purpose: null,
    };
  }

  private async fromApiToken(em: EntityManager, token: string, clientAddress: string | null): Promise<Principal> {
    const apiToken = await em.findOne(ApiToken, { tokenHash: hashToken(token), revokedAt: null }, { populate: ['user', 'user.reseller'] });
    const now = this.now();
    if (!apiToken || (apiToken.expiresAt && now >= apiToken.expiresAt.getTime())) throw invalidToken();
    const user = apiToken.user.getEntity();
    // An owner without 2FA (reset since) cannot act through a token either, nor a deactivated or suspended one.
    if (!user.twoFactorEnabled) throw invalidToken();
    if (!accountMayAct({ active: user.active, resellerSuspendedAt: user.reseller?.getEntity().suspendedAt ?? null })) throw invalidToken();
    if (!apiToken.lastUsedAt || now - apiToken.lastUsedAt.getTime() > TOUCH_INTERVAL_MS) {
      // Token use reaches the audit log at the same pace as lastUsedAt: at most once a minute per token.
      await em.fork().transactional(async (tx) => {
        // Compare-and-set on the value read: of concurrent requests only one moves lastUsedAt and records the use.
        const moved = await tx.nativeUpdate(ApiToken, { id: apiToken.id, lastUsedAt: apiToken.lastUsedAt }, { lastUsedAt: new Date(now) });
        if (moved === 1) {
          await audit(tx, AuditAction.API_TOKEN_USED, target.apiToken(apiToken.id, user), { actorId: user.id, clientAddress });
        }
      });
    }
    return {
      kind: 'apiToken',
      credentialId: apiToken.id,
      userId: user.id,
      role: user.role,
      resellerId: user.reseller?.id ?? null,
      customerId: user.customer?.id ?? null,
      stage: SessionStage.AUTHENTICATED,
      purpose: apiToken.purpose,
    };
  }

  /**
   * Revokes every credential of a user in the caller's transaction (FLOWS.md section 8, "Revocation is
   * complete"): sessions of every stage (optionally but one), API tokens, and every outstanding account
   * token (invitation, reset, TOTP setup, reseller-portal activation). The one lever for a 2FA reset, a
   * password reset, a password change (which keeps the current session and the API tokens), a deactivation
   * and a reseller's suspension (all its users at once), so that none of them forgets a kind.
   */
  async revokeAllFor(
    em: EntityManager,
    userId: string | readonly string[],
    options: { exceptSessionId?: string; keepApiTokens?: boolean } = {},
  ): Promise<void> {
    const users = typeof userId === 'string' ? [userId] : [...userId];
    if (users.length === 0) return;
    const user = users.length === 1 ? users[0]! : { $in: users };
    const now = new Date(this.now());
    await em.nativeDelete(Session, {
      user,
      ...(options.exceptSessionId ? { id: { $ne: options.exceptSessionId } } : {}),
    });
    if (!options.keepApiTokens) await em.nativeUpdate(ApiToken, { user, revokedAt: null }, { revokedAt: now });
    await em.nativeUpdate(AccountToken, { user, usedAt: null }, { usedAt: now });
  }

  /**
   * Spends a limited session (TOTP_REQUIRED) exactly once: of concurrent calls only the one whose delete
   * removed the row goes on; the others answer as for a dead token. Call inside the transaction that
   * creates the session replacing it.
   */
  async spend(em: EntityManager, sessionId: string, stage: SessionStage): Promise<void> {
    const deleted = await em.nativeDelete(Session, { id: sessionId, stage });
    if (deleted !== 1) throw invalidToken();
  }
}
