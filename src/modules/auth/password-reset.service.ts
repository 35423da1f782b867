// Passwords by e-mail link (FLOWS.md section 3): the reset request, the invitation of a new account, and
// the reset itself, which sets the password, revokes every credential and leads to TOTP enrolment.
import type { EntityManager } from '@mikro-orm/core';
import type { Config } from '../../config';
import type { Background } from '../../common/background';
import type { Mailer } from '../mail/mailer';
import type { Locale } from '../../common/locale';
import { audit, AuditAction, changesOf, target } from '../audit/audit.service';
import { User } from '../users/user.entity';
import { AccountTokenPurpose } from './account-token.entity';
import { ACCOUNT_TOKEN_TTL_MS, resetLink, type AccountTokenService } from './account-token.service';
import type { AttemptLimiter } from './attempt-limiter';
import { validEmail } from './email-address';
import type { EnrolmentService, TwoFactorSetupResult } from './enrolment.service';
import { assertAcceptablePassword, hashPassword } from './password';
import type { SecretBox } from './secrets';
import type { SessionService } from './session.service';
import type { RequestMeta } from './totp-check';
import { generateTotpSecret } from './totp';

export class PasswordResetService {
  constructor(
    private readonly config: Pick<Config, 'publicUrl' | 'totpIssuer' | 'totpSecretRedisplay'>,
    private readonly box: SecretBox,
    private readonly mailer: Mailer,
    private readonly background: Background,
    private readonly limiter: AttemptLimiter,
    private readonly sessions: SessionService,
    private readonly accountTokens: AccountTokenService,
    private readonly enrolment: Pick<EnrolmentService, 'setupResult'>,
  ) {}

  /**
   * Always answers alike: the lookup, the token and the e-mail happen after the response, so neither
   * the answer nor its timing tells whether the address has an account.
   */
  requestPasswordReset(em: EntityManager, email: string, meta: RequestMeta): void {
    const address = validEmail(email);
    const work = em.fork();
    this.background.run('password-reset', async () => {
      // A deactivated account gets nothing, exactly like an unknown address.
      const user = await work.findOne(User, { email: address, active: true });
      if (!user) return;
      const mail = await this.limiter.reserve(work, 'MAIL_USER', user.id).catch(() => null);
      if (!mail) return; // limit reached: silently send nothing
      const token = await this.accountTokens.issue(work, user.id, AccountTokenPurpose.PASSWORD_RESET);
      await audit(work, AuditAction.PASSWORD_RESET_REQUESTED, target.user(user), { actorId: null, clientAddress: meta.clientAddress });
      await work.flush();
      await mail.fail();
      await this.mailer.send({
        to: user.email,
        locale: user.locale,
        template: 'password-reset',
        vars: {
          name: user.name,
          link: resetLink(this.config.publicUrl, token),
          expiresHours: ACCOUNT_TOKEN_TTL_MS.PASSWORD_RESET / 3_600_000,
        },
      });
    });
  }

  /** Creates the invitation token for a new account (inside the caller's unit of work) and returns its link. */
  async issueInvitation(em: EntityManager, userId: string): Promise<string> {
    return resetLink(this.config.publicUrl, await this.accountTokens.issue(em, userId, AccountTokenPurpose.INVITATION));
  }

  sendInvitation(user: User, link: string): void {
    this.mailer.sendLater({
      to: user.email,
      locale: user.locale,
      template: 'invitation',
      vars: { name: user.name, link, expiresHours: ACCOUNT_TOKEN_TTL_MS.INVITATION / 3_600_000 },
    });
  }

  /**
   * `locale`: the language of the pages the password was set on (reset.routes.ts), kept as the account's
   * locale with the password; the GraphQL mutation passes none and leaves the locale as it is.
   */
  async resetPassword(
    em: EntityManager,
    token: string,
    newPassword: string,
    meta: RequestMeta,
    locale: Locale | null = null,
  ): Promise<TwoFactorSetupResult> {
    const row = await this.accountTokens.find(em, token, [AccountTokenPurpose.INVITATION, AccountTokenPurpose.PASSWORD_RESET], 'token');
    const user = row.user.getEntity();
    const newLocale = locale !== null && locale !== user.locale ? locale : null;
    assertAcceptablePassword(newPassword, user.email);
    const passwordHash = await hashPassword(newPassword);
    const hadPassword = user.passwordHash !== null;
    const enrolled = user.twoFactorEnabled && user.totpSecretSealed !== null;
    // TOTP_SECRET_REDISPLAY=never: an enrolled account gets a fresh secret to enrol; the enrolled one keeps
    // working until the new one is confirmed (activateTwoFactor replaces it).
    const alreadyEnrolled = enrolled && this.config.totpSecretRedisplay === 'always';
    const secretSealed = alreadyEnrolled ? user.totpSecretSealed! : this.box.seal(generateTotpSecret(), user.id);
    const setupToken = await em.transactional(async (tx) => {
      await this.accountTokens.claim(tx, row, 'token');
      await tx.nativeUpdate(User, { id: user.id }, { passwordHash, ...(newLocale ? { locale: newLocale } : {}) });
      // A password reset ends every session and API token of the account and voids every other
      // outstanding link or setup token (the new setup token below is issued after).
      await this.sessions.revokeAllFor(tx, user.id);
      const by = { actorId: user.id, clientAddress: meta.clientAddress };
      await audit(tx, AuditAction.PASSWORD_CHANGED, target.user(user), by, {
        changes: newLocale ? changesOf(user, { locale: newLocale }) : {},
      });
      if (alreadyEnrolled) await audit(tx, AuditAction.TWO_FACTOR_SECRET_DISPLAYED, target.user(user), by);
      return this.accountTokens.issue(tx, user.id, AccountTokenPurpose.TOTP_SETUP, { secretSealed, alreadyEnrolled });
    });

    if (newLocale) user.locale = newLocale;
    if (hadPassword || enrolled) {
      this.mailer.sendLater({
        to: user.email,
        locale: user.locale,
        template: 'password-changed',
        vars: { name: user.name, changedAt: new Date(), secretShownAgain: alreadyEnrolled },
      });
    }
    return this.enrolment.setupResult(user, setupToken, secretSealed, alreadyEnrolled, enrolled && !alreadyEnrolled);
  }
}
