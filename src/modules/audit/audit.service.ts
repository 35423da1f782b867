// Records audit events inside the caller's unit of work, so an event commits with its change or not at all.
import type { EntityManager } from '@mikro-orm/core';
import { Role } from '../../common/enums';
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

/** Whose audit events concern a user: its reseller, or its customer and that customer's reseller. */
export async function auditScopeOfUser(em: EntityManager, user: User): Promise<{ resellerId: string | null; customerId: string | null }> {
  if (user.role === Role.RESELLER) return { resellerId: user.reseller?.id ?? null, customerId: null };
  if (user.role === Role.CUSTOMER && user.customer) {
    const customer = await em.findOne(Customer, user.customer.id, { fields: ['reseller'] });
    return { resellerId: customer?.reseller.id ?? null, customerId: user.customer.id };
  }
  return { resellerId: null, customerId: null };
}
