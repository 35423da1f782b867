// Signed webhooks (FLOWS.md section 12), against a real HTTP receiver that verifies every signature with
// the Standard Webhooks library: endpoints and their limits, what each license event sends and to whom,
// retries on the schedule, redelivery, deletion, metrics. The worker is driven with explicit clocks
// (runOnce(now)) where the schedule's hours matter; elsewhere it runs on its own (WEBHOOK_WORKER=on).
import { expect } from 'chai';
import { Role } from '../../src/common/enums';
import { WebhookDelivery } from '../../src/modules/webhooks/webhook-delivery.entity';
import { WebhookEndpoint } from '../../src/modules/webhooks/webhook-endpoint.entity';
import { WebhookEvent } from '../../src/modules/webhooks/webhook-event.entity';
import { MAX_ATTEMPTS, RETRY_DELAYS_MS, retryDelay, secretContext } from '../../src/modules/webhooks/webhook-worker';
import { SecretBox } from '../../src/modules/auth/secrets';
import { Reseller } from '../../src/modules/resellers/reseller.entity';
import { makeCustomer, makeReseller, makeUser, signIn } from '../factories';
import { codeOf, ok, startTestServer, type TestServer } from '../helpers/server';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

const DAY = 86_400_000;
const CREATE_ENDPOINT = `mutation($url: String!, $events: [String!]!, $resellerId: ID) {
  createWebhookEndpoint(url: $url, events: $events, resellerId: $resellerId) { signingSecret endpoint { id url events active reseller { id } } }
}`;
const ENDPOINTS = '{ webhookEndpoints { id url events active reseller { id } } }';
const DELIVERIES = `query($id: ID!, $first: Int, $after: String) {
  webhookDeliveries(endpointId: $id, first: $first, after: $after) {
    totalCount edges { node { id event state attempts lastStatusCode lastError nextAttemptAt createdAt } } pageInfo { hasNextPage endCursor }
  }
}`;
const DELETE_ENDPOINT = 'mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }';
const REDELIVER = 'mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id event state attempts } }';
const CREATE_LICENSE = `mutation($customerId: ID!, $kind: LicenseKind = MDM) {
  createLicense(input: { customerId: $customerId, kind: $kind, seats: 5, validUntil: "2031-01-01T00:00:00Z" }) { id key }
}`;
const ALL_EVENTS = [
  'license.created',
  'license.updated',
  'license.revoked',
  'license.suspended',
  'license.reinstated',
  'license.transferred',
  'license.expiring',
];

async function count(s: TestServer, entity: typeof WebhookEndpoint | typeof WebhookDelivery | typeof WebhookEvent): Promise<number> {
  return s.app.services.orm.em.fork().count(entity as never, {});
}

