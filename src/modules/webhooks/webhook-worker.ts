// Delivers the webhook outbox (FLOWS.md section 12). Every server process runs one worker; what makes
// them safe together is the database, not the process:
// 1. dispatch: claims undelivered events with one conditional update (a second process skips what the
//    first took) and, in the same transaction, creates one delivery per subscribed endpoint; an event
//    nobody subscribed to is deleted there.
// 2. claim: takes due deliveries for a lease (timeout + 5 s) under a claim token of its own (PostgreSQL:
//    FOR UPDATE SKIP LOCKED; SQLite has one writer). A process that dies mid-delivery loses nothing:
//    its leases run out and any process claims the deliveries again (at least once).
// 3. send and record: the outcome is written only under the worker's own claim token. A 2xx is
//    DELIVERED; anything else is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (each with
//    +-10 % jitter), then FAILED.
import type { EntityManager } from '@mikro-orm/core';
import type { AbstractSqlConnection } from '@mikro-orm/knex';
import { randomBytes } from 'node:crypto';
import type { Orm } from '../../db/orm';
import { isPostgres, readTime, timeParam } from '../../db/sql';
import { describeError, type Logger } from '../../logger';
import type { Metrics } from '../../metrics';
import type { SecretBox } from '../auth/secrets';
import { DeliveryState, WebhookDelivery } from './webhook-delivery.entity';
import { WebhookEndpoint } from './webhook-endpoint.entity';
import { WebhookEvent } from './webhook-event.entity';
import type { Message, WebhookSender } from './webhook-sender';

/** The waits after each failed attempt (the Standard Webhooks schedule): 8 attempts in about 28 hours. */
export const RETRY_DELAYS_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

/** The wait after `attempts` failed attempts, with +-10 % jitter; null: no attempt left. */
export function retryDelay(attempts: number, random: () => number = Math.random): number | null {
  const base = RETRY_DELAYS_MS[attempts - 1];
  return base === undefined ? null : Math.round(base * (0.9 + 0.2 * random()));
}

/** The associated data a signing secret is sealed with: it opens only for its own endpoint. */
export const secretContext = (endpointId: string) => `webhook-endpoint:${endpointId}`;

const POLL_MS = 1_000;
const DISPATCH_BATCH = 500;
const CLAIM_BATCH = 64;
const LEASE_MARGIN_MS = 5_000;

export interface WorkerRun {
  /** Deliveries created from new events. */
  queued: number;
  delivered: number;
  /** Attempts that failed and will be retried. */
  retried: number;
  /** Deliveries that gave up (no attempt left, or the endpoint was deleted). */
  failed: number;
}

interface ClaimedRow {
  id: string;
  attempts: number;
  redacted: boolean | number;
  message_id: string;
  type: string;
  data: string;
  created_at: Date | number | string;
  license_id: string;
  endpoint_id: string;
  url: string;
  secret_sealed: string;
  active: boolean | number;
}

const truthy = (value: boolean | number) => value === true || value === 1;

/** The message as the delivery's endpoint may see it: a license that left its reseller by id only. */
function messageOf(row: ClaimedRow): Message {
  const data = truthy(row.redacted) ? { license: { id: row.license_id }, transferredAway: true } : (JSON.parse(row.data) as unknown);
  return { id: row.message_id, type: row.type, timestamp: readTime(row.created_at), data };
}

export class WebhookWorker {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly orm: Orm,
    private readonly box: SecretBox,
    private readonly sender: WebhookSender,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {}

