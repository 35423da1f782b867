// Webhook endpoints and their deliveries (FLOWS.md section 12): staff manage the endpoints of their
// reseller (admins: of any reseller, or admin-wide ones for every reseller's events). Every lookup goes
// through the visibility declaration (scope.ts): an endpoint or delivery the caller may not see is
// NOT_FOUND, like one that does not exist.
import type { EntityManager } from '@mikro-orm/core';
import type { AbstractSqlConnection } from '@mikro-orm/knex';
import { randomBytes } from 'node:crypto';
import { Role } from '../../common/enums';
import { paginate, type PageArgs } from '../../common/pagination';
import { isPostgres } from '../../db/sql';
import { badInput, conflict, notFound } from '../../errors';
import { scopeWhere } from '../access/scope';
import { audit, AuditAction, target } from '../audit/audit.service';
import type { AuthenticatedPrincipal } from '../auth/principal';
import type { SecretBox } from '../auth/secrets';
import { Reseller } from '../resellers/reseller.entity';
import { assertResellerOpen } from '../resellers/reseller-suspension';
import { checkEndpointUrl } from './webhook-address';
import { DeliveryState, WebhookDelivery } from './webhook-delivery.entity';
import { WebhookEndpoint } from './webhook-endpoint.entity';
import { WebhookEvent } from './webhook-event.entity';
import { WEBHOOK_EVENT_TYPES, isWebhookEventType } from './webhook-events';
import { secretContext } from './webhook-worker';

/** Endpoints per reseller (and admin-wide ones), FLOWS.md section 12. */
export const MAX_ENDPOINTS = 5;

export interface CreateEndpointData {
  url: string;
  events: string[];
  resellerId?: string | null;
}

