// Prometheus metrics (prom-client) on a registry of the app's own: requests and latency by operation,
// errors by code, failed logins and TOTP failures, database pool use. Labels come from the schema
// (root field names) and the fixed error codes, never from client-chosen strings.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface PoolStats {
  used: number;
  free: number;
  pending: number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'portal_graphql_requests_total',
    help: 'GraphQL operations by root field and outcome (ok, or the first error code).',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'portal_graphql_request_duration_seconds',
    help: 'GraphQL operation latency by root field.',
    labelNames: ['operation'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'portal_graphql_errors_total',
    help: 'GraphQL errors by code (FLOWS.md section 2).',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly loginFailures = new Counter({
    name: 'portal_login_failures_total',
    help: 'Failed logins (wrong e-mail or password).',
    registers: [this.registry],
  });
  readonly totpFailures = new Counter({
    name: 'portal_totp_failures_total',
    help: 'Failed TOTP verifications (wrong, replayed, stale or malformed codes).',
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'portal_rate_limited_total',
    help: 'Attempts refused by an attempt limit.',
    registers: [this.registry],
  });

  readonly webhooksQueued = new Counter({
    name: 'portal_webhook_deliveries_queued_total',
    help: 'Webhook deliveries created (one per event and subscribed endpoint).',
    registers: [this.registry],
  });
  readonly webhooksDelivered = new Counter({
    name: 'portal_webhook_deliveries_delivered_total',
    help: 'Webhook deliveries answered with a 2xx.',
    registers: [this.registry],
  });
  readonly webhooksRetried = new Counter({
    name: 'portal_webhook_attempts_failed_total',
    help: 'Webhook attempts that failed and will be retried.',
    registers: [this.registry],
  });
  readonly webhooksFailed = new Counter({
    name: 'portal_webhook_deliveries_failed_total',
    help: 'Webhook deliveries given up (every attempt failed, or the endpoint was deleted).',
    registers: [this.registry],
  });

  /** The age of the oldest webhook message not yet delivered, read from the database at each scrape. */
  watchWebhookBacklog(oldestPendingSeconds: () => Promise<number>): void {
    new Gauge({
      name: 'portal_webhook_oldest_pending_seconds',
      help: 'Age of the oldest webhook message not yet delivered (0: none pending).',
      registers: [this.registry],
      async collect() {
        this.set(await oldestPendingSeconds());
      },
    });
  }

  /** With poolStats (the server): also the process metrics and the pool gauge; the CLI keeps just the counters. */
  constructor(poolStats?: () => PoolStats | null) {
    if (poolStats) {
      collectDefaultMetrics({ register: this.registry, prefix: 'portal_' });
      const registry = this.registry;
      new Gauge({
        name: 'portal_db_pool_connections',
        help: 'Database pool connections by state (used, free, pending acquires).',
        labelNames: ['state'] as const,
        registers: [registry],
        collect() {
          const stats = poolStats();
          if (!stats) return;
          this.set({ state: 'used' }, stats.used);
          this.set({ state: 'free' }, stats.free);
          this.set({ state: 'pending' }, stats.pending);
        },
      });
    }
  }
}
