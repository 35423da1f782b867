// Changing one's own password while signed in (FLOWS.md section 9): an AUTHENTICATED session proves the
// current password and a fresh TOTP code; failures count in the sign-in and TOTP limits. The user's other
// sessions end and outstanding e-mailed links are void (API tokens stay); the user gets the notice.
import type { EntityManager } from '@mikro-orm/core';
import type { Config } from '../../config';
import { unauthenticated } from '../../errors';
import type { Metrics } from '../../metrics';
import type { Mailer } from '../mail/mailer';
import { audit, AuditAction, target } from '../audit/audit.service';
import { User } from '../users/user.entity';
import type { AttemptLimiter } from './attempt-limiter';
import { assertAcceptablePassword, hashPassword, verifyPassword } from './password';
import type { Principal } from './principal';
import type { SessionService } from './session.service';
import type { RequestMeta, TotpCheck } from './totp-check';

export class PasswordChangeService {
  constructor(
    private readonly config: Pick<Config, 'totpIssuer'>,
    private readonly mailer: Mailer,
    private readonly limiter: AttemptLimiter,
    private readonly sessions: SessionService,
    private readonly totp: TotpCheck,
    private readonly metrics: Pick<Metrics, 'loginFailures'>,
  ) {}

  async changePassword(
    em: EntityManager,
    principal: Principal,
    currentPassword: string,
    newPassword: string,
    totpCode: string,
    meta: RequestMeta,
  ): Promise<boolean> {
    const user = await em.findOneOrFail(User, principal.userId, { populate: ['passwordHash', 'totpSecretSealed'] });
    // The new password's rules first: a refused one spends no attempt and no TOTP code.
    assertAcceptablePassword(newPassword, user.email);
    // The current password counts like a sign-in of the account: ten failures lock it for 15 minutes.
    const attempt = await this.limiter.reserve(em, 'LOGIN_ACCOUNT', user.email);
    if (!user.passwordHash || !(await verifyPassword(currentPassword, user.passwordHash))) {
      this.metrics.loginFailures.inc();
      await attempt.fail();
      await audit(em, AuditAction.LOGIN_FAILED, target.user(user), { actorId: user.id, clientAddress: meta.clientAddress });
      await em.flush();
      throw unauthenticated('The current password is wrong.');
    }
    await attempt.succeed(true);
    await this.totp.verify(em, user, totpCode, meta);
    const passwordHash = await hashPassword(newPassword);
    await em.transactional(async (tx) => {
      await tx.nativeUpdate(User, { id: user.id }, { passwordHash });
      // Every other session ends and no e-mailed link can set the password any more; API tokens stay.
      await this.sessions.revokeAllFor(tx, user.id, { exceptSessionId: principal.credentialId, keepApiTokens: true });
      await audit(tx, AuditAction.PASSWORD_CHANGED, target.user(user), { actorId: user.id, clientAddress: meta.clientAddress });
    });
    this.mailer.sendLater({
      to: user.email,
      locale: user.locale,
      template: 'password-changed',
      vars: { name: user.name, changedAt: new Date(), secretShownAgain: false },
    });
    return true;
  }
}
