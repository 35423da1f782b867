// Sign-in (FLOWS.md sections 3 and 4): password, then TOTP, with the per-account and per-address
// limits; the limited sessions of each stage; logout.
import type { EntityManager } from '@mikro-orm/core';
import { SessionStage, TwoFactorActivationMethod } from '../../common/enums';
import { unauthenticated } from '../../errors';
import type { Metrics } from '../../metrics';
import { audit, AuditAction, target } from '../audit/audit.service';
import { Reseller } from '../resellers/reseller.entity';
import { RESELLER_SUSPENDED, resellerSuspended } from '../resellers/reseller-suspension';
import { User } from '../users/user.entity';
import type { AttemptLimiter } from './attempt-limiter';
import { MAX_EMAIL_LENGTH, normalizeEmail } from './email-address';
import type { EnrolmentService } from './enrolment.service';
import { dummyPasswordHash, hashPassword, needsRehash, verifyPassword } from './password';
import type { Principal } from './principal';
import type { RecoveryCodeService } from './recovery-codes.service';
import type { SessionService } from './session.service';
import type { RequestMeta, TotpCheck } from './totp-check';

export interface LoginResult {
  token: string;
  stage: SessionStage;
  twoFactorActivation: TwoFactorActivationMethod | null;
}

export class SignInService {
  constructor(
    private readonly limiter: AttemptLimiter,
    private readonly sessions: SessionService,
    private readonly totp: TotpCheck,
    private readonly enrolment: Pick<EnrolmentService, 'activationMethodOf'>,
    private readonly metrics: Pick<Metrics, 'loginFailures'>,
    private readonly recoveryCodes: Pick<RecoveryCodeService, 'redeem'>,
  ) {}

  async login(em: EntityManager, email: string, password: string, totpCode: string | null, meta: RequestMeta): Promise<LoginResult> {
    const account = normalizeEmail(email).slice(0, MAX_EMAIL_LENGTH);
    const address = await this.limiter.reserve(em, 'LOGIN_ADDRESS', meta.clientAddress ?? 'unknown');
    let accountAttempt;
    try {
      accountAttempt = await this.limiter.reserve(em, 'LOGIN_ACCOUNT', account);
    } catch (error) {
      await address.succeed(false);
      throw error;
    }

    const user = await em.findOne(User, { email: account }, { populate: ['passwordHash', 'totpSecretSealed'] });
    // Unknown accounts and accounts without a password cost one hash too: timing reveals nothing.
    // A deactivated account fails exactly like a wrong password: same answer, same hash work, same counters.
    const valid = user?.passwordHash
      ? (await verifyPassword(password, user.passwordHash)) && user.active
      : (await verifyPassword(password, await dummyPasswordHash())) && false;

    if (!user || !valid) {
      this.metrics.loginFailures.inc();
      await Promise.all([address.fail(), accountAttempt.fail()]);
      await audit(em, AuditAction.LOGIN_FAILED, user ? target.user(user) : null, {
        actorId: user?.id ?? null,
        clientAddress: meta.clientAddress,
      });
      await em.flush();
      throw unauthenticated('Wrong e-mail address or password.');
    }
    await Promise.all([accountAttempt.succeed(true), address.succeed(false)]);
    // The right password of a suspended reseller's user: told why, and no session of any stage.
    await this.refuseSuspendedReseller(em, user, meta);
    if (needsRehash(user.passwordHash!)) {
      // Compare-and-set: a password changed meanwhile is not overwritten with this one.
      await em.nativeUpdate(User, { id: user.id, passwordHash: user.passwordHash }, { passwordHash: await hashPassword(password) });
    }

    if (!user.twoFactorEnabled) {
      const token = this.sessions.create(em, user.id, SessionStage.TWO_FACTOR_SETUP_REQUIRED);
      await em.flush();
      return { token, stage: SessionStage.TWO_FACTOR_SETUP_REQUIRED, twoFactorActivation: this.enrolment.activationMethodOf(user) };
    }

    if (totpCode !== null && totpCode !== undefined) {
      await this.totp.verify(em, user, totpCode, meta);
      return this.completeSignIn(em, user, meta);
    }
    const token = this.sessions.create(em, user.id, SessionStage.TOTP_REQUIRED);
    await em.flush();
    return { token, stage: SessionStage.TOTP_REQUIRED, twoFactorActivation: null };
  }

  /** FORBIDDEN with reason RESELLER_SUSPENDED for a user of a suspended reseller (FLOWS.md section 9). */
  private async refuseSuspendedReseller(em: EntityManager, user: User, meta: RequestMeta): Promise<void> {
    if (!user.reseller) return;
    const reseller = await em.findOne(Reseller, user.reseller.id, { fields: ['suspendedAt'] });
    if (!reseller?.suspendedAt) return;
    await audit(
      em,
      AuditAction.LOGIN_FAILED,
      target.user(user),
      { actorId: user.id, clientAddress: meta.clientAddress },
      { reason: RESELLER_SUSPENDED },
    );
    await em.flush();
    throw resellerSuspended();
  }

  async verifyTotp(em: EntityManager, principal: Principal, code: string, meta: RequestMeta): Promise<LoginResult> {
    const user = await em.findOneOrFail(User, principal.userId, { populate: ['totpSecretSealed'] });
    await this.totp.verify(em, user, code, meta);
    // The limited token dies with the stage change: a new token for the new stage.
    return this.completeSignIn(em, user, meta, principal.credentialId);
  }

  /** A recovery code instead of a TOTP code on a TOTP_REQUIRED session (FLOWS.md section 11). */
  async verifyRecoveryCode(em: EntityManager, principal: Principal, code: string, meta: RequestMeta): Promise<LoginResult> {
    const user = await em.findOneOrFail(User, principal.userId);
    const token = await this.recoveryCodes.redeem(em, user, code, meta, (tx) => this.signInWithin(tx, user, meta, principal.credentialId));
    return { token, stage: SessionStage.AUTHENTICATED, twoFactorActivation: null };
  }

  private async completeSignIn(em: EntityManager, user: User, meta: RequestMeta, replacesSessionId?: string): Promise<LoginResult> {
    const token = await em.transactional((tx) => this.signInWithin(tx, user, meta, replacesSessionId));
    return { token, stage: SessionStage.AUTHENTICATED, twoFactorActivation: null };
  }

  /** The AUTHENTICATED session, created in the caller's transaction (spending the limited one it replaces). */
  private async signInWithin(tx: EntityManager, user: User, meta: RequestMeta, replacesSessionId?: string): Promise<string> {
    // The limited session is spent once: of concurrent verifyTotp calls on it only one gets a session.
    if (replacesSessionId) await this.sessions.spend(tx, replacesSessionId, SessionStage.TOTP_REQUIRED);
    const token = this.sessions.create(tx, user.id, SessionStage.AUTHENTICATED);
    await audit(tx, AuditAction.LOGIN_SUCCEEDED, target.user(user), { actorId: user.id, clientAddress: meta.clientAddress });
    return token;
  }

  async logout(em: EntityManager, principal: Principal): Promise<boolean> {
    await em.nativeDelete('Session', { id: principal.credentialId });
    return true;
  }
}
