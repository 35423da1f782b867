// Single-use account tokens: issued for e-mails, redirects and TOTP setup; stored as SHA-256; expire;
// claimed by an atomic conditional update so that two concurrent uses cannot both succeed.
import type { EntityManager } from '@mikro-orm/core';
import { badInput } from '../../errors';
import { User } from '../users/user.entity';
import { AccountToken, AccountTokenPurpose } from './account-token.entity';
import { hashToken, isWellFormedToken, newToken, TokenPrefix } from './secrets';

/** E-mail and redirect links live 24 hours (FLOWS.md section 3); a setup token one hour. */
export const ACCOUNT_TOKEN_TTL_MS: Record<AccountTokenPurpose, number> = {
  INVITATION: 24 * 60 * 60 * 1000,
  PASSWORD_RESET: 24 * 60 * 60 * 1000,
  TWO_FACTOR_ACTIVATION: 24 * 60 * 60 * 1000,
  TOTP_SETUP: 60 * 60 * 1000,
};

/** Tokens that replace one another: a new reset link voids an older invitation or reset link. */
const SUPERSEDES: Record<AccountTokenPurpose, AccountTokenPurpose[]> = {
  INVITATION: [AccountTokenPurpose.INVITATION, AccountTokenPurpose.PASSWORD_RESET],
  PASSWORD_RESET: [AccountTokenPurpose.INVITATION, AccountTokenPurpose.PASSWORD_RESET],
  TWO_FACTOR_ACTIVATION: [AccountTokenPurpose.TWO_FACTOR_ACTIVATION],
  TOTP_SETUP: [AccountTokenPurpose.TOTP_SETUP],
};

/** The e-mailed link (reset, invitation, e-mail activation): always PUBLIC_URL, never a request header. */
export function resetLink(publicUrl: string, token: string): string {
  return `${publicUrl}/reset-password?token=${encodeURIComponent(token)}`;
}

export const INVALID_LINK_MESSAGE = 'This link or token is invalid, has already been used or has expired. Request a new one.';

export class AccountTokenService {
  constructor(private readonly now: () => number = Date.now) {}

  /** Issues a token (persisted with the caller's flush) and voids the ones it supersedes. */
  async issue(
    em: EntityManager,
    userId: string,
    purpose: AccountTokenPurpose,
    extra: { secretSealed?: string; alreadyEnrolled?: boolean } = {},
  ): Promise<string> {
    const now = new Date(this.now());
    await em.nativeUpdate(AccountToken, { user: userId, purpose: { $in: SUPERSEDES[purpose] }, usedAt: null }, { usedAt: now });
    const token = newToken(TokenPrefix.account);
    em.persist(
      em.create(AccountToken, {
        tokenHash: hashToken(token),
        user: em.getReference(User, userId),
        purpose,
        secretSealed: extra.secretSealed ?? null,
        alreadyEnrolled: extra.alreadyEnrolled ?? false,
        createdAt: now,
        expiresAt: new Date(now.getTime() + ACCOUNT_TOKEN_TTL_MS[purpose]),
      }),
    );
    return token;
  }

  /** The live token of one of the purposes of an active account, or BAD_USER_INPUT naming the argument. */
  async find(em: EntityManager, token: string, purposes: AccountTokenPurpose[], field: string): Promise<AccountToken> {
    if (!isWellFormedToken(token, TokenPrefix.account)) throw badInput(INVALID_LINK_MESSAGE, field, 'INVALID_LINK');
    const row = await em.findOne(
      AccountToken,
      // A deactivated account's tokens were voided with it; the condition on the user makes sure of it.
      {
        tokenHash: hashToken(token),
        purpose: { $in: purposes },
        usedAt: null,
        expiresAt: { $gt: new Date(this.now()) },
        user: { active: true },
      },
      { populate: ['user', 'user.passwordHash', 'user.totpSecretSealed'] },
    );
    if (!row) throw badInput(INVALID_LINK_MESSAGE, field, 'INVALID_LINK');
    return row;
  }

  /** Marks the token used; fails when a concurrent request was first. Call inside the transaction of the change. */
  async claim(em: EntityManager, row: AccountToken, field: string): Promise<void> {
    const claimed = await em.nativeUpdate(AccountToken, { id: row.id, usedAt: null }, { usedAt: new Date(this.now()) });
    if (claimed !== 1) throw badInput(INVALID_LINK_MESSAGE, field, 'INVALID_LINK');
  }
}
