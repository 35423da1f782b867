// Webhook throughput ([webhooks]): 1,000 license creations (createLicenses, 10 calls of 100, as a
// provisioning script sends them) against a server with its webhook worker on and one endpoint for every
// license.created; timed from the first call to the 1,000th delivery at a local receiver. The baseline of
// the same run: the same number of signed POSTs sent straight to the receiver by the same sender, with
// no database in between. The server runs in-process outside production mode (production refuses an
// endpoint on 127.0.0.1, as it should).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { WebhookSender } from '../../src/modules/webhooks/webhook-sender';
import { newSigningSecret } from '../../src/modules/webhooks/webhook.service';

type Gql = <T>(url: string, query: string, variables: Record<string, unknown>, token: string) => Promise<T>;

export interface WebhookFigures {
  messages: number;
  /** From the first createLicenses call to the last delivery. */
  totalMs: number;
  /** The createLicenses calls alone. */
  createMs: number;
  /** From the last commit to the last delivery. */
  drainMs: number;
  /** The same number of signed POSTs, sent straight to the receiver. */
  bareMs: number;
}

const CALLS = 10;
const ROWS = 100;
const BARE_CONCURRENCY = 16;

function receiver(): Promise<{
  url: string;
  ids: Set<string>;
  waitFor(n: number, timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}> {
  const ids = new Set<string>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      ids.add(String(req.headers['webhook-id']));
      res.statusCode = 204;
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
        ids,
        async waitFor(n, timeoutMs) {
          const deadline = Date.now() + timeoutMs;
          while (ids.size < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
          return ids.size;
        },
        close: () => {
          server.closeAllConnections();
          return new Promise<void>((done) => server.close(() => done()));
        },
      }),
    ),
  );
}

/** `env`: the bench server's environment (its database); `customers`: visible to `adminToken`. */
export async function webhookThroughput(
  env: Record<string, string>,
  adminToken: string,
  customers: string[],
  gql: Gql,
): Promise<WebhookFigures> {
  const config = loadConfig({ ...env, NODE_ENV: 'development', LOG_LEVEL: 'silent', PORT: '0', WEBHOOK_WORKER: 'on' });
  const app = await startApp(config);
  const hooks = await receiver();
  try {
    await gql(
      app.url,
      'mutation($u: String!) { createWebhookEndpoint(url: $u, events: ["license.created"]) { endpoint { id } } }',
      { u: hooks.url },
      adminToken,
    );
    const validUntil = new Date(Date.now() + 365 * 86_400_000).toISOString();
    const started = performance.now();
    for (let call = 0; call < CALLS; call++) {
      const inputs = Array.from({ length: ROWS }, (_, i) => ({
        customerId: customers[i % customers.length],
        kind: 'MDM',
        seats: 1,
        validUntil,
      }));
      await gql(
        app.url,
        'mutation($i: [CreateLicenseInput!]!) { createLicenses(inputs: $i) { license { id } } }',
        { i: inputs },
        adminToken,
      );
    }
    const created = performance.now();
    const got = await hooks.waitFor(CALLS * ROWS, 60_000);
    const delivered = performance.now();
    if (got < CALLS * ROWS) throw new Error(`webhooks: ${got} of ${CALLS * ROWS} delivered within 60 s`);

    const bare = await receiver();
    const sender = new WebhookSender(false, 10_000);
    const secret = newSigningSecret();
    const bareStarted = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: BARE_CONCURRENCY }, async () => {
        while (next < CALLS * ROWS) {
          const n = next++;
          await sender.send(bare.url, secret, {
            id: `msg_bare_${n}`,
            type: 'license.created',
            timestamp: new Date(),
            data: { license: { id: `lic_${n}` } },
          });
        }
      }),
    );
    const bareMs = performance.now() - bareStarted;
    sender.close();
    await bare.close();
    return {
      messages: CALLS * ROWS,
      totalMs: Math.round(delivered - started),
      createMs: Math.round(created - started),
      drainMs: Math.round(delivered - created),
      bareMs: Math.round(bareMs),
    };
  } finally {
    await hooks.close();
    await app.stop();
  }
}