describe('webhooks (FLOWS.md section 12)', function () {
  this.timeout(60_000);

  describe('endpoints, events and who gets them', () => {
    let s: TestServer;
    let receiver: Receiver;
    let r1: Awaited<ReturnType<typeof makeReseller>>;
    let r2: Awaited<ReturnType<typeof makeReseller>>;
    let staff1: string;
    let staff2: string;
    let admin: string;
    let customerUser: string;
    let c1: Awaited<ReturnType<typeof makeCustomer>>;
    let c2: Awaited<ReturnType<typeof makeCustomer>>;

    before(async () => {
      s = await startTestServer({ WEBHOOK_WORKER: 'on' });
      receiver = await startReceiver();
      r1 = await makeReseller(s);
      r2 = await makeReseller(s);
      c1 = await makeCustomer(s, r1);
      c2 = await makeCustomer(s, r2);
      staff1 = await signIn(s, await makeUser(s, { role: Role.RESELLER, reseller: r1 }));
      staff2 = await signIn(s, await makeUser(s, { role: Role.RESELLER, reseller: r2 }));
      admin = await signIn(s, await makeUser(s, { role: Role.ADMIN }));
      customerUser = await signIn(s, await makeUser(s, { role: Role.CUSTOMER, customer: c1 }));
    });
    after(async () => {
      await s?.stop();
      await receiver?.close();
    });

    /** An endpoint at the receiver, path-tagged so that the test can tell endpoints apart. */
    async function endpoint(token: string, tag: string, events = ALL_EVENTS, resellerId: string | null = null) {
      const created = ok(
        await s.gql<Json>(CREATE_ENDPOINT, { url: `${receiver.url}/${tag}`, events, resellerId }, token),
      ).createWebhookEndpoint;
      receiver.secrets.push(created.signingSecret);
      return created;
    }

    it("creates an endpoint for the caller's reseller; the whsec_ secret is shown once and stored only sealed", async () => {
      const created = await endpoint(staff1, 'r1');
      expect(created.signingSecret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(created.endpoint).to.include({ url: `${receiver.url}/r1`, active: true });
      expect(created.endpoint.reseller.id).to.equal(r1.id);
      const listed = ok(await s.gql<Json>(ENDPOINTS, {}, staff1)).webhookEndpoints;
      expect(listed.map((e: Json) => e.id)).to.deep.equal([created.endpoint.id]);
      expect(JSON.stringify(listed)).to.not.include('whsec_');
      const row = await s.app.services.orm.em.fork().findOneOrFail(WebhookEndpoint, created.endpoint.id);
      expect(row.secretSealed).to.not.include(created.signingSecret.slice(6, 20));
      expect(row.secretSealed).to.match(/^v1:/);
      const audit = ok(
        await s.gql<Json>(
          'query($id: ID!) { auditEvents(filter: { targetId: $id }) { edges { node { action } } } }',
          { id: created.endpoint.id },
          staff1,
        ),
      );
      expect(audit.auditEvents.edges.map((e: Json) => e.node.action)).to.deep.equal(['WEBHOOK_ENDPOINT_CREATED']);
    });

    it("sends license.created signed to the license's reseller's endpoint, never to another reseller's", async () => {
      await endpoint(staff2, 'r2');
      const adminWide = await endpoint(admin, 'all', ['license.created']);
      expect(adminWide.endpoint.reseller).to.equal(null);
      const before = receiver.received.length;
      const l1 = ok(await s.gql<Json>(CREATE_LICENSE, { customerId: c1.id }, staff1)).createLicense;
      const l2 = ok(await s.gql<Json>(CREATE_LICENSE, { customerId: c2.id }, staff2)).createLicense;
      await receiver.waitFor(before + 4);
      await new Promise((r) => setTimeout(r, 300));
      const got = receiver.received.slice(before);
      expect(receiver.unverified).to.deep.equal([]);
      const r1Got = got.filter((r) => r.path === '/hooks/r1');
      const r2Got = got.filter((r) => r.path === '/hooks/r2');
      const allGot = got.filter((r) => r.path === '/hooks/all');
      expect(r1Got.map((r) => r.message.data.license.id)).to.deep.equal([l1.id]);
      expect(r2Got.map((r) => r.message.data.license.id)).to.deep.equal([l2.id]);
      expect(allGot.map((r) => r.message.data.license.id).sort()).to.deep.equal([l1.id, l2.id].sort());
      const m = r1Got[0]!.message;
      expect(m.type).to.equal('license.created');
      expect(m.id).to.equal(r1Got[0]!.id).and.match(/^msg_/);
      expect(m.data.license).to.include({
        id: l1.id,
        key: l1.key,
        kind: 'MDM',
        seats: 5,
        status: 'ACTIVE',
        customerId: c1.id,
        resellerId: r1.id,
      });
      expect(Number(r1Got[0]!.timestamp)).to.be.closeTo(Date.now() / 1000, 30);
      expect(r1Got[0]!.signature).to.match(/^v1,[A-Za-z0-9+/]+=*$/);
    });

    it("createLicenses (one multi-row insert of the messages) wakes this process's worker on its commit, as one createLicense does, once per commit", async () => {
      const worker = s.app.services.webhookWorker;
      let nudges = 0;
      const nudge = worker.nudge.bind(worker);
      worker.nudge = () => {
        nudges++;
        nudge();
      };
      try {
        const before = receiver.received.length;
        const rows = [c1.id, c1.id, c2.id].map((customerId) => ({ customerId, kind: 'MDM', seats: 2, validUntil: '2031-01-01T00:00:00Z' }));
        const results = ok(
          await s.gql<Json>(
            'mutation($r: [CreateLicenseInput!]!) { createLicenses(inputs: $r) { license { id } error { code } } }',
            { r: rows },
            admin,
          ),
        ).createLicenses;
        expect(results.map((r: Json) => r.error)).to.deep.equal([null, null, null]);
        expect(nudges).to.equal(1);
        const ids = results.map((r: Json) => r.license.id);
        // r1's endpoint gets its two, r2's its one, the admin-wide endpoint all three.
        const got = await receiver.waitFor(before + 6);
        const created = got.slice(before).filter((r) => ids.includes(r.message.data.license.id));
        expect(
          created
            .filter((r) => r.path === '/hooks/r1')
            .map((r) => r.message.data.license.id)
            .sort(),
        ).to.deep.equal(ids.slice(0, 2).sort());
        expect(created.filter((r) => r.path === '/hooks/r2').map((r) => r.message.data.license.id)).to.deep.equal([ids[2]]);
        expect(
          created
            .filter((r) => r.path === '/hooks/all')
            .map((r) => r.message.data.license.id)
            .sort(),
        ).to.deep.equal([...ids].sort());
        // A refused batch commits nothing and wakes nobody.
        const refused = ok(
          await s.gql<Json>(
            'mutation($r: [CreateLicenseInput!]!) { createLicenses(inputs: $r) { license { id } error { code } } }',
            { r: [{ ...rows[0], seats: 0 }] },
            admin,
          ),
        ).createLicenses;
        expect(refused[0].license).to.equal(null);
        expect(nudges).to.equal(1);
        // One createLicense (a flush of the unit of work in its transaction): one nudge on its commit.
        ok(await s.gql<Json>(CREATE_LICENSE, { customerId: c1.id }, staff1));
        expect(nudges).to.equal(2);
        // Concurrent creations: each commit wakes the worker for its own messages.
        await Promise.all([
          s.gql<Json>(CREATE_LICENSE, { customerId: c1.id }, staff1).then(ok),
          s.gql<Json>(CREATE_LICENSE, { customerId: c2.id }, staff2).then(ok),
          s
            .gql<Json>('mutation($r: [CreateLicenseInput!]!) { createLicenses(inputs: $r) { license { id } } }', { r: rows }, admin)
            .then(ok),
        ]);
        expect(nudges).to.equal(5);
        // A message flushed outside any em.transactional (the ORM's own transaction around the flush): one nudge.
        const lone = await makeReseller(s);
        const em = s.app.services.orm.em.fork();
        em.create(WebhookEvent, { type: 'license.updated', licenseId: ids[0], resellerId: lone.id, data: '{}', createdAt: new Date() });
        await em.flush();
        expect(nudges).to.equal(6);
      } finally {
        worker.nudge = nudge;
      }
    });

    it('sends updated, suspended, reinstated and revoked with the license as it is after the change', async () => {
      const l = ok(await s.gql<Json>(CREATE_LICENSE, { customerId: c1.id }, staff1)).createLicense;
      const steps: [string, Record<string, unknown>][] = [
        ['mutation($id: ID!) { updateLicense(id: $id, input: { seats: 9 }) { id } }', {}],
        ['mutation($id: ID!) { updateLicense(id: $id, input: { kind: MOBILE_SECURITY }) { id } }', {}],
        ['mutation($id: ID!) { suspendLicense(id: $id, reason: "unpaid") { id } }', {}],
        ['mutation($id: ID!) { reinstateLicense(id: $id) { id } }', {}],
        ['mutation($id: ID!) { revokeLicense(id: $id) { id } }', {}],
      ];
      for (const [query, vars] of steps) ok(await s.gql(query, { id: l.id, ...vars }, staff1));
      const seen = await receiver.waitFor(6, (r) => r.path === '/hooks/r1' && r.message.data.license.id === l.id);
      const byType = (type: string) => seen.filter((r) => r.message.type === type).map((r) => r.message.data);
      const [seats, upgrade] = byType('license.updated');
      expect(seats).to.deep.include({ action: 'LICENSE_UPDATED', changes: { seats: { from: 5, to: 9 } } });
      expect(upgrade.action).to.equal('LICENSE_UPGRADED');
      expect(upgrade.license.kind).to.equal('MOBILE_SECURITY');
      expect(byType('license.suspended')[0]).to.deep.include({ action: 'LICENSE_SUSPENDED', reason: 'unpaid' });
      expect(byType('license.suspended')[0].license.status).to.equal('SUSPENDED');
      expect(byType('license.reinstated')[0].license.status).to.equal('ACTIVE');
      expect(byType('license.revoked')[0].license.status).to.equal('REVOKED');
      expect(receiver.unverified).to.deep.equal([]);
    });

    it('a transfer: the new reseller gets the license, the former one its id only', async () => {
      const moving = await makeCustomer(s, r1);
      const l = ok(await s.gql<Json>(CREATE_LICENSE, { customerId: moving.id }, staff1)).createLicense;
      ok(
        await s.gql(
          'mutation($c: ID!, $r: ID!) { transferCustomer(customerId: $c, toResellerId: $r, reason: "merger") { id } }',
          { c: moving.id, r: r2.id },
          admin,
        ),
      );
      const transferred = await receiver.waitFor(2, (r) => r.message.type === 'license.transferred' && r.message.data.license.id === l.id);
      const full = transferred.filter((r) => r.message.data.license.key !== undefined);
      const redacted = transferred.filter((r) => r.message.data.license.key === undefined);
      expect(full).to.have.length(1);
      expect(full[0]!.message.data.license).to.include({ id: l.id, resellerId: r2.id });
      expect(redacted).to.have.length(1);
      expect(redacted[0]!.message.data).to.deep.equal({ license: { id: l.id }, transferredAway: true });
    });

    it('sends license.expiring once per reminder threshold, with the days left', async () => {
      const soon = new Date(Date.now() + 5 * DAY).toISOString();
      const l = ok(
        await s.gql<Json>(
          'mutation($c: ID!, $u: DateTime!) { createLicense(input: { customerId: $c, kind: MDM, seats: 1, validUntil: $u }) { id } }',
          { c: c1.id, u: soon },
          staff1,
        ),
      ).createLicense;
      const expiring = (r: { path: string; message: { type: string; data: Json } }) =>
        r.path === '/hooks/r1' && r.message.type === 'license.expiring' && r.message.data.license.id === l.id;
      await s.app.services.reminders.run(s.app.services.orm.em.fork());
      const [got] = await receiver.waitFor(1, expiring);
      expect(got!.message.data.daysLeft).to.equal(7);
      expect(got!.message.data.license).to.include({ id: l.id, status: 'ACTIVE', resellerId: r1.id });
      // The next run finds the threshold claimed: no second message.
      await s.app.services.reminders.run(s.app.services.orm.em.fork());
      await s.app.services.webhookWorker.runOnce();
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.received.filter(expiring)).to.have.length(1);
      // Another reseller's endpoint hears nothing of it.
      expect(receiver.received.filter((r) => r.path === '/hooks/r2' && r.message.data.license.id === l.id)).to.deep.equal([]);
    });

    it("refuses what FLOWS refuses and changes nothing: customers' users, other resellers, bad URLs and events, a sixth endpoint", async () => {
      const endpoints = await count(s, WebhookEndpoint);
      expect(codeOf(await s.gql(CREATE_ENDPOINT, { url: receiver.url, events: ['license.created'] }, customerUser))).to.equal('FORBIDDEN');
      expect(codeOf(await s.gql(ENDPOINTS, {}, customerUser))).to.equal('FORBIDDEN');
      expect(codeOf(await s.gql(CREATE_ENDPOINT, { url: receiver.url, events: ['license.created'], resellerId: r2.id }, staff1))).to.equal(
        'NOT_FOUND',
      );
      for (const [url, events] of [
        ['http://hooks.example.com/x', ['license.created']],
        ['http://10.0.0.8/x', ['license.created']],
        ['https://169.254.169.254/latest/meta-data', ['license.created']],
        ['https://user:pw@hooks.example.com/', ['license.created']],
        ['not a url', ['license.created']],
        [receiver.url, []],
        [receiver.url, ['license.deleted']],
      ] as [string, string[]][]) {
        const res = await s.gql(CREATE_ENDPOINT, { url, events }, staff1);
        expect(codeOf(res), url).to.equal('BAD_USER_INPUT');
      }
      expect(await count(s, WebhookEndpoint)).to.equal(endpoints);
      // r1 has one endpoint: four more fill it up; the sixth is refused.
      for (let i = 0; i < 4; i += 1) await endpoint(staff1, `r1-extra-${i}`, ['license.expiring']);
      const sixth = await s.gql<Json>(CREATE_ENDPOINT, { url: receiver.url, events: ['license.created'] }, staff1);
      expect(codeOf(sixth)).to.equal('CONFLICT');
      expect(sixth.errors![0]!.extensions!.reason).to.equal('TOO_MANY_ENDPOINTS');
      expect(await count(s, WebhookEndpoint)).to.equal(endpoints + 4);
      // Another reseller's endpoints are invisible: deleting or reading them is NOT_FOUND.
      const theirs = ok(await s.gql<Json>(ENDPOINTS, {}, staff2)).webhookEndpoints[0];
      expect(codeOf(await s.gql(DELETE_ENDPOINT, { id: theirs.id }, staff1))).to.equal('NOT_FOUND');
      expect(codeOf(await s.gql(DELIVERIES, { id: theirs.id }, staff1))).to.equal('NOT_FOUND');
      expect(ok(await s.gql<Json>('query($id: ID!) { node(id: $id) { id } }', { id: theirs.id }, staff1)).node).to.equal(null);
      expect(ok(await s.gql<Json>(ENDPOINTS, {}, staff2)).webhookEndpoints.map((e: Json) => e.active)).to.deep.equal([true]);
    });

    it('lists deliveries newest first with their attempts; an admin sees every endpoint', async () => {
      const mine = ok(await s.gql<Json>(ENDPOINTS, {}, staff1)).webhookEndpoints[0];
      const page = ok(await s.gql<Json>(DELIVERIES, { id: mine.id, first: 3 }, staff1)).webhookDeliveries;
      expect(page.totalCount).to.be.greaterThan(3);
      expect(page.edges).to.have.length(3);
      expect(page.pageInfo.hasNextPage).to.equal(true);
      const times = page.edges.map((e: Json) => e.node.createdAt);
      expect([...times].sort().reverse()).to.deep.equal(times);
      for (const { node } of page.edges)
        expect(node).to.include({ state: 'DELIVERED', attempts: 1, lastStatusCode: 204, nextAttemptAt: null });
      const all = ok(await s.gql<Json>(ENDPOINTS, {}, admin)).webhookEndpoints;
      expect(all.length).to.equal(await s.app.services.orm.em.fork().count(WebhookEndpoint, { active: true }));
    });

    it('redeliverWebhook queues the same message (same id, new delivery); deleting an endpoint stops its deliveries', async () => {
      const mine = ok(await s.gql<Json>(ENDPOINTS, {}, staff1)).webhookEndpoints[0];
      const last = ok(await s.gql<Json>(DELIVERIES, { id: mine.id, first: 1 }, staff1)).webhookDeliveries.edges[0].node;
      const firstCopy = receiver.received.filter((r) => r.body.length > 0);
      const again = ok(await s.gql<Json>(REDELIVER, { id: last.id }, staff1)).redeliverWebhook;
      expect(again).to.include({ event: last.event, state: 'PENDING', attempts: 0 });
      expect(again.id).to.not.equal(last.id);
      const copies = await receiver.waitFor(firstCopy.length + 1);
      const newest = copies[copies.length - 1]!;
      const earlier = firstCopy.filter((r) => r.id === newest.id);
      expect(earlier.length, 'the redelivered message keeps its id').to.be.greaterThan(0);
      // Another reseller cannot redeliver it.
      expect(codeOf(await s.gql(REDELIVER, { id: last.id }, staff2))).to.equal('NOT_FOUND');

      ok(await s.gql(DELETE_ENDPOINT, { id: mine.id }, staff1));
      expect(ok(await s.gql<Json>(ENDPOINTS, {}, staff1)).webhookEndpoints.map((e: Json) => e.id)).to.not.include(mine.id);
      const before = receiver.received.length;
      const l = ok(await s.gql<Json>(CREATE_LICENSE, { customerId: c1.id }, staff1)).createLicense;
      await s.app.services.webhookWorker.runOnce();
      await new Promise((r) => setTimeout(r, 300));
      expect(
        receiver.received.slice(before).filter((r) => r.message.data.license.id === l.id && r.message.type === 'license.created'),
      ).to.have.length(
        1, // the admin-wide endpoint only
      );
      expect(codeOf(await s.gql(REDELIVER, { id: last.id }, staff1))).to.equal('BAD_USER_INPUT');
      // Its history stays readable.
      expect(ok(await s.gql<Json>(DELIVERIES, { id: mine.id }, staff1)).webhookDeliveries.totalCount).to.be.greaterThan(0);
    });

    it('an event nobody subscribed to leaves no outbox row; a refused change leaves no message', async () => {
      await s.app.services.webhookWorker.runOnce();
      const messages = await count(s, WebhookEvent);
      const refused = await s.gql(CREATE_LICENSE, { customerId: c2.id }, staff1);
      expect(codeOf(refused)).to.equal('NOT_FOUND');
      await s.app.services.webhookWorker.runOnce();
      expect(await count(s, WebhookEvent)).to.equal(messages);
      const undispatched = await s.app.services.orm.em.fork().count(WebhookEvent, { dispatchedAt: null });
      expect(undispatched).to.equal(0);
    });

    it('reports queued, delivered, failed and the oldest pending age on /metrics', async () => {
      const text = await (await fetch(`${s.url}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      expect(value('portal_webhook_deliveries_queued_total')).to.be.greaterThan(0);
      expect(value('portal_webhook_deliveries_delivered_total')).to.be.greaterThan(0);
      expect(value('portal_webhook_deliveries_failed_total')).to.be.at.least(0);
      expect(value('portal_webhook_oldest_pending_seconds')).to.be.at.least(0);
    });
  });

  describe("retries on the schedule (the worker driven by the test's clock)", () => {
    let s: TestServer;
    let receiver: Receiver;
    let admin: string;
    let staff: string;
    let customerId: string;
    let resellerId: string;

    before(async () => {
      s = await startTestServer({ WEBHOOK_TIMEOUT_SECONDS: '1' });
      receiver = await startReceiver();
      const reseller = await makeReseller(s);
      resellerId = reseller.id;
      customerId = (await makeCustomer(s, reseller)).id;
      admin = await signIn(s, await makeUser(s, { role: Role.ADMIN }));
      staff = await signIn(s, await makeUser(s, { role: Role.RESELLER, reseller }));
    });
    after(async () => {
      await s?.stop();
      await receiver?.close();
    });

    const run = (at: number) => s.app.services.webhookWorker.runOnce(new Date(at));
    const deliveryOf = async (endpointId: string) =>
      ok(await s.gql<Json>(DELIVERIES, { id: endpointId, first: 1 }, staff)).webhookDeliveries.edges[0].node;

    /** A fresh endpoint at /hooks/<tag> (replacing the previous one: at most 5) and one license event for it. */
    async function oneEvent(tag: string): Promise<{ endpointId: string; t0: number }> {
      for (const e of ok(await s.gql<Json>(ENDPOINTS, {}, staff)).webhookEndpoints) ok(await s.gql(DELETE_ENDPOINT, { id: e.id }, staff));
      const created = ok(
        await s.gql<Json>(CREATE_ENDPOINT, { url: `${receiver.url}/${tag}`, events: ['license.created'], resellerId }, admin),
      ).createWebhookEndpoint;
      receiver.secrets.push(created.signingSecret);
      ok(await s.gql(CREATE_LICENSE, { customerId }, staff));
      return { endpointId: created.endpoint.id, t0: Date.now() };
    }

    it('a receiver that fails 3 times then succeeds gets the event once as delivered, after 4 attempts 5 s, 5 min and 30 min apart', async () => {
      receiver.respond = (r) =>
        r.path === '/hooks/flaky' && receiver.received.filter((x) => x.path === '/hooks/flaky').length < 3 ? 500 : 204;
      const { endpointId, t0 } = await oneEvent('flaky');
      expect(await run(t0)).to.deep.equal({ queued: 1, delivered: 0, retried: 1, failed: 0 });
      let d = await deliveryOf(endpointId);
      expect(d).to.include({ state: 'PENDING', attempts: 1, lastStatusCode: 500 });
      const wait1 = Date.parse(d.nextAttemptAt) - t0;
      expect(wait1).to.be.within(4_500, 5_500 + 2_000);
      // Not due yet: nothing is sent.
      expect(await run(t0 + 4_000)).to.deep.equal({ queued: 0, delivered: 0, retried: 0, failed: 0 });
      const t1 = t0 + 6_000;
      expect((await run(t1)).retried).to.equal(1);
      d = await deliveryOf(endpointId);
      expect(Date.parse(d.nextAttemptAt) - t1).to.be.within(270_000, 330_000 + 2_000);
      const t2 = t1 + 340_000;
      expect((await run(t2)).retried).to.equal(1);
      d = await deliveryOf(endpointId);
      expect(Date.parse(d.nextAttemptAt) - t2).to.be.within(1_620_000, 1_980_000 + 2_000);
      expect(await run(t2 + 2_000_000)).to.deep.equal({ queued: 0, delivered: 1, retried: 0, failed: 0 });
      d = await deliveryOf(endpointId);
      expect(d).to.include({ state: 'DELIVERED', attempts: 4, lastStatusCode: 204, nextAttemptAt: null });
      const got = receiver.received.filter((r) => r.path === '/hooks/flaky');
      expect(got.map((r) => r.answered)).to.deep.equal([500, 500, 500, 204]);
      expect(new Set(got.map((r) => r.id)).size, 'every attempt carries the same webhook-id').to.equal(1);
      expect(receiver.unverified).to.deep.equal([]);
      // Nothing more, however late.
      expect((await run(t0 + 30 * DAY)).delivered).to.equal(0);
      expect(receiver.received.filter((r) => r.path === '/hooks/flaky')).to.have.length(4);
    });

    it('gives up after 8 attempts over about a day: FAILED, counted on /metrics', async () => {
      receiver.respond = (r) => (r.path === '/hooks/down' ? 503 : 204);
      const { endpointId, t0 } = await oneEvent('down');
      let at = t0;
      const waits: number[] = [];
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
        const result = await run(at);
        const d = await deliveryOf(endpointId);
        expect(d.attempts).to.equal(attempt);
        if (attempt < MAX_ATTEMPTS) {
          expect(result.retried).to.equal(1);
          waits.push(Date.parse(d.nextAttemptAt) - at);
          at = Date.parse(d.nextAttemptAt) + 1;
        } else {
          expect(result.failed).to.equal(1);
          expect(d).to.include({ state: 'FAILED', nextAttemptAt: null, lastStatusCode: 503 });
        }
      }
      expect(MAX_ATTEMPTS).to.equal(8);
      waits.forEach((wait, i) =>
        expect(wait, `wait ${i + 1}`).to.be.within(RETRY_DELAYS_MS[i]! * 0.9 - 1, RETRY_DELAYS_MS[i]! * 1.1 + 2_000),
      );
      const total = waits.reduce((a, b) => a + b, 0);
      expect(total / 3_600_000).to.be.within(24, 32);
      expect(receiver.received.filter((r) => r.path === '/hooks/down')).to.have.length(8);
      const text = await (await fetch(`${s.url}/metrics`)).text();
      expect(Number(/^portal_webhook_deliveries_failed_total (\S+)$/m.exec(text)?.[1])).to.be.at.least(1);
    });

    it('the jitter stays within 10 % of the schedule', () => {
      expect(retryDelay(1, () => 0)).to.equal(4_500);
      expect(retryDelay(1, () => 1)).to.equal(5_500);
      expect(retryDelay(7, () => 0.5)).to.equal(36_000_000);
      expect(retryDelay(8)).to.equal(null);
    });

    it('a receiver that does not answer within the timeout is a failed attempt; a redirect is not followed', async () => {
      receiver.respond = (r) => (r.path === '/hooks/slow' ? 'hang' : 204);
      const slow = await oneEvent('slow');
      const started = Date.now();
      expect((await run(slow.t0)).retried).to.equal(1);
      expect(Date.now() - started).to.be.below(10_000);
      expect(await deliveryOf(slow.endpointId)).to.include({ attempts: 1, lastStatusCode: null, lastError: 'timeout' });

      const redirect = await oneEvent('moved');
      receiver.respond = (r) => (r.path === '/hooks/moved' ? 307 : 204);
      expect((await run(redirect.t0)).retried).to.equal(1);
      expect(await deliveryOf(redirect.endpointId)).to.include({ attempts: 1, lastStatusCode: 307 });
      expect(receiver.received.filter((r) => r.path === '/hooks/moved')).to.have.length(1);
    });
  });

  describe("in production: no endpoint on the server's own network", () => {
    let s: TestServer;
    let receiver: Receiver;
    let admin: string;
    let resellerId: string;
    let customerId: string;

    before(async () => {
      s = await startTestServer({ NODE_ENV: 'production' });
      receiver = await startReceiver();
      const reseller = await makeReseller(s);
      resellerId = reseller.id;
      customerId = (await makeCustomer(s, reseller)).id;
      admin = await signIn(s, await makeUser(s, { role: Role.ADMIN }));
    });
    after(async () => {
      await s?.stop();
      await receiver?.close();
    });

    it('refuses http, loopback, private, link-local, metadata and mapped addresses, and local names', async () => {
      const before = await count(s, WebhookEndpoint);
      for (const url of [
        receiver.url,
        `http://localhost:${receiver.port}/hooks`,
        'http://hooks.example.com/',
        'https://127.0.0.1/',
        'https://127.1.2.3/',
        'https://localhost/',
        'https://api.localhost/',
        'https://[::1]/',
        'https://[::ffff:127.0.0.1]/',
        'https://[::ffff:7f00:1]/',
        'https://0.0.0.0/',
        'https://10.1.2.3/',
        'https://172.16.5.4/',
        'https://192.168.1.1/',
        'https://100.64.0.1/',
        'https://169.254.169.254/latest/meta-data/',
        'https://[fd00:ec2::254]/',
        'https://[fe80::1]/',
        'https://224.0.0.1/',
      ]) {
        const res = await s.gql<Json>(CREATE_ENDPOINT, { url, events: ['license.created'], resellerId }, admin);
        expect(codeOf(res), url).to.equal('BAD_USER_INPUT');
        expect(res.errors![0]!.extensions!.reason, url).to.equal('URL_REFUSED');
      }
      expect(await count(s, WebhookEndpoint)).to.equal(before);
      // A public https address is accepted.
      ok(await s.gql(CREATE_ENDPOINT, { url: 'https://203.0.114.10/hooks', events: ['license.created'], resellerId }, admin));
    });

    it('checks the address again when delivering: a name resolving to 127.0.0.1, or such an address stored earlier, is never connected to', async () => {
      // As if created when the name was public (DNS rebinding), or by an older version: straight into the table.
      const em = s.app.services.orm.em.fork();
      const box = new SecretBox(s.config.secretKey);
      for (const url of [`https://localhost:${receiver.port}/hooks/rebound`, `https://127.0.0.1:${receiver.port}/hooks/literal`]) {
        const e = em.create(WebhookEndpoint, {
          url,
          events: ['license.created'],
          reseller: em.getReference(Reseller, resellerId),
          secretSealed: '',
          active: true,
          createdAt: new Date(Date.now() - 1000),
        });
        e.secretSealed = box.seal('whsec_' + Buffer.alloc(32, 1).toString('base64'), secretContext(e.id));
      }
      await em.flush();
      ok(await s.gql(CREATE_LICENSE, { customerId }, admin));
      await s.app.services.webhookWorker.runOnce();
      const deliveries = await s.app.services.orm.em
        .fork()
        .find(WebhookDelivery, { endpoint: { url: { $like: `%:${receiver.port}/%` } } }, { populate: ['endpoint'] });
      expect(deliveries).to.have.length(2);
      for (const d of deliveries) expect(d).to.include({ attempts: 1, lastStatusCode: null, lastError: 'address refused' });
      expect(receiver.connections).to.equal(0);
      expect(receiver.received).to.deep.equal([]);
    });
  });
});
