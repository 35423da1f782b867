// The sign-in and 2FA flows of FLOWS.md sections 3 and 4: login, TOTP verification, account
// activation through e-mail or the reseller portal, password reset and TOTP enrolment.
import type { EntityManager } from '@mikro-orm/core';
import type { Config } from '../../config';
import { SessionStage, TwoFactorActivationMethod } from '../../common/enums';
import { badInput, forbidden, rateLimited, unauthenticated } from '../../errors';
import { auditScopeOfUser, recordAudit } from '../audit/audit.service';
import type { Background } from '../../common/background';
import type { Mailer } from '../mail/mailer';
import type { Metrics } from '../../metrics';
import { User } from '../users/user.entity';
import { AccountToken, AccountTokenPurpose } from './account-token.entity';
import { ACCOUNT_TOKEN_TTL_MS, AccountTokenService } from './account-token.service';
import { AttemptLimiter } from './attempt-limiter';
import { assertAcceptablePassword, dummyPasswordHash, hashPassword, needsRehash, verifyPassword } from './password';
import { isResellerPortal, type Principal } from './principal';
import { SecretBox } from './secrets';
import { SessionService } from './session.service';
import { generateTotpSecret, isWellFormedCode, matchTotp, otpauthUrl, qrCodeDataUrl } from './totp';

export interface LoginResult {
  token: string;
  stage: SessionStage;
  twoFactorActivation: TwoFactorActivationMethod | null;
}

export interface TwoFactorSetupResult {
  setupToken: string;
  secret: string;
  otpauthUrl: string;
  qrCodeDataUrl: string;
  alreadyEnrolled: boolean;
}

export interface RequestMeta {
  clientAddress: string | null;
}

