// Records audit events inside the caller's unit of work, so an event commits with its change or not at all.
import type { EntityManager } from '@mikro-orm/core';
import { paginate, type PageArgs } from '../../common/pagination';
import { scopeOf, scopeWhere } from '../access/scope';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { Customer } from '../customers/customer.entity';
import type { User } from '../users/user.entity';
import { AuditEvent } from './audit-event.entity';

export interface AuditEntry {
  action: string;
  actorId?: string | null;
  targetType?: string | null;
  targetId?: string | null;
  /** Whose event it is: a reseller sees events about itself and its customers. */
  resellerId?: string | null;
  customerId?: string | null;
  clientAddress?: string | null;
}

export function recordAudit(em: EntityManager, entry: AuditEntry): AuditEvent {
  const event = em.create(AuditEvent, {
    action: entry.action,
    actorId: entry.actorId ?? null,
    targetType: entry.targetType ?? null,
    targetId: entry.targetId ?? null,
    resellerId: entry.resellerId ?? null,
    customerId: entry.customerId ?? null,
    clientAddress: entry.clientAddress ?? null,
    at: new Date(),
  });
  em.persist(event);
  return event;
}

/** Whose audit events concern a user: the reseller of its scope, or its customer and that customer's reseller. */
export async function auditScopeOfUser(em: EntityManager, user: User): Promise<{ resellerId: string | null; customerId: string | null }> {
  const scope = scopeOf({ role: user.role, resellerId: user.reseller?.id ?? null, customerId: user.customer?.id ?? null });
  if (scope === 'all' || scope === 'none') return { resellerId: null, customerId: null };
  if (scope.by === 'reseller') return { resellerId: scope.id, customerId: null };
  const customer = await em.findOne(Customer, scope.id, { fields: ['reseller'] });
  return { resellerId: customer?.reseller.id ?? null, customerId: scope.id };
}

/** The audit log as the principal may see it, newest first. */
export function listAuditEvents(em: EntityManager, p: AuthenticatedPrincipal, args: PageArgs) {
  return paginate(em, AuditEvent, () => scopeWhere('AuditEvent', p), args, 'at');
}

export function findVisibleAuditEvent(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<AuditEvent | null> {
  return em.findOne(AuditEvent, scopeWhere('AuditEvent', p, { id }));
}
