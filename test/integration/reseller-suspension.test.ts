// Suspending a reseller (FLOWS.md section 9): its users are signed out and refused at sign-in with
// FORBIDDEN / RESELLER_SUSPENDED; its licenses answer SUSPENDED in every read path (license(id), the root
// list, nested lists, filters, counts, hasValidLicense, the CSV export, expiry reminders); nothing new is
// created under it; its customers' users keep read access; reinstateReseller undoes all of it.
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Role } from '../../src/common/enums';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import type { Customer } from '../../src/modules/customers/customer.entity';
import type { License } from '../../src/modules/licenses/license.entity';
import type { Reseller } from '../../src/modules/resellers/reseller.entity';
import { freshCode, makeCustomer, makeLicense, makeReseller, makeUser, PASSWORD, signIn, type TestUser } from '../factories';
import { runCli } from '../helpers/cli';
import { codeOf, ok, startTestServer, type TestServer } from '../helpers/server';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

const SUSPEND = 'mutation($id: ID!, $r: String!) { suspendReseller(id: $id, reason: $r) { id suspendedAt suspensionReason } }';
const REINSTATE = 'mutation($id: ID!) { reinstateReseller(id: $id) { id suspendedAt suspensionReason } }';
const LOGIN = `mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage } }`;
const DAY = 86_400_000;

