// Resellers: created by vendor staff; seen by admins (all) and by their own users.
import type { EntityManager } from '@mikro-orm/core';
import { paginate, type PageArgs } from '../../common/pagination';
import { requiredName } from '../../common/validation';
import { audit, AuditAction, target } from '../audit/audit.service';
import { scopeWhere } from '../access/scope';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { Reseller } from './reseller.entity';

export interface CreateResellerData {
  name: string;
  linkedToResellerPortal?: boolean | null;
}

export class ResellerService {
  list(em: EntityManager, p: AuthenticatedPrincipal, args: PageArgs) {
    return paginate(em, Reseller, () => scopeWhere('Reseller', p), args);
  }

  findVisible(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<Reseller | null> {
    return em.findOne(Reseller, scopeWhere('Reseller', p, { id }));
  }

  async create(em: EntityManager, p: AuthenticatedPrincipal, input: CreateResellerData, clientAddress: string | null): Promise<Reseller> {
    const name = requiredName(input.name);
    // Created inside the transaction's own EntityManager, so a failed insert leaves nothing pending.
    const reseller = await em.transactional(async (tx) => {
      const created = tx.create(Reseller, { name, linkedToResellerPortal: input.linkedToResellerPortal ?? false, createdAt: new Date() });
      await audit(tx, AuditAction.RESELLER_CREATED, target.reseller(created.id), { actorId: p.userId, clientAddress });
      return created;
    });
    return reseller;
  }
}
