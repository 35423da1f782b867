// One TOTP check for every flow that takes a code (sign-in, verifyTotp, enrolment): the per-user attempt
// limit, the shape rule, the replay rule and the audit of failures (FLOWS.md sections 3 and 4).
import type { EntityManager } from '@mikro-orm/core';
import { badInput, unauthenticated } from '../../errors';
import type { Metrics } from '../../metrics';
import { audit, AuditAction, target } from '../audit/audit.service';
import { User } from '../users/user.entity';
import type { AttemptLimiter } from './attempt-limiter';
import type { SecretBox } from './secrets';
import { isWellFormedCode, matchTotp } from './totp';

/** Where a request came from, for the attempt limits and the audit log. */
export interface RequestMeta {
  clientAddress: string | null;
}

export class TotpCheck {
  constructor(
    private readonly box: SecretBox,
    private readonly limiter: AttemptLimiter,
    private readonly metrics: Pick<Metrics, 'totpFailures'>,
  ) {}

  /**
   * Checks a code against the user's secret (or the secret being enrolled) within the per-user limit,
   * and records its step so that it cannot be used again. Malformed codes are BAD_USER_INPUT,
   * wrong/stale/replayed ones UNAUTHENTICATED; both count as failures.
   */
  async verify(em: EntityManager, user: User, code: string, meta: RequestMeta, secretSealed = user.totpSecretSealed): Promise<void> {
    const attempt = await this.limiter.reserve(em, 'TOTP_USER', user.id);
    const fail = async (error: Error) => {
      this.metrics.totpFailures.inc();
      await attempt.fail();
      await audit(em, AuditAction.TOTP_FAILED, target.user(user), { actorId: user.id, clientAddress: meta.clientAddress });
      await em.flush();
      return error;
    };
    if (!isWellFormedCode(code)) throw await fail(badInput('The code must be exactly 6 digits.', 'code'));
    if (!secretSealed) throw await fail(unauthenticated('Wrong or expired code.'));
    const step = matchTotp(this.box.open(secretSealed, user.id), code, user.totpLastStep);
    // The step is recorded atomically: of two concurrent uses of one code, only one wins.
    const claimed =
      step !== null &&
      (await em.nativeUpdate(
        User,
        { id: user.id, $or: [{ totpLastStep: null }, { totpLastStep: { $lt: step } }] },
        { totpLastStep: step },
      )) === 1;
    if (!claimed) throw await fail(unauthenticated('Wrong or expired code.'));
    user.totpLastStep = step;
    await attempt.succeed(true);
  }
}
