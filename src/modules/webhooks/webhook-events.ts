// The webhook event vocabulary (FLOWS.md section 12) and the outbox writer: audit() calls
// recordLicenseEvent for every license event it records, in the same unit of work, so that a message
// commits with its change or not at all.
import type { EntityManager } from '@mikro-orm/core';
import { newId } from '../../common/ids';
import type { InsertRow } from '../../db/writes';
import { licenseStatus, type License } from '../licenses/license.entity';
import { WebhookEvent } from './webhook-event.entity';

export const WEBHOOK_EVENT_TYPES = [
  'license.created',
  'license.updated',
  'license.revoked',
  'license.suspended',
  'license.reinstated',
  'license.transferred',
  'license.expiring',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export function isWebhookEventType(name: string): name is WebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(name);
}

/** What a license event tells about the license: its fields as they are after the change. */
export type LicenseFacts = Pick<
  License,
  'id' | 'key' | 'kind' | 'seats' | 'validFrom' | 'validUntil' | 'revokedAt' | 'suspendedAt' | 'resellerSuspendedAt' | 'createdAt'
> & { customer: { id: string }; reseller: { id: string } };

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/** The license in a message: what its reseller sees of it in the API. */
export function licenseData(license: LicenseFacts, now: Date) {
  return {
    id: license.id,
    key: license.key,
    kind: license.kind,
    seats: license.seats,
    status: licenseStatus(license, now),
    validFrom: iso(license.validFrom),
    validUntil: iso(license.validUntil),
    revokedAt: iso(license.revokedAt),
    suspendedAt: iso(license.suspendedAt),
    customerId: license.customer.id,
    resellerId: license.reseller.id,
    createdAt: iso(license.createdAt),
  };
}

export interface LicenseEventDetails {
  /** The audit action behind it (e.g. LICENSE_RENEWED for a license.updated). */
  action?: string;
  changes?: Record<string, { from: unknown; to: unknown }> | null;
  reason?: string | null;
  /** license.expiring: the reminder threshold reached (30, 7 or 1). */
  daysLeft?: number;
  /** license.transferred: the reseller it left. */
  formerResellerId?: string | null;
}

/**
 * The entity managers (a transaction's fork, or one that flushed on its own) that wrote messages not yet
 * committed: through the unit of work (app.ts marks them on afterCreate) or as plain multi-row inserts
 * (auditMany), which the ORM's entity events do not see. app.ts nudges the worker when such a one commits.
 */
const insertedIn = new WeakSet<EntityManager>();

/** `em` wrote messages; they are delivered once it commits. */
export function messagesInserted(em: EntityManager): void {
  insertedIn.add(em);
}

/** Whether `em` inserted messages since the last call (and forgets it). */
export function takeMessagesInserted(em: EntityManager): boolean {
  return insertedIn.delete(em);
}

/**
 * One message as a row: the one definition of its fields, for recordLicenseEvent (one event, through the
 * unit of work) and for the bulk writes (auditMany: many events as one multi-row insert).
 */
export function licenseEventRow(
  type: WebhookEventType,
  license: LicenseFacts,
  details: LicenseEventDetails = {},
  now = new Date(),
): InsertRow<WebhookEvent> {
  const { formerResellerId = null, ...rest } = details;
  const data: Record<string, unknown> = { license: licenseData(license, now) };
  for (const [field, value] of Object.entries(rest)) if (value !== undefined && value !== null) data[field] = value;
  return {
    id: newId('WebhookEvent'),
    type,
    licenseId: license.id,
    resellerId: license.reseller.id,
    formerResellerId,
    data: JSON.stringify(data),
    createdAt: now,
    dispatchedAt: null,
  };
}

/** Queues one message in `em`'s unit of work (written by the caller's flush or transaction). */
export function recordLicenseEvent(
  em: EntityManager,
  type: WebhookEventType,
  license: LicenseFacts,
  details: LicenseEventDetails = {},
  now = new Date(),
): WebhookEvent {
  const event = em.create(WebhookEvent, licenseEventRow(type, license, details, now));
  em.persist(event);
  return event;
}
