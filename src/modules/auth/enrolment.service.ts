// TOTP enrolment (FLOWS.md sections 3 and 8): "Enable 2FA" for an account without it (by e-mail or
// through the reseller portal), the reseller portal's redemption of its activation token, and the
// confirmation of a secret with a first code.
import type { EntityManager } from '@mikro-orm/core';
import type { Config } from '../../config';
import { SessionStage, TwoFactorActivationMethod } from '../../common/enums';
import { badInput, forbidden, rateLimited } from '../../errors';
import type { Mailer } from '../mail/mailer';
import type { Locale } from '../../common/locale';
import { audit, AuditAction, changesOf, target } from '../audit/audit.service';
import { User } from '../users/user.entity';
import { AccountToken, AccountTokenPurpose } from './account-token.entity';
import { ACCOUNT_TOKEN_TTL_MS, resetLink, type AccountTokenService } from './account-token.service';
import type { AttemptLimiter } from './attempt-limiter';
import { isResellerPortal, type Principal } from './principal';
import type { SecretBox } from './secrets';
import type { RecoveryCodeService } from './recovery-codes.service';
import type { RequestMeta, TotpCheck } from './totp-check';
import { generateTotpSecret, otpauthUrl, qrCodeDataUrl } from './totp';

export interface TwoFactorSetupResult {
  setupToken: string;
  secret: string;
  otpauthUrl: string;
  qrCodeDataUrl: string;
  alreadyEnrolled: boolean;
  /** A fresh secret for an account with 2FA enrolled (TOTP_SECRET_REDISPLAY=never): the old one works until this is confirmed. */
  replacesEnrolled: boolean;
}

export class EnrolmentService {
  constructor(
    private readonly config: Pick<Config, 'production' | 'publicUrl' | 'resellerPortalUrl' | 'totpIssuer'>,
    private readonly box: SecretBox,
    private readonly mailer: Mailer,
    private readonly limiter: AttemptLimiter,
    private readonly accountTokens: AccountTokenService,
    private readonly totp: TotpCheck,
    private readonly recoveryCodes: Pick<RecoveryCodeService, 'discard'>,
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

  /** "Enable 2FA" on a TWO_FACTOR_SETUP_REQUIRED session: a reseller-portal redirect or a reset e-mail. */
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
      await audit(em, AuditAction.TWO_FACTOR_ACTIVATION_REQUESTED, target.user(user), { actorId: user.id });
      await em.flush();
      await mail.fail();
      const url = new URL(this.config.resellerPortalUrl!);
      url.searchParams.set('token', token);
      return { method: TwoFactorActivationMethod.RESELLER_PORTAL, redirectUrl: url.toString() };
    }
    const token = await this.accountTokens.issue(em, user.id, AccountTokenPurpose.PASSWORD_RESET);
    await audit(em, AuditAction.TWO_FACTOR_ACTIVATION_REQUESTED, target.user(user), { actorId: user.id });
    await em.flush();
    await mail.fail();
    this.mailer.sendLater({
      to: user.email,
      locale: user.locale,
      template: 'two-factor-activation',
      vars: {
        name: user.name,
        link: resetLink(this.config.publicUrl, token),
        expiresHours: ACCOUNT_TOKEN_TTL_MS.PASSWORD_RESET / 3_600_000,
      },
    });
    return { method: TwoFactorActivationMethod.EMAIL, redirectUrl: null };
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

  /** What the user scans and types: the secret, its otpauth URL and QR code, and the token to confirm it. */
  async setupResult(
    user: User,
    setupToken: string,
    secretSealed: string,
    alreadyEnrolled: boolean,
    replacesEnrolled = false,
  ): Promise<TwoFactorSetupResult> {
    const secret = this.box.open(secretSealed, user.id);
    const url = otpauthUrl(secret, user.email, this.config.totpIssuer);
    return { setupToken, secret, otpauthUrl: url, qrCodeDataUrl: await qrCodeDataUrl(url), alreadyEnrolled, replacesEnrolled };
  }

  /**
   * `locale`: the language of the pages 2FA was activated on (setup.routes.ts), kept as the account's
   * locale; the GraphQL mutation passes none and leaves the locale as it is.
   */
  async activateTwoFactor(
    em: EntityManager,
    setupToken: string,
    code: string,
    meta: RequestMeta,
    locale: Locale | null = null,
  ): Promise<boolean> {
    const row: AccountToken = await this.accountTokens.find(em, setupToken, [AccountTokenPurpose.TOTP_SETUP], 'setupToken');
    const user = row.user.getEntity();
    const newLocale = locale !== null && locale !== user.locale ? locale : null;
    // The code is checked against the secret being enrolled, with the same limits and replay rule as sign-in.
    await this.totp.verify(em, user, code, meta, row.secretSealed);
    await em.transactional(async (tx) => {
      await this.accountTokens.claim(tx, row, 'setupToken');
      await tx.nativeUpdate(
        User,
        { id: user.id },
        { totpSecretSealed: row.secretSealed, twoFactorEnabled: true, ...(newLocale ? { locale: newLocale } : {}) },
      );
      // Sessions that were waiting for 2FA setup are of no further use.
      await tx.nativeDelete('Session', { user: user.id, stage: SessionStage.TWO_FACTOR_SETUP_REQUIRED });
      // A fresh enrolment (not the confirmation of the enrolled secret) discards the recovery codes.
      if (!row.alreadyEnrolled) await this.recoveryCodes.discard(tx, user.id);
      const action = row.alreadyEnrolled ? AuditAction.TWO_FACTOR_CONFIRMED : AuditAction.TWO_FACTOR_ACTIVATED;
      await audit(
        tx,
        action,
        target.user(user),
        { actorId: user.id, clientAddress: meta.clientAddress },
        { changes: newLocale ? changesOf(user, { locale: newLocale }) : {} },
      );
    });
    return true;
  }
}
