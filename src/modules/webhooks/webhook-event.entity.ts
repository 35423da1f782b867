// The transactional outbox (FLOWS.md section 12): one row per license event, written by audit() in the
// same transaction as the change, so that a crash after the commit loses nothing. The worker turns each
// into one delivery per subscribed endpoint (webhook-worker.ts) and deletes it when nobody subscribed.
import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';
import { newId } from '../../common/ids';

@Entity({ tableName: 'webhook_event' })
@Index({ properties: ['dispatchedAt', 'createdAt'] })
export class WebhookEvent {
  /** The message id: the payload's `id` and the `webhook-id` header, the same on every attempt. */
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('WebhookEvent');

  /** license.created, license.updated, ... (WEBHOOK_EVENT_TYPES). */
  @Property({ type: 'string', length: 40 })
  type!: string;

  @Property({ type: 'string', length: 32 })
  licenseId!: string;

  /** The license's reseller after the change: its endpoints get the event. */
  @Property({ type: 'string', length: 32 })
  resellerId!: string;

  /** Set on license.transferred: the reseller the license left, whose endpoints get the license's id only. */
  @Property({ type: 'string', length: 32, nullable: true })
  formerResellerId: string | null = null;

  /** The payload's `data`, as JSON: the license as it was right after the change. */
  @Property({ type: 'text' })
  data!: string;

  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  /** When the worker created its deliveries (null: not yet). */
  @Property({ type: 'datetime', nullable: true })
  dispatchedAt: Date | null = null;
}