  /** Polls every second (and runs at once when nudged) until stop(). */
  start(): void {
    const tick = () => {
      this.timer = null;
      if (this.stopped) return;
      void this.kick().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, POLL_MS);
      });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  /** New events were committed in this process: deliver them now rather than at the next poll. */
  nudge(): void {
    if (!this.stopped && this.timer !== null) void this.kick();
  }

  private kick(): Promise<void> {
    if (this.current) {
      this.again = true;
      return this.current;
    }
    this.current = (async () => {
      do {
        this.again = false;
        await this.runOnce();
      } while (this.again && !this.stopped);
    })()
      .catch((error: unknown) => this.log.error('webhook worker run failed', describeError(error)))
      .finally(() => {
        this.current = null;
      });
    return this.current;
  }

  /** Stops polling, aborts attempts in flight (their claims are given back) and waits for the run. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort();
    await this.current;
    this.sender.close();
  }

  /** One pass: dispatch new events, then claim and send due deliveries until none is due at `now`. */
  async runOnce(now = new Date()): Promise<WorkerRun> {
    const run: WorkerRun = { queued: 0, delivered: 0, retried: 0, failed: 0 };
    const em = this.orm.em.fork();
    for (;;) {
      const { taken, queued } = await this.dispatch(em, now);
      run.queued += queued;
      if (taken < DISPATCH_BATCH || this.stopped) break;
    }
    while (!this.abort.signal.aborted) {
      const token = randomBytes(12).toString('hex');
      const rows = await this.claim(em, token, now);
      if (rows.length === 0) break;
      await Promise.all(rows.map((row) => this.deliver(em, token, row, now, run)));
    }
    return run;
  }

  private connection(em: EntityManager): AbstractSqlConnection {
    return em.getConnection() as AbstractSqlConnection;
  }

  /** Turns up to DISPATCH_BATCH new events into deliveries, in one transaction. */
  private async dispatch(em: EntityManager, now: Date): Promise<{ taken: number; queued: number }> {
    return em.transactional(async (tx) => {
      const pg = isPostgres(tx);
      const taken = (await this.connection(tx).execute(
        `update webhook_event set dispatched_at = ? where id in (select id from webhook_event where dispatched_at is null order by created_at limit ?${pg ? ' for update skip locked' : ''}) and dispatched_at is null returning id, type, reseller_id, former_reseller_id, created_at`,
        [timeParam(tx, now), DISPATCH_BATCH],
        'all',
        tx.getTransactionContext(),
      )) as { id: string; type: string; reseller_id: string; former_reseller_id: string | null; created_at: Date | number | string }[];
      if (taken.length === 0) return { taken: 0, queued: 0 };
      const resellers = [
        ...new Set(taken.flatMap((e) => (e.former_reseller_id ? [e.reseller_id, e.former_reseller_id] : [e.reseller_id]))),
      ];
      const endpoints = await tx.find(WebhookEndpoint, { active: true, $or: [{ reseller: { $in: resellers } }, { reseller: null }] });
      const unused: string[] = [];
      let queued = 0;
      for (const event of taken) {
        const at = readTime(event.created_at);
        let any = false;
        for (const endpoint of endpoints) {
          // Only what happened while the endpoint existed, and only to its reseller's licenses.
          if (!endpoint.events.includes(event.type) || endpoint.createdAt.getTime() > at.getTime()) continue;
          const owner = endpoint.reseller?.id ?? null;
          const audience = owner === null || owner === event.reseller_id ? 'full' : owner === event.former_reseller_id ? 'redacted' : null;
          if (audience === null) continue;
          tx.persist(
            tx.create(WebhookDelivery, {
              endpoint,
              message: tx.getReference(WebhookEvent, event.id),
              event: event.type,
              redacted: audience === 'redacted',
              state: DeliveryState.PENDING,
              attempts: 0,
              nextAttemptAt: now,
              createdAt: now,
            }),
          );
          any = true;
          queued += 1;
        }
        if (!any) unused.push(event.id);
      }
      await tx.flush();
      if (unused.length) await tx.nativeDelete(WebhookEvent, { id: { $in: unused } });
      this.metrics.webhooksQueued.inc(queued);
      return { taken: taken.length, queued };
    });
  }

  /** Claims up to CLAIM_BATCH due deliveries under `token` and reads what sending them needs. */
  private async claim(em: EntityManager, token: string, now: Date): Promise<ClaimedRow[]> {
    const pg = isPostgres(em);
    const at = timeParam(em, now);
    const claimed = (await this.connection(em).execute(
      `update webhook_delivery set claim_token = ?, claimed_until = ? where id in (select id from webhook_delivery where state = ? and next_attempt_at <= ? and (claimed_until is null or claimed_until <= ?) order by next_attempt_at limit ?${pg ? ' for update skip locked' : ''}) and state = ? and (claimed_until is null or claimed_until <= ?) returning id`,
      [
        token,
        timeParam(em, new Date(now.getTime() + this.timeoutMs + LEASE_MARGIN_MS)),
        DeliveryState.PENDING,
        at,
        at,
        CLAIM_BATCH,
        DeliveryState.PENDING,
        at,
      ],
      'all',
    )) as { id: string }[];
    if (claimed.length === 0) return [];
    return (await this.connection(em).execute(
      `select d.id, d.attempts, d.redacted, e.id as message_id, e.type, e.data, e.created_at, e.license_id, p.id as endpoint_id, p.url, p.secret_sealed, p.active
       from webhook_delivery d join webhook_event e on e.id = d.message_id join webhook_endpoint p on p.id = d.endpoint_id
       where d.claim_token = ?`,
      [token],
      'all',
    )) as ClaimedRow[];
  }

  private async deliver(em: EntityManager, token: string, row: ClaimedRow, now: Date, run: WorkerRun): Promise<void> {
    if (!truthy(row.active)) {
      await this.record(em, token, row.id, { state: DeliveryState.FAILED, last_error: 'endpoint deleted', next_attempt_at: null });
      run.failed += 1;
      this.metrics.webhooksFailed.inc();
      return;
    }
    let secret: string;
    try {
      secret = this.box.open(row.secret_sealed, secretContext(row.endpoint_id));
    } catch (error) {
      this.log.error('webhook secret cannot be opened (SECRET_KEY changed?)', { endpointId: row.endpoint_id, ...describeError(error) });
      await this.record(em, token, row.id, {
        state: DeliveryState.FAILED,
        last_error: 'signing secret unavailable',
        next_attempt_at: null,
      });
      run.failed += 1;
      this.metrics.webhooksFailed.inc();
      return;
    }
    const attempt = await this.sender.send(row.url, secret, messageOf(row), this.abort.signal);
    if (this.abort.signal.aborted && attempt.status === null) {
      // Shutting down: not an attempt; give the claim back for whichever process runs next.
      await this.record(em, token, row.id, {});
      return;
    }
    const attempts = row.attempts + 1;
    const finished = new Date(Math.max(Date.now(), now.getTime()));
    if (attempt.status !== null && attempt.status >= 200 && attempt.status < 300) {
      await this.record(em, token, row.id, {
        state: DeliveryState.DELIVERED,
        attempts,
        last_status_code: attempt.status,
        last_error: null,
        next_attempt_at: null,
        delivered_at: finished,
      });
      run.delivered += 1;
      this.metrics.webhooksDelivered.inc();
      return;
    }
    const delay = retryDelay(attempts);
    await this.record(em, token, row.id, {
      state: delay === null ? DeliveryState.FAILED : DeliveryState.PENDING,
      attempts,
      last_status_code: attempt.status,
      last_error: attempt.error,
      next_attempt_at: delay === null ? null : new Date(finished.getTime() + delay),
    });
    if (delay === null) {
      run.failed += 1;
      this.metrics.webhooksFailed.inc();
    } else {
      run.retried += 1;
      this.metrics.webhooksRetried.inc();
    }
  }

  /** Writes an outcome (and releases the claim), only while the claim is still this worker's. */
  private async record(em: EntityManager, token: string, id: string, values: Record<string, unknown>): Promise<void> {
    const columns = Object.entries(values);
    const assignments = [...columns.map(([column]) => `${column} = ?`), 'claim_token = null', 'claimed_until = null'].join(', ');
    const params = columns.map(([, value]) => (value instanceof Date ? timeParam(em, value) : value));
    await this.connection(em).execute(
      `update webhook_delivery set ${assignments} where id = ? and claim_token = ?`,
      [...params, id, token],
      'run',
    );
  }

  /** Age of the oldest message not yet delivered (an event not dispatched, or a PENDING delivery), in seconds. */
  async oldestPendingSeconds(now = new Date()): Promise<number> {
    const em = this.orm.em.fork();
    const rows = (await this.connection(em).execute(
      `select min(created_at) as at from webhook_event where dispatched_at is null union all select min(created_at) as at from webhook_delivery where state = ?`,
      [DeliveryState.PENDING],
      'all',
    )) as { at: Date | number | string | null }[];
    const times = rows.flatMap((r) => (r.at === null || r.at === undefined ? [] : [readTime(r.at).getTime()]));
    return times.length ? Math.max(0, (now.getTime() - Math.min(...times)) / 1000) : 0;
  }
}
