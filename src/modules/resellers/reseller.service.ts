// Resellers: created by vendor staff; seen by admins (all) and by their own users. Admins (and operators
// at the CLI) suspend and reinstate them (FLOWS.md section 9).
import type { EntityManager } from '@mikro-orm/core';
import { Role } from '../../common/enums';
import { paginate, type PageArgs } from '../../common/pagination';
import { requiredName, requiredReason } from '../../common/validation';
import { notFound } from '../../errors';
import { audit, AuditAction, target } from '../audit/audit.service';
import { scopeWhere } from '../access/scope';
import type { Actor, AuthenticatedPrincipal } from '../auth/principal';
import type { SessionService } from '../auth/session.service';
import { License } from '../licenses/license.entity';
import type { Mailer } from '../mail/mailer';
import { User } from '../users/user.entity';
import { Reseller } from './reseller.entity';

export interface CreateResellerData {
  name: string;
  linkedToResellerPortal?: boolean | null;
}

export class ResellerService {
  constructor(
    private readonly sessions: SessionService,
    private readonly mailer: Mailer,
  ) {}

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

  /**
   * Suspends a reseller, in one transaction: the reseller's row first (which waits for creations under it
   * that are in flight, see reseller-suspension.ts), then the copy onto its licenses (status SUSPENDED in
   * every read path), then every credential of its own users. Its customers' users keep read access.
   * Suspending a suspended reseller changes nothing and records nothing.
   */
  async suspend(em: EntityManager, by: Actor, id: string, reason: string): Promise<Reseller> {
    const why = requiredReason(reason);
    const reseller = await em.findOne(Reseller, scopeWhere('Reseller', by, { id }));
    if (!reseller) throw notFound('reseller');
    if (reseller.suspendedAt) return reseller;
    const now = new Date();
    const users = await em.fork().transactional(async (tx) => {
      const changed = await tx.nativeUpdate(Reseller, { id, suspendedAt: null }, { suspendedAt: now, suspensionReason: why });
      if (changed !== 1) return null;
      await tx.nativeUpdate(License, { reseller: id }, { resellerSuspendedAt: now });
      const own = await tx.find(User, { reseller: id, role: Role.RESELLER }, { fields: ['id', 'email', 'name', 'active', 'locale'] });
      await this.sessions.revokeAllFor(
        tx,
        own.map((user) => user.id),
      );
      await audit(
        tx,
        AuditAction.RESELLER_SUSPENDED,
        target.reseller(id),
        { actorId: by.userId, clientAddress: by.clientAddress },
        { changes: { suspendedAt: { from: null, to: now.toISOString() } }, reason: why },
      );
      return own;
    });
    await em.refresh(reseller);
    for (const user of users ?? []) {
      if (!user.active) continue;
      this.mailer.sendLater({
        to: user.email,
        locale: user.locale,
        template: 'reseller-suspended',
        vars: { name: user.name, resellerName: reseller.name },
      });
    }
    return reseller;
  }

  /** Undoes a suspension: the licenses answer by their dates again and the users may sign in again. */
  async reinstate(em: EntityManager, by: Actor, id: string): Promise<Reseller> {
    const reseller = await em.findOne(Reseller, scopeWhere('Reseller', by, { id }));
    if (!reseller) throw notFound('reseller');
    if (!reseller.suspendedAt) return reseller;
    const suspendedAt = reseller.suspendedAt;
    const users = await em.fork().transactional(async (tx) => {
      const changed = await tx.nativeUpdate(Reseller, { id, suspendedAt: { $ne: null } }, { suspendedAt: null, suspensionReason: null });
      if (changed !== 1) return null;
      await tx.nativeUpdate(License, { reseller: id }, { resellerSuspendedAt: null });
      await audit(
        tx,
        AuditAction.RESELLER_REINSTATED,
        target.reseller(id),
        { actorId: by.userId, clientAddress: by.clientAddress },
        { changes: { suspendedAt: { from: suspendedAt.toISOString(), to: null } } },
      );
      return tx.find(User, { reseller: id, role: Role.RESELLER, active: true }, { fields: ['id', 'email', 'name', 'locale'] });
    });
    await em.refresh(reseller);
    for (const user of users ?? []) {
      this.mailer.sendLater({
        to: user.email,
        locale: user.locale,
        template: 'reseller-reinstated',
        vars: { name: user.name, resellerName: reseller.name },
      });
    }
    return reseller;
  }
}
