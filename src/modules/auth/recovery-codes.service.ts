// Recovery codes (FLOWS.md section 11): ten single-use codes that stand in for a TOTP code at sign-in,
// for a user who lost the phone. Generated with a fresh TOTP code, shown once, stored as scrypt hashes
// (one salt per set: checking a code costs one hash); each use is claimed atomically, counted in the
// per-user TOTP lockout, audited and e-mailed with the number left.
import type { EntityManager } from '@mikro-orm/core';
import { randomBytes, randomInt } from 'node:crypto';
import { badInput, unauthenticated } from '../../errors';
import type { Metrics } from '../../metrics';
import { audit, AuditAction, target } from '../audit/audit.service';
import { KEY_ALPHABET } from '../licenses/license-key';
import type { Mailer } from '../mail/mailer';
import { User } from '../users/user.entity';
import type { AttemptLimiter } from './attempt-limiter';
import { hashWithSalt, saltOf, sameHash } from './password';
import type { AuthenticatedPrincipal } from './principal';
import { RecoveryCode } from './recovery-code.entity';
import type { RequestMeta, TotpCheck } from './totp-check';

export const RECOVERY_CODE_COUNT = 10;
/** Four groups of four characters of a 32-letter alphabet: 80 random bits per code. */
const GROUPS = 4;
const GROUP_LENGTH = 4;

export function newRecoveryCode(): string {
  const groups = Array.from({ length: GROUPS }, () =>
    Array.from({ length: GROUP_LENGTH }, () => KEY_ALPHABET[randomInt(KEY_ALPHABET.length)]).join(''),
  );
  return groups.join('-');
}

/** The code as stored: upper case, without the separators people type or copy (spaces, dashes); null if malformed. */
export function normalizeRecoveryCode(input: string): string | null {
  const chars = input.toUpperCase().replace(/[\s-]/g, '');
  if (chars.length !== GROUPS * GROUP_LENGTH || ![...chars].every((c) => KEY_ALPHABET.includes(c))) return null;
  return chars;
}

export class RecoveryCodeService {
  constructor(
    private readonly mailer: Mailer,
    private readonly limiter: AttemptLimiter,
    private readonly totp: TotpCheck,
    private readonly metrics: Pick<Metrics, 'totpFailures'>,
  ) {}

  remaining(em: EntityManager, userId: string): Promise<number> {
    return em.count(RecoveryCode, { user: userId, usedAt: null });
  }

  /** Discards every code of the user (a 2FA reset, a fresh enrolment), in the caller's transaction. */
  async discard(em: EntityManager, userId: string): Promise<void> {
    await em.nativeDelete(RecoveryCode, { user: userId });
  }

  /**
   * Ten new codes for the signed-in user, after a fresh TOTP code (replay and lockout rules apply); the
   * earlier codes stop working. The codes are returned once and never stored in plain text.
   */
  async generate(em: EntityManager, p: AuthenticatedPrincipal, totpCode: string, meta: RequestMeta): Promise<string[]> {
    const user = await em.findOneOrFail(User, p.userId, { populate: ['totpSecretSealed'] });
    await this.totp.verify(em, user, totpCode, meta);
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const salt = randomBytes(16);
    const hashes = await Promise.all(codes.map((code) => hashWithSalt(normalizeRecoveryCode(code)!, salt)));
    await em.transactional(async (tx) => {
      const before = await this.remaining(tx, user.id);
      await this.discard(tx, user.id);
      const now = new Date();
      for (const codeHash of hashes)
        tx.persist(tx.create(RecoveryCode, { user: tx.getReference(User, user.id), codeHash, createdAt: now }));
      await audit(
        tx,
        AuditAction.RECOVERY_CODES_GENERATED,
        target.user(user),
        { actorId: user.id, clientAddress: meta.clientAddress },
        { changes: { recoveryCodesRemaining: { from: before, to: RECOVERY_CODE_COUNT } } },
      );
    });
    this.mailer.sendLater({
      to: user.email,
      locale: user.locale,
      template: 'recovery-codes-generated',
      vars: { name: user.name, count: RECOVERY_CODE_COUNT, generatedAt: new Date() },
    });
    return codes;
  }

  /**
   * Redeems a code of `user` within the per-user TOTP limit: a malformed code is BAD_USER_INPUT, a wrong
   * or used one UNAUTHENTICATED, and both count as failures. The code is claimed in one transaction with
   * `then` (the sign-in it stands for), so of two concurrent uses exactly one succeeds, and a sign-in that
   * fails leaves the code unused.
   */
  async redeem<T>(em: EntityManager, user: User, input: string, meta: RequestMeta, then: (tx: EntityManager) => Promise<T>): Promise<T> {
    const attempt = await this.limiter.reserve(em, 'TOTP_USER', user.id);
    const fail = async (error: Error) => {
      this.metrics.totpFailures.inc();
      await attempt.fail();
      await audit(em, AuditAction.RECOVERY_CODE_FAILED, target.user(user), { actorId: user.id, clientAddress: meta.clientAddress });
      await em.flush();
      return error;
    };
    const code = normalizeRecoveryCode(input);
    if (code === null) throw await fail(badInput('A recovery code has 16 letters and digits (e.g. ABCD-EFGH-JKLM-NPQR).', 'code'));
    const unused = await em.find(RecoveryCode, { user: user.id, usedAt: null });
    let match: RecoveryCode | undefined;
    // A set shares its salt: one hash per salt (normally one), compared with every code of that salt.
    const bySalt = new Map<string, RecoveryCode[]>();
    for (const row of unused) {
      const salt = saltOf(row.codeHash)?.toString('base64');
      if (salt) bySalt.set(salt, [...(bySalt.get(salt) ?? []), row]);
    }
    for (const [salt, rows] of bySalt) {
      const hash = await hashWithSalt(code, Buffer.from(salt, 'base64'));
      match ??= rows.find((row) => sameHash(row.codeHash, hash));
    }
    if (!match) throw await fail(unauthenticated('Wrong or used recovery code.'));
    const matched = match;
    let left = 0;
    let result: T;
    try {
      result = await em.fork().transactional(async (tx) => {
        const claimed = await tx.nativeUpdate(RecoveryCode, { id: matched.id, usedAt: null }, { usedAt: new Date() });
        if (claimed !== 1) throw new UsedMeanwhile();
        left = await this.remaining(tx, user.id);
        await audit(
          tx,
          AuditAction.RECOVERY_CODE_USED,
          target.user(user),
          { actorId: user.id, clientAddress: meta.clientAddress },
          { changes: { recoveryCodesRemaining: { from: left + 1, to: left } } },
        );
        return then(tx);
      });
    } catch (error) {
      if (error instanceof UsedMeanwhile) throw await fail(unauthenticated('Wrong or used recovery code.'));
      throw error;
    }
    await attempt.succeed(true);
    this.mailer.sendLater({
      to: user.email,
      locale: user.locale,
      template: 'recovery-code-used',
      vars: { name: user.name, remaining: left, usedAt: new Date() },
    });
    return result;
  }
}

/** A concurrent request claimed the same code first. */
class UsedMeanwhile extends Error {}