const MAX_EMAIL_LENGTH = 254;
const EMAIL_SHAPE = /^[^\s@<>(),;:"\\[\]]+@[^\s@<>(),;:"\\[\]]+\.[^\s@<>(),;:"\\[\]]+$/;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** A normalised, plausible e-mail address, or BAD_USER_INPUT naming the field. */
export function validEmail(email: string, field = 'email'): string {
  const normalized = normalizeEmail(email);
  if (normalized.length > MAX_EMAIL_LENGTH || !EMAIL_SHAPE.test(normalized)) {
    throw badInput('This is not a valid e-mail address.', field);
  }
  return normalized;
}

export class AuthService {
  constructor(
    private readonly config: Pick<Config, 'production' | 'publicUrl' | 'resellerPortalUrl' | 'totpIssuer'>,
    private readonly box: SecretBox,
    private readonly mailer: Mailer,
    private readonly background: Background,
    private readonly limiter: AttemptLimiter,
    private readonly sessions: SessionService,
    private readonly accountTokens: AccountTokenService,
    private readonly metrics: Pick<Metrics, 'loginFailures' | 'totpFailures'>,
  ) {}

  /**
   * How an account without 2FA activates it: through the reseller portal when the account is linked and a
   * reseller portal is configured (outside production the built-in page stands in), else by e-mail.
   */
  activationMethodOf(user: Pick<User, 'linkedToResellerPortal'>): TwoFactorActivationMethod {
    return user.linkedToResellerPortal && this.config.resellerPortalUrl !== null
      ? TwoFactorActivationMethod.RESELLER_PORTAL
      : TwoFactorActivationMethod.EMAIL;
  }

  resetLink(token: string): string {
    return `${this.config.publicUrl}/reset-password?token=${encodeURIComponent(token)}`;
  }

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
    const valid = user?.passwordHash
      ? await verifyPassword(password, user.passwordHash)
      : (await verifyPassword(password, await dummyPasswordHash())) && false;

    if (!user || !valid) {
      this.metrics.loginFailures.inc();
      await Promise.all([address.fail(), accountAttempt.fail()]);
      const scope = user ? await auditScopeOfUser(em, user) : { resellerId: null, customerId: null };
      recordAudit(em, {
        action: 'LOGIN_FAILED',
        actorId: user?.id ?? null,
        targetType: user ? 'User' : null,
        targetId: user?.id ?? null,
        ...scope,
        clientAddress: meta.clientAddress,
      });
      await em.flush();
      throw unauthenticated('Wrong e-mail address or password.');
    }
    await Promise.all([accountAttempt.succeed(true), address.succeed(false)]);
    if (needsRehash(user.passwordHash!)) {
      // Compare-and-set: a password changed meanwhile is not overwritten with this one.
      await em.nativeUpdate(User, { id: user.id, passwordHash: user.passwordHash }, { passwordHash: await hashPassword(password) });
    }

    if (!user.twoFactorEnabled) {
      const token = this.sessions.create(em, user.id, SessionStage.TWO_FACTOR_SETUP_REQUIRED);
      await em.flush();
      return {
        token,
        stage: SessionStage.TWO_FACTOR_SETUP_REQUIRED,
        twoFactorActivation: this.activationMethodOf(user),
      };
    }

    if (totpCode !== null && totpCode !== undefined) {
      await this.verifyCode(em, user, totpCode, meta);
      return this.completeSignIn(em, user, meta);
    }
    const token = this.sessions.create(em, user.id, SessionStage.TOTP_REQUIRED);
    await em.flush();
    return { token, stage: SessionStage.TOTP_REQUIRED, twoFactorActivation: null };
  }

  async verifyTotp(em: EntityManager, principal: Principal, code: string, meta: RequestMeta): Promise<LoginResult> {
    const user = await em.findOneOrFail(User, principal.userId, { populate: ['totpSecretSealed'] });
    await this.verifyCode(em, user, code, meta);
    // The limited token dies with the stage change: a new token for the new stage.
    return this.completeSignIn(em, user, meta, principal.credentialId);
  }

  private async completeSignIn(em: EntityManager, user: User, meta: RequestMeta, replacesSessionId?: string): Promise<LoginResult> {
    const scope = await auditScopeOfUser(em, user);
    const token = await em.transactional(async (tx) => {
      // The limited session is spent once: of concurrent verifyTotp calls on it only one gets a session.
      if (replacesSessionId) await this.sessions.spend(tx, replacesSessionId, SessionStage.TOTP_REQUIRED);
      const token = this.sessions.create(tx, user.id, SessionStage.AUTHENTICATED);
      recordAudit(tx, { action: 'LOGIN_SUCCEEDED', actorId: user.id, targetType: 'User', targetId: user.id, ...scope, clientAddress: meta.clientAddress });
      return token;
    });
    return { token, stage: SessionStage.AUTHENTICATED, twoFactorActivation: null };
  }

  /**
   * Checks a TOTP code for an enrolled user against the per-user limit, and records its step so that it
   * cannot be used again. Malformed codes are BAD_USER_INPUT, wrong/stale/replayed ones UNAUTHENTICATED;
   * both count as failures.
   */
  private async verifyCode(em: EntityManager, user: User, code: string, meta: RequestMeta, secretSealed = user.totpSecretSealed): Promise<void> {
    const attempt = await this.limiter.reserve(em, 'TOTP_USER', user.id);
    const fail = async (error: Error) => {
      this.metrics.totpFailures.inc();
      await attempt.fail();
      const scope = await auditScopeOfUser(em, user);
      recordAudit(em, { action: 'TOTP_FAILED', actorId: user.id, targetType: 'User', targetId: user.id, ...scope, clientAddress: meta.clientAddress });
      await em.flush();
      return error;
    };
    if (!isWellFormedCode(code)) throw await fail(badInput('The code must be exactly 6 digits.', 'code'));
    if (!secretSealed) throw await fail(unauthenticated('Wrong or expired code.'));
    const step = matchTotp(this.box.open(secretSealed, user.id), code, user.totpLastStep);
    // The step is recorded atomically: of two concurrent uses of one code, only one wins.
    const claimed =
      step !== null &&
      (await em.nativeUpdate(User, { id: user.id, $or: [{ totpLastStep: null }, { totpLastStep: { $lt: step } }] }, { totpLastStep: step })) === 1;
    if (!claimed) throw await fail(unauthenticated('Wrong or expired code.'));
    user.totpLastStep = step;
    await attempt.succeed(true);
  }

  async requestTwoFactorActivation(
    em: EntityManager,
    principal: Principal,
  ): Promise<{ method: TwoFactorActivationMethod; redirectUrl: string | null }> {
    const user = await em.findOneOrFail(User, principal.userId);
    const mail = await this.limiter.reserve(em, 'MAIL_USER', user.id).catch(() => {
      throw rateLimited('Too many activation requests. Try again later.');
    });
    if (this.activationMethodOf(user) === TwoFactorActivationMethod.RESELLER_PORTAL) {
      const token = await this.accountTokens.issue(em, user.id, AccountTokenPurpose.TWO_FACTOR_ACTIVATION);
      recordAudit(em, { action: 'TWO_FACTOR_ACTIVATION_REQUESTED', actorId: user.id, targetType: 'User', targetId: user.id, ...(await auditScopeOfUser(em, user)) });
      await em.flush();
      await mail.fail();
      const url = new URL(this.config.resellerPortalUrl!);
      url.searchParams.set('token', token);
      return { method: TwoFactorActivationMethod.RESELLER_PORTAL, redirectUrl: url.toString() };
    }
    const token = await this.accountTokens.issue(em, user.id, AccountTokenPurpose.PASSWORD_RESET);
    recordAudit(em, { action: 'TWO_FACTOR_ACTIVATION_REQUESTED', actorId: user.id, targetType: 'User', targetId: user.id, ...(await auditScopeOfUser(em, user)) });
    await em.flush();
    await mail.fail();
    this.mailer.sendLater({
      to: user.email,
      subject: `Activate two-factor authentication for the ${this.config.totpIssuer}`,
      template: 'two-factor-activation',
      vars: { name: user.name, link: this.resetLink(token), expiresHours: ACCOUNT_TOKEN_TTL_MS.PASSWORD_RESET / 3_600_000 },
    });
    return { method: TwoFactorActivationMethod.EMAIL, redirectUrl: null };
  }

  /**
   * Always answers alike: the lookup, the token and the e-mail happen after the response, so neither
   * the answer nor its timing tells whether the address has an account.
   */
  requestPasswordReset(em: EntityManager, email: string, meta: RequestMeta): void {
    const address = validEmail(email);
    const work = em.fork();
    this.background.run('password-reset', async () => {
      const user = await work.findOne(User, { email: address });
      if (!user) return;
      const mail = await this.limiter.reserve(work, 'MAIL_USER', user.id).catch(() => null);
      if (!mail) return; // limit reached: silently send nothing
      const token = await this.accountTokens.issue(work, user.id, AccountTokenPurpose.PASSWORD_RESET);
      recordAudit(work, { action: 'PASSWORD_RESET_REQUESTED', targetType: 'User', targetId: user.id, ...(await auditScopeOfUser(work, user)), clientAddress: meta.clientAddress });
      await work.flush();
      await mail.fail();
      await this.mailer.send({
        to: user.email,
        subject: `Reset your ${this.config.totpIssuer} password`,
        template: 'password-reset',
        vars: { name: user.name, link: this.resetLink(token), expiresHours: ACCOUNT_TOKEN_TTL_MS.PASSWORD_RESET / 3_600_000 },
      });
    });
  }

  /** Creates the invitation token for a new account (inside the caller's unit of work) and returns its link. */
  async issueInvitation(em: EntityManager, userId: string): Promise<string> {
    return this.resetLink(await this.accountTokens.issue(em, userId, AccountTokenPurpose.INVITATION));
  }

  sendInvitation(user: User, link: string): void {
    this.mailer.sendLater({
      to: user.email,
      subject: `Your ${this.config.totpIssuer} account`,
      template: 'invitation',
      vars: { name: user.name, link, expiresHours: ACCOUNT_TOKEN_TTL_MS.INVITATION / 3_600_000 },
    });
  }

  async resetPassword(em: EntityManager, token: string, newPassword: string, meta: RequestMeta): Promise<TwoFactorSetupResult> {
    const row = await this.accountTokens.find(em, token, [AccountTokenPurpose.INVITATION, AccountTokenPurpose.PASSWORD_RESET], 'token');
    const user = row.user.getEntity();
    assertAcceptablePassword(newPassword, user.email);
    const passwordHash = await hashPassword(newPassword);
    const hadPassword = user.passwordHash !== null;
    const alreadyEnrolled = user.twoFactorEnabled && user.totpSecretSealed !== null;
    const secretSealed = alreadyEnrolled ? user.totpSecretSealed! : this.box.seal(generateTotpSecret(), user.id);
    const scope = await auditScopeOfUser(em, user);

    const setupToken = await em.transactional(async (tx) => {
      await this.accountTokens.claim(tx, row, 'token');
      await tx.nativeUpdate(User, { id: user.id }, { passwordHash });
      // A password reset ends every session and API token of the account and voids every other
      // outstanding link or setup token (the new setup token below is issued after).
      await this.sessions.revokeAllFor(tx, user.id);
      recordAudit(tx, { action: 'PASSWORD_CHANGED', actorId: user.id, targetType: 'User', targetId: user.id, ...scope, clientAddress: meta.clientAddress });
      if (alreadyEnrolled) {
        recordAudit(tx, { action: 'TWO_FACTOR_SECRET_DISPLAYED', actorId: user.id, targetType: 'User', targetId: user.id, ...scope, clientAddress: meta.clientAddress });
      }
      return this.accountTokens.issue(tx, user.id, AccountTokenPurpose.TOTP_SETUP, { secretSealed, alreadyEnrolled });
    });

    if (hadPassword || alreadyEnrolled) {
      this.mailer.sendLater({
        to: user.email,
        subject: `Your ${this.config.totpIssuer} password was changed`,
        template: 'password-changed',
        vars: { name: user.name, changedAt: new Date().toUTCString(), secretShownAgain: alreadyEnrolled },
      });
    }
    return this.setupResult(user, setupToken, secretSealed, alreadyEnrolled);
  }

  /**
   * Redeems a reseller-portal activation token. Only the reseller portal may (FLOWS.md section 8): the
   * request must carry its RESELLER_PORTAL API token, or come from the built-in page standing in for it
   * outside production. Otherwise FORBIDDEN before the token is even looked up, so it stays unused and a
   * password alone never yields a session.
   */
  async beginTwoFactorSetup(em: EntityManager, token: string, redeemer: Principal | null | 'built-in-page'): Promise<TwoFactorSetupResult> {
    const trusted = redeemer === 'built-in-page' ? !this.config.production : isResellerPortal(redeemer);
    if (!trusted) throw forbidden('Reseller-portal activation tokens are redeemed by the reseller portal.');
    const row = await this.accountTokens.find(em, token, [AccountTokenPurpose.TWO_FACTOR_ACTIVATION], 'token');
    const user = row.user.getEntity();
    if (user.twoFactorEnabled) throw badInput('Two-factor authentication is already active for this account.', 'token', 'ALREADY_ACTIVE');
    const secretSealed = this.box.seal(generateTotpSecret(), user.id);
    const setupToken = await em.transactional(async (tx) => {
      await this.accountTokens.claim(tx, row, 'token');
      return this.accountTokens.issue(tx, user.id, AccountTokenPurpose.TOTP_SETUP, { secretSealed, alreadyEnrolled: false });
    });
    return this.setupResult(user, setupToken, secretSealed, false);
  }

  private async setupResult(user: User, setupToken: string, secretSealed: string, alreadyEnrolled: boolean): Promise<TwoFactorSetupResult> {
    const secret = this.box.open(secretSealed, user.id);
    const url = otpauthUrl(secret, user.email, this.config.totpIssuer);
    return { setupToken, secret, otpauthUrl: url, qrCodeDataUrl: await qrCodeDataUrl(url), alreadyEnrolled };
  }

  async activateTwoFactor(em: EntityManager, setupToken: string, code: string, meta: RequestMeta): Promise<boolean> {
    const row: AccountToken = await this.accountTokens.find(em, setupToken, [AccountTokenPurpose.TOTP_SETUP], 'setupToken');
    const user = row.user.getEntity();
    // The code is checked against the secret being enrolled, with the same limits and replay rule as sign-in.
    await this.verifyCode(em, user, code, meta, row.secretSealed);
    const scope = await auditScopeOfUser(em, user);
    await em.transactional(async (tx) => {
      await this.accountTokens.claim(tx, row, 'setupToken');
      await tx.nativeUpdate(User, { id: user.id }, { totpSecretSealed: row.secretSealed, twoFactorEnabled: true });
      // Sessions that were waiting for 2FA setup are of no further use.
      await tx.nativeDelete('Session', { user: user.id, stage: SessionStage.TWO_FACTOR_SETUP_REQUIRED });
      recordAudit(tx, {
        action: row.alreadyEnrolled ? 'TWO_FACTOR_CONFIRMED' : 'TWO_FACTOR_ACTIVATED',
        actorId: user.id,
        targetType: 'User',
        targetId: user.id,
        ...scope,
        clientAddress: meta.clientAddress,
      });
    });
    return true;
  }

  async logout(em: EntityManager, principal: Principal): Promise<boolean> {
    await em.nativeDelete('Session', { id: principal.credentialId });
    return true;
  }
}