describe('reseller suspension (FLOWS.md section 9)', function () {
  this.timeout(120_000);
  let s: TestServer;
  let adminToken: string;

  before(async () => {
    s = await startTestServer();
    adminToken = await signIn(s, await makeUser(s, { role: Role.ADMIN }));
  });
  after(() => s?.stop());

  interface World {
    reseller: Reseller;
    customer: Customer;
    other: Reseller;
    otherCustomer: Customer;
    active: License;
    expiringSoon: License;
    pending: License;
    revoked: License;
    foreign: License;
    staff: TestUser;
    customerUser: TestUser;
  }

  /** A reseller with a customer, licenses in every state, its user and its customer's user; and a second reseller. */
  async function world(): Promise<World> {
    const reseller = await makeReseller(s);
    const customer = await makeCustomer(s, reseller);
    const other = await makeReseller(s);
    const otherCustomer = await makeCustomer(s, other);
    const now = Date.now();
    return {
      reseller,
      customer,
      other,
      otherCustomer,
      active: await makeLicense(s, customer),
      expiringSoon: await makeLicense(s, customer, { validUntil: new Date(now + 5 * DAY) }),
      pending: await makeLicense(s, customer, { validFrom: new Date(now + 10 * DAY) }),
      revoked: await makeLicense(s, customer, { revokedAt: new Date(now - DAY) }),
      foreign: await makeLicense(s, otherCustomer),
      staff: await makeUser(s, { role: Role.RESELLER, reseller }),
      customerUser: await makeUser(s, { role: Role.CUSTOMER, customer }),
    };
  }

  const suspend = (id: string, reason = 'invoice 2026-117 unpaid', token = adminToken) => s.gql<Json>(SUSPEND, { id, r: reason }, token);
  const statusOf = async (id: string, token = adminToken) =>
    ok(await s.gql<Json>('query($id: ID!) { license(id: $id) { status } }', { id }, token)).license.status;
  const events = (targetId: string, action: string) => s.app.services.orm.em.fork().find(AuditEvent, { targetId, action });

  it("signs the reseller's users out; with the right password and code they get FORBIDDEN / RESELLER_SUSPENDED, a wrong password stays UNAUTHENTICATED", async () => {
    const w = await world();
    const session = await signIn(s, w.staff);
    const apiToken = ok(await s.gql<Json>('mutation { createApiToken(name: "erp") { token } }', {}, session)).createApiToken.token;
    const customerSession = await signIn(s, w.customerUser);

    const res = ok(await suspend(w.reseller.id, '  invoice 2026-117 unpaid ')).suspendReseller;
    expect(res.id).to.equal(w.reseller.id);
    expect(Date.parse(res.suspendedAt)).to.be.closeTo(Date.now(), 60_000);
    expect(res.suspensionReason).to.equal('invoice 2026-117 unpaid');

    for (const token of [session, apiToken]) {
      const me = await s.gql('{ me { id } }', {}, token);
      expect([me.status, codeOf(me)]).to.deep.equal([200, 'UNAUTHENTICATED']);
    }
    const refused = await s.gql(LOGIN, { e: w.staff.email, p: PASSWORD, c: freshCode(w.staff) });
    expect(codeOf(refused)).to.equal('FORBIDDEN');
    expect(refused.errors![0]!.extensions!.reason).to.equal('RESELLER_SUSPENDED');
    expect(refused.data).to.equal(null);
    const passwordAlone = await s.gql(LOGIN, { e: w.staff.email, p: PASSWORD, c: null });
    expect(passwordAlone.errors![0]!.extensions!.reason).to.equal('RESELLER_SUSPENDED');
    expect(codeOf(await s.gql(LOGIN, { e: w.staff.email, p: 'not the password', c: null }))).to.equal('UNAUTHENTICATED');

    // The customer's user keeps read access, sees SUSPENDED, and no reason.
    const view = ok(
      await s.gql<Json>(
        '{ me { customer { hasValidLicense reseller { suspendedAt suspensionReason } licenses(first: 10) { edges { node { id status } } } } } }',
        {},
        customerSession,
      ),
    ).me.customer;
    expect(view.hasValidLicense).to.equal(false);
    expect(view.reseller.suspendedAt).to.be.a('string');
    expect(view.reseller.suspensionReason).to.equal(null);
    const statuses = Object.fromEntries(view.licenses.edges.map((e: Json) => [e.node.id, e.node.status]));
    expect(statuses).to.deep.equal({
      [w.active.id]: 'SUSPENDED',
      [w.expiringSoon.id]: 'SUSPENDED',
      [w.pending.id]: 'SUSPENDED',
      [w.revoked.id]: 'REVOKED',
    });

    // The reseller's users are told; the reason is not in the e-mail.
    await s.app.services.background.drain();
    const mail = s.outbox().find((m) => m.includes(w.staff.email) && /suspended/i.test(m));
    expect(mail, 'suspension e-mail').to.be.a('string');
    expect(mail).to.not.include('invoice 2026-117');
  });

  it('its licenses answer SUSPENDED in the root list, filters, counts, nested lists and hasValidLicense; other resellers are untouched', async () => {
    const w = await world();
    ok(await suspend(w.reseller.id));
    const q = ok(
      await s.gql<Json>(
        `query($r: ID!, $c: ID!) {
          all: licenses(first: 100, filter: { customerId: $c }) { totalCount edges { node { id status } } }
          suspended: licenses(first: 100, filter: { customerId: $c, status: [SUSPENDED] }) { totalCount edges { node { id } } }
          active: licenses(first: 100, filter: { customerId: $c, status: [ACTIVE, PENDING] }) { totalCount }
          expiring: licenses(first: 100, filter: { customerId: $c, expiresBefore: "${new Date(Date.now() + 30 * DAY).toISOString()}" }) { edges { node { id status } } }
          valid: customers(first: 100, filter: { resellerId: $r, hasValidLicense: true }) { totalCount }
          invalid: customers(first: 100, filter: { resellerId: $r, hasValidLicense: false }) { totalCount }
          node(id: $r) { ... on Reseller { customers(first: 5) { edges { node { hasValidLicense licenses(first: 10, filter: { status: [SUSPENDED] }) { totalCount } } } } } }
        }`,
        { r: w.reseller.id, c: w.customer.id },
        adminToken,
      ),
    );
    expect(q.all.totalCount).to.equal(4);
    expect(q.all.edges.filter((e: Json) => e.node.status === 'SUSPENDED')).to.have.length(3);
    expect(q.suspended.totalCount).to.equal(3);
    expect(q.suspended.edges.map((e: Json) => e.node.id).sort()).to.deep.equal([w.active.id, w.expiringSoon.id, w.pending.id].sort());
    expect(q.active.totalCount).to.equal(0);
    expect(q.expiring.edges).to.deep.equal([{ node: { id: w.expiringSoon.id, status: 'SUSPENDED' } }]);
    expect([q.valid.totalCount, q.invalid.totalCount]).to.deep.equal([0, 1]);
    expect(q.node.customers.edges).to.deep.equal([{ node: { hasValidLicense: false, licenses: { totalCount: 3 } } }]);
    expect(await statusOf(w.foreign.id)).to.equal('ACTIVE');
    expect(await statusOf(w.active.id)).to.equal('SUSPENDED');
  });

  it('the CSV export shows SUSPENDED; the CSV import refuses rows under it (FORBIDDEN), and creates under others', async () => {
    const w = await world();
    ok(await suspend(w.reseller.id));
    const exported = await runCli(['export-licenses', '--reseller', w.reseller.id], s.env);
    expect(exported.code, exported.stderr).to.equal(0);
    const lines = exported.stdout.trim().split('\n').slice(1);
    const statuses = lines.map((line) => line.split(',').at(-1)).sort();
    expect(statuses).to.deep.equal(['REVOKED', 'SUSPENDED', 'SUSPENDED', 'SUSPENDED']);

    const file = join(s.dir, `import-${w.reseller.id}.csv`);
    const until = new Date(Date.now() + 90 * DAY).toISOString();
    writeFileSync(file, `customer,kind,seats,validUntil\n${w.customer.id},MDM,5,${until}\n${w.otherCustomer.id},MDM,6,${until}\n`);
    const before = await s.app.services.orm.em.fork().count('License', { customer: w.customer.id });
    const imported = await runCli(['import-licenses', '--file', file], s.env);
    expect(imported.code, imported.stderr).to.equal(2);
    const report = imported.stdout.trim().split('\n');
    expect(report[1]).to.match(/^2,error,,,FORBIDDEN,/);
    expect(report[2]).to.match(/^3,created,/);
    expect(await s.app.services.orm.em.fork().count('License', { customer: w.customer.id })).to.equal(before);
  });

  it('expiry reminders skip its licenses, and send them again once it is reinstated', async () => {
    const w = await world();
    ok(await suspend(w.reseller.id));
    const run = () => s.app.services.reminders.run(s.app.services.orm.em.fork(), new Date());
    await run();
    await s.app.services.background.drain();
    const about = () => s.outbox().filter((m) => m.includes(w.staff.email) && m.includes(w.expiringSoon.key));
    expect(about()).to.deep.equal([]);
    ok(await s.gql(REINSTATE, { id: w.reseller.id }, adminToken));
    await run();
    await s.app.services.background.drain();
    expect(about()).to.have.length(1);
  });

  it('creating customers, licenses or users under it is FORBIDDEN / RESELLER_SUSPENDED and writes nothing', async () => {
    const w = await world();
    ok(await suspend(w.reseller.id));
    const until = new Date(Date.now() + 90 * DAY).toISOString();
    const em = s.app.services.orm.em.fork();
    const counts = async () => [await em.count('Customer', {}), await em.count('License', {}), await em.count('User', {})];
    const before = await counts();
    const attempts = [
      await s.gql(
        'mutation($r: ID!) { createCustomer(input: { name: "New GmbH", resellerId: $r }) { id } }',
        { r: w.reseller.id },
        adminToken,
      ),
      await s.gql(
        'mutation($c: ID!, $u: DateTime!) { createLicense(input: { customerId: $c, kind: MDM, seats: 3, validUntil: $u }) { id } }',
        { c: w.customer.id, u: until },
        adminToken,
      ),
      await s.gql(
        'mutation($r: ID!) { createUser(input: { email: "new-staff@example.test", name: "New", role: RESELLER, resellerId: $r }) { id } }',
        { r: w.reseller.id },
        adminToken,
      ),
      await s.gql(
        'mutation($c: ID!) { createUser(input: { email: "new-customer-user@example.test", name: "New", role: CUSTOMER, customerId: $c }) { id } }',
        { c: w.customer.id },
        adminToken,
      ),
    ];
    for (const res of attempts) {
      expect(codeOf(res), JSON.stringify(res.errors)).to.equal('FORBIDDEN');
      expect(res.errors![0]!.extensions!.reason).to.equal('RESELLER_SUSPENDED');
    }
    const batch = ok(
      await s.gql<Json>(
        'mutation($i: [CreateLicenseInput!]!) { createLicenses(inputs: $i) { license { id } error { code } } }',
        {
          i: [
            { customerId: w.customer.id, kind: 'MDM', seats: 1, validUntil: until },
            { customerId: w.otherCustomer.id, kind: 'MDM', seats: 1, validUntil: until },
          ],
        },
        adminToken,
      ),
    ).createLicenses;
    expect(batch[0]).to.deep.equal({ license: null, error: { code: 'FORBIDDEN' } });
    expect(batch[1].license.id).to.be.a('string');
    const after = await counts();
    expect(after).to.deep.equal([before[0], before[1]! + 1, before[2]]);
  });

  it('reinstateReseller undoes it: statuses by date again, sign-in works, new objects allowed; both are audited with the reason', async () => {
    const w = await world();
    ok(await suspend(w.reseller.id, 'unpaid'));
    const res = ok(await s.gql<Json>(REINSTATE, { id: w.reseller.id }, adminToken)).reinstateReseller;
    expect(res).to.deep.equal({ id: w.reseller.id, suspendedAt: null, suspensionReason: null });
    expect(await statusOf(w.active.id)).to.equal('ACTIVE');
    expect(await statusOf(w.pending.id)).to.equal('PENDING');
    expect(await statusOf(w.revoked.id)).to.equal('REVOKED');
    const token = await signIn(s, w.staff);
    ok(await s.gql('mutation { createCustomer(input: { name: "After GmbH" }) { id } }', {}, token));

    const [suspended] = await events(w.reseller.id, 'RESELLER_SUSPENDED');
    expect(suspended!.reason).to.equal('unpaid');
    expect(JSON.parse(suspended!.changes!).suspendedAt.from).to.equal(null);
    const [reinstated] = await events(w.reseller.id, 'RESELLER_REINSTATED');
    expect(JSON.parse(reinstated!.changes!).suspendedAt.to).to.equal(null);
    // The reseller's own audit log shows both (events about the reseller are the reseller's).
    const actions = ok(
      await s.gql<Json>('{ auditEvents(first: 20) { edges { node { action reason } } } }', {}, token),
    ).auditEvents.edges.map((e: Json) => e.node.action);
    expect(actions).to.include.members(['RESELLER_SUSPENDED', 'RESELLER_REINSTATED']);
  });

  it('bad input: empty or over-long reason, unknown id; suspending twice is idempotent; only admins', async () => {
    const w = await world();
    for (const reason of ['', '  ', 'x'.repeat(501)]) {
      const res = await suspend(w.reseller.id, reason);
      expect(codeOf(res), JSON.stringify(reason)).to.equal('BAD_USER_INPUT');
      expect(res.errors![0]!.extensions!.field).to.equal('reason');
    }
    expect(codeOf(await suspend(`rsl_${'0'.repeat(24)}`))).to.equal('NOT_FOUND');
    expect(codeOf(await s.gql(REINSTATE, { id: `rsl_${'0'.repeat(24)}` }, adminToken))).to.equal('NOT_FOUND');
    const staffToken = await signIn(s, w.staff);
    expect(codeOf(await suspend(w.other.id, 'competitor', staffToken))).to.equal('FORBIDDEN');
    expect(codeOf(await suspend(w.reseller.id, 'self', staffToken))).to.equal('FORBIDDEN');
    expect(await statusOf(w.active.id)).to.equal('ACTIVE');
    expect(await events(w.reseller.id, 'RESELLER_SUSPENDED')).to.deep.equal([]);

    const first = ok(await suspend(w.reseller.id, 'y'.repeat(500))).suspendReseller;
    const second = ok(await suspend(w.reseller.id, 'another reason')).suspendReseller;
    expect(second).to.deep.equal(first);
    expect(await events(w.reseller.id, 'RESELLER_SUSPENDED')).to.have.length(1);
  });
});
