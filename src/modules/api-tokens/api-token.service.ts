// API tokens for scripts (FLOWS.md section 7): created only from a password + TOTP session, shown once,
// stored as SHA-256, acting as their owner; revoked explicitly or with the owner's password or 2FA.
import type { EntityManager } from '@mikro-orm/core';
import { requiredName } from '../../common/validation';
import { ApiTokenPurpose, Role } from '../../common/enums';
import { badInput, forbidden, notFound } from '../../errors';
import { audit, AuditAction, target } from '../audit/audit.service';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { hashToken, newToken, TokenPrefix } from '../auth/secrets';
import type { Mailer } from '../mail/mailer';
import { User } from '../users/user.entity';
import { ApiToken } from './api-token.entity';

export class ApiTokenService {
  constructor(private readonly mailer: Mailer) {}

  list(em: EntityManager, p: AuthenticatedPrincipal): Promise<ApiToken[]> {
    return em.find(ApiToken, { user: p.userId, revokedAt: null }, { orderBy: { createdAt: 'desc', id: 'desc' } });
  }

  findVisible(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<ApiToken | null> {
    return em.findOne(ApiToken, { id, user: p.userId, revokedAt: null });
  }

  async create(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    name: string,
    expiresAt: Date | null,
    purpose: ApiTokenPurpose,
    clientAddress: string | null,
  ): Promise<{ apiToken: ApiToken; token: string }> {
    // The reseller portal's token redeems activation tokens of any linked account: vendor staff only.
    if (purpose === ApiTokenPurpose.RESELLER_PORTAL && p.role !== Role.ADMIN) throw forbidden('Only admins create reseller-portal tokens.');
    const tokenName = requiredName(name, 'name', 100);
    if (expiresAt && (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= Date.now())) {
      throw badInput('expiresAt must be in the future.', 'expiresAt');
    }
    const owner = await em.findOneOrFail(User, p.userId);
    const token = newToken(TokenPrefix.apiToken);
    const apiToken = await em.transactional(async (tx) => {
      const created = tx.create(ApiToken, {
        name: tokenName,
        tokenHash: hashToken(token),
        purpose,
        user: tx.getReference(User, p.userId),
        createdAt: new Date(),
        expiresAt,
        lastUsedAt: null,
        revokedAt: null,
      });
      await audit(tx, AuditAction.API_TOKEN_CREATED, target.apiToken(created.id, owner), { actorId: p.userId, clientAddress });
      return created;
    });
    this.mailer.sendLater({
      to: owner.email,
      locale: owner.locale,
      template: 'api-token-created',
      vars: { name: owner.name, tokenName, createdAt: apiToken.createdAt },
    });
    return { apiToken, token };
  }

  async revoke(em: EntityManager, p: AuthenticatedPrincipal, id: string, clientAddress: string | null): Promise<boolean> {
    const apiToken = await this.findVisible(em, p, id);
    if (!apiToken) throw notFound('API token');
    const owner = await em.findOneOrFail(User, p.userId);
    await em.transactional(async (tx) => {
      apiToken.revokedAt = new Date();
      await audit(tx, AuditAction.API_TOKEN_REVOKED, target.apiToken(apiToken.id, owner), { actorId: p.userId, clientAddress });
    });
    return true;
  }
}
