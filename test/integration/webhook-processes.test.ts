// Webhooks across real server processes (FLOWS.md section 12), on SQLite (one file) and on PostgreSQL:
// a crash after the commit loses nothing, a process killed mid-delivery hands the delivery on, and two
// processes deliver each event once. The receiver verifies every signature.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Role } from '../../src/common/enums';
import type { Config } from '../../src/config';
import { openOrm, type Orm } from '../../src/db/orm';
import type { Customer } from '../../src/modules/customers/customer.entity';
import { WebhookDelivery } from '../../src/modules/webhooks/webhook-delivery.entity';
import { makeCustomer, makeReseller, makeUser, signIn } from '../factories';
import { dropPgSchema, factoryTarget, openOrmFor, startServerProcess, type RunningServer } from '../helpers/process';
import { ok, testEnv, usingPostgres } from '../helpers/server';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

const CREATE_ENDPOINT = `mutation($url: String!) {
  createWebhookEndpoint(url: $url, events: ["license.created"]) { signingSecret endpoint { id } }
}`;
const CREATE_LICENSE = `mutation($c: ID!) {
  createLicense(input: { customerId: $c, kind: MDM, seats: 1, validUntil: "2031-01-01T00:00:00Z" }) { id }
}`;
const CREATE_LICENSES = `mutation($rows: [CreateLicenseInput!]!) { createLicenses(inputs: $rows) { license { id } error { code } } }`;

describe('webhooks across server processes', function () {
  this.timeout(120_000);
  let dir: string;
  let schema: string;
  let env: Record<string, string>;
  let receiver: Receiver;
  let orm: Orm;
  let config: Config;
  let customer: Customer;
  const running: RunningServer[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lp-webhooks-'));
    schema = `t_${randomBytes(6).toString('hex')}`;
    // A 1 s attempt timeout: a claim of a killed process runs out after 6 s.
    env = testEnv(dir, schema, { LOG_LEVEL: 'info', WEBHOOK_WORKER: 'on', WEBHOOK_TIMEOUT_SECONDS: '1' });
    if (usingPostgres()) {
      const admin = await openOrm({ engine: 'postgresql', url: process.env.TEST_DATABASE_URL! });
      try {
        await admin.em.getConnection().execute(`create schema "${schema}"`);
      } finally {
        await admin.close(true);
      }
    }
    ({ orm, config } = await openOrmFor(env));
    receiver = await startReceiver();
    customer = await makeCustomer(factoryTarget(orm, config), await makeReseller(factoryTarget(orm, config)));
  });

  after(async () => {
    await Promise.all(running.map((s) => s.stop()));
    await orm?.close(true);
    await receiver?.close();
    await dropPgSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(extra: Record<string, string> = {}): Promise<RunningServer> {
    const server = await startServerProcess({ ...env, ...extra }, dir);
    running.push(server);
    return server;
  }

  /** A new admin signed in through `server`, and an endpoint at /hooks/<tag> for every reseller's license.created. */
  async function adminWithEndpoint(server: RunningServer, tag: string): Promise<string> {
    const token = await signIn(
      factoryTarget(orm, config, server),
      await makeUser(factoryTarget(orm, config, server), { role: Role.ADMIN }),
    );
    const created = ok(await server.gql<Json>(CREATE_ENDPOINT, { url: `${receiver.url}/${tag}` }, token)).createWebhookEndpoint;
    receiver.secrets.push(created.signingSecret);
    return token;
  }

  async function kill(server: RunningServer): Promise<void> {
    server.proc.child.kill('SIGKILL');
    expect((await server.proc.closed).signal).to.equal('SIGKILL');
  }

  it('a crash right after the commit loses nothing: the next process delivers the event', async () => {
    // A records the event but delivers nothing (its worker is off): as if it died before its worker ran.
    const a = await start({ WEBHOOK_WORKER: 'off' });
    const token = await adminWithEndpoint(a, 'crash');
    const license = ok(await a.gql<Json>(CREATE_LICENSE, { c: customer.id }, token)).createLicense;
    await kill(a);
    expect(receiver.received.filter((r) => r.path === '/hooks/crash')).to.deep.equal([]);
    const b = await start();
    const [got] = await receiver.waitFor(1, (r) => r.path === '/hooks/crash');
    expect(got!.message.data.license.id).to.equal(license.id);
    expect(receiver.unverified).to.deep.equal([]);
    await b.stop();
  });

  it('a process killed in the middle of a delivery: its claim runs out and another process delivers it once', async () => {
    let hung = false;
    receiver.respond = (r) => {
      if (r.path !== '/hooks/hang' || hung) return 204;
      hung = true;
      return 'hang';
    };
    const a = await start();
    const token = await adminWithEndpoint(a, 'hang');
    const license = ok(await a.gql<Json>(CREATE_LICENSE, { c: customer.id }, token)).createLicense;
    const [first] = await receiver.waitFor(1, (r) => r.path === '/hooks/hang');
    expect(first!.answered).to.equal(null);
    await kill(a);
    await start();
    const both = await receiver.waitFor(2, (r) => r.path === '/hooks/hang', 30_000);
    expect(both.map((r) => r.answered)).to.deep.equal([null, 204]);
    expect(both[1]!.id).to.equal(first!.id);
    expect(both[1]!.message.data.license.id).to.equal(license.id);
    // The receiver answers before the worker records the outcome: wait (bounded) until it is recorded.
    const recorded = async () =>
      (await orm.em.fork().find(WebhookDelivery, { message: first!.id, endpoint: { url: `${receiver.url}/hang` } })).map((d) => [
        d.state,
        d.attempts,
      ]);
    let states = await recorded();
    for (let tries = 0; tries < 100 && states.some(([state]) => state === 'PENDING'); tries += 1) {
      await new Promise((r) => setTimeout(r, 100));
      states = await recorded();
    }
    expect(states).to.deep.equal([['DELIVERED', 1]]);
    receiver.respond = () => 204;
  });

  it('two processes deliver each of 60 events exactly once', async () => {
    for (const server of running.splice(0)) await server.stop();
    const [a, b] = await Promise.all([start(), start()]);
    const token = await adminWithEndpoint(a!, 'pair');
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      const server = i % 2 ? a! : b!;
      ids.push(ok(await server.gql<Json>(CREATE_LICENSE, { c: customer.id }, token)).createLicense.id);
    }
    const rows = Array.from({ length: 40 }, () => ({ customerId: customer.id, kind: 'MDM', seats: 1, validUntil: '2031-01-01T00:00:00Z' }));
    const results = ok(await b!.gql<Json>(CREATE_LICENSES, { rows }, token)).createLicenses;
    ids.push(...results.map((r: Json) => r.license.id));
    await receiver.waitFor(60, (r) => r.path === '/hooks/pair', 30_000);
    // Time for a duplicate to show up if there were one.
    await new Promise((r) => setTimeout(r, 2_500));
    const got = receiver.received.filter((r) => r.path === '/hooks/pair');
    expect(got).to.have.length(60);
    expect(new Set(got.map((r) => r.id)).size).to.equal(60);
    expect(got.map((r) => r.message.data.license.id).sort()).to.deep.equal([...ids].sort());
    expect(receiver.unverified).to.deep.equal([]);
  });
});
