// Records audit events inside the caller's unit of work, so an event commits with its change or not at
// all. The vocabulary is closed (AuditAction, AuditTargetType), and whose event it is (the reseller and
// customer scope of FLOWS.md section 5) is derived from the target in one place, not by each caller.
import type { EntityManager, FilterQuery } from '@mikro-orm/core';
import { paginate, type PageArgs } from '../../common/pagination';
import { scopeOf, scopeWhere } from '../access/scope';
import { checkDate } from '../licenses/license-rules';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { Customer } from '../customers/customer.entity';
import type { User } from '../users/user.entity';
import { newId } from '../../common/ids';
import { insertRows, type InsertRow } from '../../db/writes';
import { WebhookEvent } from '../webhooks/webhook-event.entity';
import { licenseEventRow, messagesInserted, type LicenseFacts, type WebhookEventType } from '../webhooks/webhook-events';
import { AuditEvent } from './audit-event.entity';

export enum AuditAction {
  LOGIN_FAILED = 'LOGIN_FAILED',
  LOGIN_SUCCEEDED = 'LOGIN_SUCCEEDED',
  TOTP_FAILED = 'TOTP_FAILED',
  PASSWORD_RESET_REQUESTED = 'PASSWORD_RESET_REQUESTED',
  PASSWORD_CHANGED = 'PASSWORD_CHANGED',
  TWO_FACTOR_ACTIVATION_REQUESTED = 'TWO_FACTOR_ACTIVATION_REQUESTED',
  TWO_FACTOR_ACTIVATED = 'TWO_FACTOR_ACTIVATED',
  TWO_FACTOR_CONFIRMED = 'TWO_FACTOR_CONFIRMED',
  TWO_FACTOR_SECRET_DISPLAYED = 'TWO_FACTOR_SECRET_DISPLAYED',
  TWO_FACTOR_RESET = 'TWO_FACTOR_RESET',
  RECOVERY_CODES_GENERATED = 'RECOVERY_CODES_GENERATED',
  RECOVERY_CODE_USED = 'RECOVERY_CODE_USED',
  RECOVERY_CODE_FAILED = 'RECOVERY_CODE_FAILED',
  API_TOKEN_CREATED = 'API_TOKEN_CREATED',
  API_TOKEN_USED = 'API_TOKEN_USED',
  API_TOKEN_REVOKED = 'API_TOKEN_REVOKED',
  USER_CREATED = 'USER_CREATED',
  USER_UPDATED = 'USER_UPDATED',
  USER_DEACTIVATED = 'USER_DEACTIVATED',
  USER_REACTIVATED = 'USER_REACTIVATED',
  RESELLER_CREATED = 'RESELLER_CREATED',
  RESELLER_SUSPENDED = 'RESELLER_SUSPENDED',
  RESELLER_REINSTATED = 'RESELLER_REINSTATED',
  CUSTOMER_CREATED = 'CUSTOMER_CREATED',
  CUSTOMER_UPDATED = 'CUSTOMER_UPDATED',
  LICENSE_CREATED = 'LICENSE_CREATED',
  CUSTOMER_TRANSFERRED = 'CUSTOMER_TRANSFERRED',
  LICENSE_UPDATED = 'LICENSE_UPDATED',
  /** validUntil moved later. */
  LICENSE_RENEWED = 'LICENSE_RENEWED',
  /** kind MDM -> MOBILE_SECURITY. */
  LICENSE_UPGRADED = 'LICENSE_UPGRADED',
  LICENSE_SUSPENDED = 'LICENSE_SUSPENDED',
  LICENSE_REINSTATED = 'LICENSE_REINSTATED',
  /** To another customer of the same reseller. */
  LICENSE_MOVED = 'LICENSE_MOVED',
  /** With its customer, to another reseller. */
  LICENSE_TRANSFERRED = 'LICENSE_TRANSFERRED',
  LICENSE_REVOKED = 'LICENSE_REVOKED',
  WEBHOOK_ENDPOINT_CREATED = 'WEBHOOK_ENDPOINT_CREATED',
  WEBHOOK_ENDPOINT_DELETED = 'WEBHOOK_ENDPOINT_DELETED',
  WEBHOOK_REDELIVERED = 'WEBHOOK_REDELIVERED',
}

/** The webhook message each license event sends (FLOWS.md section 12); license.expiring comes from the reminders. */
const WEBHOOK_EVENT_OF: Partial<Record<AuditAction, WebhookEventType>> = {
  [AuditAction.LICENSE_CREATED]: 'license.created',
  [AuditAction.LICENSE_UPDATED]: 'license.updated',
  [AuditAction.LICENSE_RENEWED]: 'license.updated',
  [AuditAction.LICENSE_UPGRADED]: 'license.updated',
  [AuditAction.LICENSE_MOVED]: 'license.updated',
  [AuditAction.LICENSE_REVOKED]: 'license.revoked',
  [AuditAction.LICENSE_SUSPENDED]: 'license.suspended',
  [AuditAction.LICENSE_REINSTATED]: 'license.reinstated',
  [AuditAction.LICENSE_TRANSFERRED]: 'license.transferred',
};