/** A new signing secret in the Standard Webhooks format: whsec_ + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function checkEvents(events: readonly string[]): string[] {
  const unique = [...new Set(events.map((e) => e.trim()))];
  if (unique.length === 0) throw badInput('Name at least one event.', 'events');
  const unknown = unique.filter((e) => !isWebhookEventType(e));
  if (unknown.length)
    throw badInput(`Unknown events: ${unknown.slice(0, 3).join(', ')}. Known: ${WEBHOOK_EVENT_TYPES.join(', ')}.`, 'events');
  return WEBHOOK_EVENT_TYPES.filter((e) => unique.includes(e));
}

export class WebhookService {
  constructor(
    private readonly production: boolean,
    private readonly box: SecretBox,
  ) {}

  /** The caller's reseller's active endpoints (admins: all), oldest first. */
  list(em: EntityManager, p: AuthenticatedPrincipal): Promise<WebhookEndpoint[]> {
    return em.find(WebhookEndpoint, scopeWhere('WebhookEndpoint', p, { active: true }), { orderBy: { createdAt: 'asc', id: 'asc' } });
  }

  findVisibleEndpoint(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<WebhookEndpoint | null> {
    return em.findOne(WebhookEndpoint, scopeWhere('WebhookEndpoint', p, { id }));
  }

  findVisibleDelivery(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<WebhookDelivery | null> {
    return em.findOne(WebhookDelivery, scopeWhere('WebhookDelivery', p, { id }));
  }

  /**
   * A new endpoint with its signing secret, shown here once and stored sealed. Reseller staff: for their
   * reseller (naming another is NOT_FOUND); admins: for the reseller named, or for all when none is.
   */
  async create(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    input: CreateEndpointData,
    clientAddress: string | null,
  ): Promise<{ endpoint: WebhookEndpoint; signingSecret: string }> {
    const url = checkEndpointUrl(input.url, this.production).toString();
    const events = checkEvents(input.events);
    let resellerId: string | null = input.resellerId ?? null;
    if (p.role !== Role.ADMIN) resellerId ??= p.resellerId;
    if (resellerId !== null && !(await em.findOne(Reseller, scopeWhere('Reseller', p, { id: resellerId }), { fields: ['id'] }))) {
      throw notFound('reseller');
    }
    if (resellerId === null && p.role !== Role.ADMIN) throw notFound('reseller');
    const signingSecret = newSigningSecret();
    const endpoint = await em.fork().transactional(async (tx) => {
      await this.lockGroup(tx, resellerId);
      const count = await tx.count(WebhookEndpoint, { reseller: resellerId, active: true });
      if (count >= MAX_ENDPOINTS) {
        throw conflict(`At most ${MAX_ENDPOINTS} webhook endpoints per reseller; delete one first.`, 'url', 'TOO_MANY_ENDPOINTS');
      }
      const created = tx.create(WebhookEndpoint, {
        url,
        events,
        reseller: resellerId === null ? null : tx.getReference(Reseller, resellerId),
        secretSealed: '',
        active: true,
        createdById: p.userId,
        createdAt: new Date(),
        deletedAt: null,
      });
      created.secretSealed = this.box.seal(signingSecret, secretContext(created.id));
      await audit(
        tx,
        AuditAction.WEBHOOK_ENDPOINT_CREATED,
        target.webhookEndpoint(created),
        { actorId: p.userId, clientAddress },
        {
          changes: { url: { from: null, to: url }, events: { from: null, to: events.join(',') } },
        },
      );
      return created;
    });
    return { endpoint: await em.findOneOrFail(WebhookEndpoint, endpoint.id), signingSecret };
  }

  /**
   * Serialises the creations of one reseller's endpoints (or of the admin-wide ones), so that two at once
   * cannot both pass the limit. A reseller's must be open (else FORBIDDEN RESELLER_SUSPENDED).
   */
  private async lockGroup(tx: EntityManager, resellerId: string | null): Promise<void> {
    if (resellerId !== null) await assertResellerOpen(tx, resellerId);
    const connection = tx.getConnection() as AbstractSqlConnection;
    if (isPostgres(tx)) {
      await connection.execute(
        'select pg_advisory_xact_lock(hashtext(?))',
        [`webhook-endpoints:${resellerId ?? '*'}`],
        'all',
        tx.getTransactionContext(),
      );
    } else if (resellerId === null) {
      // SQLite: a write first takes the one writer's lock (assertResellerOpen does so for a reseller).
      await connection.execute("update webhook_endpoint set active = active where id = ''", [], 'run', tx.getTransactionContext());
    }
  }

  /** Deletes (deactivates) an endpoint: nothing more is delivered to it; its deliveries stay readable. */
  async delete(em: EntityManager, p: AuthenticatedPrincipal, id: string, clientAddress: string | null): Promise<boolean> {
    const endpoint = await this.findVisibleEndpoint(em, p, id);
    if (!endpoint) throw notFound('webhook endpoint');
    if (!endpoint.active) return true;
    await em.transactional(async (tx) => {
      endpoint.active = false;
      endpoint.deletedAt = new Date();
      await tx.nativeUpdate(
        WebhookDelivery,
        { endpoint: endpoint.id, state: DeliveryState.PENDING },
        { state: DeliveryState.FAILED, nextAttemptAt: null, lastError: 'endpoint deleted' },
      );
      await audit(tx, AuditAction.WEBHOOK_ENDPOINT_DELETED, target.webhookEndpoint(endpoint), { actorId: p.userId, clientAddress });
    });
    return true;
  }

  /** An endpoint's deliveries, newest first. */
  async deliveries(em: EntityManager, p: AuthenticatedPrincipal, endpointId: string, args: PageArgs) {
    const endpoint = await this.findVisibleEndpoint(em, p, endpointId);
    if (!endpoint) throw notFound('webhook endpoint');
    return paginate(em, WebhookDelivery, () => ({ endpoint: endpoint.id }), args);
  }

  /** Queues the delivery's message to its endpoint once more, as a new delivery due now. */
  async redeliver(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    deliveryId: string,
    clientAddress: string | null,
  ): Promise<WebhookDelivery> {
    const delivery = await this.findVisibleDelivery(em, p, deliveryId);
    if (!delivery) throw notFound('webhook delivery');
    const endpoint = await em.findOneOrFail(WebhookEndpoint, delivery.endpoint.id);
    if (!endpoint.active) throw badInput('The endpoint was deleted.', 'deliveryId', 'ENDPOINT_DELETED');
    const now = new Date();
    const again = await em.transactional(async (tx) => {
      const created = tx.create(WebhookDelivery, {
        endpoint: tx.getReference(WebhookEndpoint, endpoint.id),
        message: tx.getReference(WebhookEvent, delivery.message.id),
        event: delivery.event,
        redacted: delivery.redacted,
        state: DeliveryState.PENDING,
        attempts: 0,
        nextAttemptAt: now,
        createdAt: now,
      });
      await audit(
        tx,
        AuditAction.WEBHOOK_REDELIVERED,
        target.webhookEndpoint(endpoint),
        { actorId: p.userId, clientAddress },
        {
          changes: { deliveryId: { from: delivery.id, to: created.id } },
        },
      );
      return created;
    });
    return again;
  }
}
