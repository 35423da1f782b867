// Records audit events inside the caller's unit of work, so an event commits with its change or not at all.
import type { EntityManager } from '@mikro-orm/core';
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