export enum AuditTargetType {
  User = 'User',
  ApiToken = 'ApiToken',
  Reseller = 'Reseller',
  Customer = 'Customer',
  License = 'License',
  WebhookEndpoint = 'WebhookEndpoint',
}

type UserLike = Pick<User, 'id' | 'role' | 'reseller' | 'customer'>;

/** What an event is about. Null: no known object (a sign-in attempt for an unknown address). */
export type AuditTarget =
  | { type: AuditTargetType.User; user: UserLike }
  | { type: AuditTargetType.ApiToken; id: string; owner: UserLike }
  | { type: AuditTargetType.Reseller; id: string }
  | { type: AuditTargetType.Customer; id: string; resellerId: string; formerResellerId?: string }
  | {
      type: AuditTargetType.License;
      id: string;
      customerId: string;
      resellerId: string;
      formerResellerId?: string;
      /** The license after the change, for its webhook message. */
      facts: LicenseFacts;
    }
  | { type: AuditTargetType.WebhookEndpoint; id: string; resellerId: string | null }
  | null;

/** Who acted (null: the system or an anonymous caller) and from where. */
export interface AuditBy {
  actorId: string | null;
  clientAddress?: string | null;
}

/** Shorthands for the targets, so that callers name the object and nothing else. */
export const target = {
  user: (user: UserLike): AuditTarget => ({ type: AuditTargetType.User, user }),
  apiToken: (id: string, owner: UserLike): AuditTarget => ({ type: AuditTargetType.ApiToken, id, owner }),
  reseller: (id: string): AuditTarget => ({ type: AuditTargetType.Reseller, id }),
  customer: (customer: { id: string; reseller: { id: string } }): AuditTarget => ({
    type: AuditTargetType.Customer,
    id: customer.id,
    resellerId: customer.reseller.id,
  }),
  /** The license as it is after the change (its webhook message tells it). */
  license: (license: LicenseFacts): AuditTarget => ({
    type: AuditTargetType.License,
    id: license.id,
    customerId: license.customer.id,
    resellerId: license.reseller.id,
    facts: license,
  }),
  /** A license that moved with its customer from `formerResellerId` to its reseller now. */
  transferredLicense: (license: LicenseFacts, formerResellerId: string): AuditTarget => ({
    type: AuditTargetType.License,
    id: license.id,
    customerId: license.customer.id,
    resellerId: license.reseller.id,
    formerResellerId,
    facts: license,
  }),
  webhookEndpoint: (endpoint: { id: string; reseller: { id: string } | null }): AuditTarget => ({
    type: AuditTargetType.WebhookEndpoint,
    id: endpoint.id,
    resellerId: endpoint.reseller?.id ?? null,
  }),
};

/** Whose audit events concern a user: the reseller of its scope, or its customer and that customer's reseller. */
async function auditScopeOfUser(em: EntityManager, user: UserLike): Promise<{ resellerId: string | null; customerId: string | null }> {
  const scope = scopeOf({ role: user.role, resellerId: user.reseller?.id ?? null, customerId: user.customer?.id ?? null });
  if (scope === 'all' || scope === 'none') return { resellerId: null, customerId: null };
  if (scope.by === 'reseller') return { resellerId: scope.id, customerId: null };
  const customer = await em.findOne(Customer, scope.id, { fields: ['reseller'] });
  return { resellerId: customer?.reseller.id ?? null, customerId: scope.id };
}

export interface AuditEventFilterData {
  targetId?: string | null;
  action?: string | null;
  since?: Date | null;
}

/** The audit log as the principal may see it, newest first; narrowed e.g. to one object's history. */
export function listAuditEvents(em: EntityManager, p: AuthenticatedPrincipal, args: PageArgs & { filter?: AuditEventFilterData | null }) {
  const filter = args.filter ?? {};
  const parts: FilterQuery<AuditEvent>[] = [];
  if (filter.targetId) parts.push({ targetId: filter.targetId });
  if (filter.action) parts.push({ action: filter.action });
  if (filter.since) parts.push({ at: { $gte: checkDate(filter.since, 'since') } });
  return paginate(em, AuditEvent, () => scopeWhere('AuditEvent', p, ...parts), args, 'at');
}

export function findVisibleAuditEvent(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<AuditEvent | null> {
  return em.findOne(AuditEvent, scopeWhere('AuditEvent', p, { id }));
}

interface EventScope {
  resellerId: string | null;
  customerId: string | null;
  formerResellerId?: string | null;
}

async function eventScopeOf(em: EntityManager, t: AuditTarget): Promise<EventScope> {
  if (t === null) return { resellerId: null, customerId: null };
  switch (t.type) {
    case AuditTargetType.User:
      return auditScopeOfUser(em, t.user);
    case AuditTargetType.ApiToken:
      return auditScopeOfUser(em, t.owner);
    case AuditTargetType.Reseller:
      return { resellerId: t.id, customerId: null };
    case AuditTargetType.Customer:
      return { resellerId: t.resellerId, customerId: t.id, formerResellerId: t.formerResellerId ?? null };
    case AuditTargetType.License:
      return { resellerId: t.resellerId, customerId: t.customerId, formerResellerId: t.formerResellerId ?? null };
    case AuditTargetType.WebhookEndpoint:
      return { resellerId: t.resellerId, customerId: null };
  }
}

function targetIdOf(t: NonNullable<AuditTarget>): string {
  return t.type === AuditTargetType.User ? t.user.id : t.id;
}

/** A changed field's value before and after; dates as ISO 8601 text. */
export type Changes = Record<string, { from: unknown; to: unknown }>;

/** The fields of `after` whose value differs from `before`, as { field: { from, to } }. */
export function changesOf<T extends object>(before: T, after: Partial<T>): Changes {
  const plain = (value: unknown) => (value instanceof Date ? value.toISOString() : (value ?? null));
  const changes: Changes = {};
  for (const [field, to] of Object.entries(after) as [keyof T & string, unknown][]) {
    if (to === undefined) continue;
    const [from, next] = [plain(before[field]), plain(to)];
    if (from !== next) changes[field] = { from, to: next };
  }
  return changes;
}

/** One event and, for a license event, its webhook message: the one definition of their fields. */
function eventRows(
  scope: EventScope,
  action: AuditAction,
  t: AuditTarget,
  by: AuditBy,
  details: { changes?: Changes; reason?: string | null },
): { event: InsertRow<AuditEvent>; message: InsertRow<WebhookEvent> | null } {
  const event: InsertRow<AuditEvent> = {
    id: newId('AuditEvent'),
    action,
    actorId: by.actorId,
    targetType: t?.type ?? null,
    targetId: t ? targetIdOf(t) : null,
    resellerId: scope.resellerId,
    customerId: scope.customerId,
    formerResellerId: scope.formerResellerId ?? null,
    clientAddress: by.clientAddress ?? null,
    at: new Date(),
    changes: details.changes && Object.keys(details.changes).length > 0 ? JSON.stringify(details.changes) : null,
    reason: details.reason ?? null,
  };
  const webhookType = WEBHOOK_EVENT_OF[action];
  const message =
    webhookType && t?.type === AuditTargetType.License
      ? licenseEventRow(
          webhookType,
          t.facts,
          { action, changes: details.changes ?? null, reason: details.reason ?? null, formerResellerId: t.formerResellerId ?? null },
          event.at,
        )
      : null;
  return { event, message };
}

/**
 * Persists one audit event with the caller's flush or transaction; its scope comes from the target.
 * `details`: what changed (stored as JSON) and the reason given, where there is one. A license event
 * also queues its webhook message in the same unit of work (the transactional outbox).
 */
export async function audit(
  em: EntityManager,
  action: AuditAction,
  t: AuditTarget,
  by: AuditBy,
  details: { changes?: Changes; reason?: string | null } = {},
): Promise<AuditEvent> {
  const { event, message } = eventRows(await eventScopeOf(em, t), action, t, by, details);
  const entity = em.create(AuditEvent, event);
  em.persist(entity);
  if (message) em.persist(em.create(WebhookEvent, message));
  return entity;
}

export interface AuditEntry {
  action: AuditAction;
  target: AuditTarget;
  by: AuditBy;
  details?: { changes?: Changes; reason?: string | null };
}

/**
 * `audit` for many events at once, as set operations: the events and their webhook messages as one
 * multi-row insert per table, written now, in `tx` (the caller's transaction: they commit with the change).
 */
export async function auditMany(tx: EntityManager, entries: readonly AuditEntry[]): Promise<void> {
  const events: InsertRow<AuditEvent>[] = [];
  const messages: InsertRow<WebhookEvent>[] = [];
  for (const entry of entries) {
    const { event, message } = eventRows(await eventScopeOf(tx, entry.target), entry.action, entry.target, entry.by, entry.details ?? {});
    events.push(event);
    if (message) messages.push(message);
  }
  await insertRows(tx, AuditEvent, events);
  await insertRows(tx, WebhookEvent, messages);
  if (messages.length > 0) messagesInserted(tx);
}
