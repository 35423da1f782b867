// The license lifecycle (FLOWS.md section 10) as a reseller sees it: suspend and reinstate, upgrade,
// renewal, moving a license booked on the wrong customer, and the license's history in the audit log.
import { expect } from 'chai';
import { LicenseKind, Role } from '../../src/common/enums';
import { License } from '../../src/modules/licenses/license.entity';
import { makeCustomer, makeLicense, makeReseller, makeUser, signIn } from '../factories';
import { codeOf, ok, startTestServer, type TestServer } from '../helpers/server';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

const DAY = 86_400_000;
const FIELDS = 'id kind seats validUntil status suspendedAt customer { id } reseller { id }';
const HISTORY = `query($id: ID!, $since: DateTime, $action: String) {
  auditEvents(first: 50, filter: { targetId: $id, since: $since, action: $action }) {
    totalCount edges { node { action targetId changes reason actor { id } } }
  }
}`;

describe('license lifecycle (FLOWS.md section 10)', function () {
  this.timeout(60_000);
  let s: TestServer;
  let token: string;
  let otherToken: string;
  let adminToken: string;
  let reseller: Awaited<ReturnType<typeof makeReseller>>;
  let staffId: string;

  before(async () => {
    s = await startTestServer();
    reseller = await makeReseller(s);
    const staff = await makeUser(s, { role: Role.RESELLER, reseller });
    staffId = staff.user.id;
    token = await signIn(s, staff);
    otherToken = await signIn(s, await makeUser(s, { role: Role.RESELLER, reseller: await makeReseller(s) }));
    adminToken = await signIn(s, await makeUser(s, { role: Role.ADMIN }));
  });
  after(() => s?.stop());

  const mutate = (query: string, vars: Record<string, unknown>, as = token) => s.gql<Json>(query, vars, as);
  const suspend = (id: string, reason = 'customer has not paid', as = token) =>
    mutate(`mutation($id: ID!, $r: String!) { suspendLicense(id: $id, reason: $r) { ${FIELDS} } }`, { id, r: reason }, as);
  const reinstate = (id: string, as = token) => mutate(`mutation($id: ID!) { reinstateLicense(id: $id) { ${FIELDS} } }`, { id }, as);
  const update = (id: string, input: Record<string, unknown>, as = token) =>
    mutate(`mutation($id: ID!, $i: UpdateLicenseInput!) { updateLicense(id: $id, input: $i) { ${FIELDS} } }`, { id, i: input }, as);
  const move = (id: string, to: string, as = token) =>
    mutate(`mutation($id: ID!, $to: ID!) { moveLicense(id: $id, toCustomerId: $to) { ${FIELDS} } }`, { id, to }, as);
  const history = async (id: string, as = token, extra: Record<string, unknown> = {}) =>
    ok(await s.gql<Json>(HISTORY, { id, ...extra }, as)).auditEvents;
  const db = (id: string) => s.app.services.orm.em.fork().findOneOrFail(License, id);

  it('one license across create, renew, upgrade, suspend, reinstate, move and revoke: its history is its events, oldest last', async () => {
    const customer = await makeCustomer(s, reseller);
    const rightCustomer = await makeCustomer(s, reseller);
    const until = new Date(Date.now() + 30 * DAY);
    const created = ok(
      await mutate(
        `mutation($c: ID!, $u: DateTime!) { createLicense(input: { customerId: $c, kind: MDM, seats: 5, validUntil: $u }) { ${FIELDS} } }`,
        { c: customer.id, u: until.toISOString() },
      ),
    ).createLicense;
    const id = created.id;
    const renewedUntil = new Date(until.getTime() + 365 * DAY);

    expect(ok(await update(id, { validUntil: renewedUntil.toISOString() })).updateLicense.validUntil).to.equal(renewedUntil.toISOString());
    expect(ok(await update(id, { kind: 'MOBILE_SECURITY' })).updateLicense.kind).to.equal('MOBILE_SECURITY');
    const suspended = ok(await suspend(id, 'invoice 4711 unpaid')).suspendLicense;
    expect(suspended.status).to.equal('SUSPENDED');
    expect(suspended.suspendedAt).to.be.a('string');
    const back = ok(await reinstate(id)).reinstateLicense;
    expect([back.status, back.suspendedAt]).to.deep.equal(['ACTIVE', null]);
    const moved = ok(await move(id, rightCustomer.id)).moveLicense;
    expect(moved.customer.id).to.equal(rightCustomer.id);
    expect(moved.reseller.id).to.equal(reseller.id);
    ok(await mutate('mutation($id: ID!) { revokeLicense(id: $id) { id } }', { id }));

    const events = (await history(id)).edges.map((e: Json) => e.node);
    expect(events.map((e: Json) => e.action)).to.deep.equal([
      'LICENSE_REVOKED',
      'LICENSE_MOVED',
      'LICENSE_REINSTATED',
      'LICENSE_SUSPENDED',
      'LICENSE_UPGRADED',
      'LICENSE_RENEWED',
      'LICENSE_CREATED',
    ]);
    for (const event of events) {
      expect(event.targetId).to.equal(id);
      expect(event.actor).to.deep.equal({ id: staffId });
    }
    const byAction = Object.fromEntries(events.map((e: Json) => [e.action, e]));
    expect(JSON.parse(byAction.LICENSE_RENEWED.changes)).to.deep.equal({
      validUntil: { from: until.toISOString(), to: renewedUntil.toISOString() },
    });
    expect(JSON.parse(byAction.LICENSE_UPGRADED.changes)).to.deep.equal({ kind: { from: 'MDM', to: 'MOBILE_SECURITY' } });
    expect(byAction.LICENSE_SUSPENDED.reason).to.equal('invoice 4711 unpaid');
    expect(JSON.parse(byAction.LICENSE_SUSPENDED.changes).suspendedAt.from).to.equal(null);
    expect(JSON.parse(byAction.LICENSE_REINSTATED.changes).suspendedAt.to).to.equal(null);
    expect(JSON.parse(byAction.LICENSE_MOVED.changes)).to.deep.equal({ customerId: { from: customer.id, to: rightCustomer.id } });

    // The filter narrows by action and time; another reseller sees none of it; the admin all of it.
    expect((await history(id, token, { action: 'LICENSE_SUSPENDED' })).totalCount).to.equal(1);
    expect((await history(id, token, { since: new Date(Date.now() + 60_000).toISOString() })).totalCount).to.equal(0);
    expect((await history(id, otherToken)).totalCount).to.equal(0);
    expect((await history(id, adminToken)).totalCount).to.equal(7);
  });

  it("a license's own suspension and its reseller's: REVOKED wins, then SUSPENDED, until both are lifted", async () => {
    const r = await makeReseller(s);
    const license = await makeLicense(s, await makeCustomer(s, r));
    ok(await suspend(license.id, 'unpaid', adminToken));
    ok(await s.gql('mutation($id: ID!) { suspendReseller(id: $id, reason: "unpaid") { id } }', { id: r.id }, adminToken));
    expect(ok(await reinstate(license.id, adminToken)).reinstateLicense).to.include({ status: 'SUSPENDED', suspendedAt: null });
    ok(await s.gql('mutation($id: ID!) { reinstateReseller(id: $id) { id } }', { id: r.id }, adminToken));
    const status = async () =>
      ok(await s.gql<Json>('query($id: ID!) { license(id: $id) { status } }', { id: license.id }, adminToken)).license.status;
    expect(await status()).to.equal('ACTIVE');
    ok(await suspend(license.id, 'again', adminToken));
    ok(await mutate('mutation($id: ID!) { revokeLicense(id: $id) { id } }', { id: license.id }, adminToken));
    expect(await status()).to.equal('REVOKED');
  });

  it('suspending twice or reinstating an unsuspended license changes nothing and records nothing', async () => {
    const license = await makeLicense(s, await makeCustomer(s, reseller));
    const first = ok(await suspend(license.id)).suspendLicense;
    expect(ok(await suspend(license.id, 'other reason')).suspendLicense).to.deep.equal(first);
    ok(await reinstate(license.id));
    ok(await reinstate(license.id));
    const actions = (await history(license.id)).edges.map((e: Json) => e.node.action);
    expect(actions).to.deep.equal(['LICENSE_REINSTATED', 'LICENSE_SUSPENDED']);
  });

  it('bad input changes nothing: downgrade, revoked licenses, empty or long reasons, a move to another reseller\u2019s customer', async () => {
    const customer = await makeCustomer(s, reseller);
    const mobile = await makeLicense(s, customer, { kind: LicenseKind.MOBILE_SECURITY });
    const revoked = await makeLicense(s, customer, { revokedAt: new Date(Date.now() - DAY) });
    const live = await makeLicense(s, customer);
    const foreignCustomer = await makeCustomer(s, await makeReseller(s));

    const downgrade = await update(mobile.id, { kind: 'MDM' });
    expect([codeOf(downgrade), downgrade.errors![0]!.extensions!.field]).to.deep.equal(['BAD_USER_INPUT', 'kind']);
    expect((await db(mobile.id)).kind).to.equal('MOBILE_SECURITY');
    for (const res of [await suspend(revoked.id), await reinstate(revoked.id), await update(revoked.id, { kind: 'MOBILE_SECURITY' })]) {
      expect(codeOf(res)).to.equal('BAD_USER_INPUT');
    }
    const still = await db(revoked.id);
    expect([still.suspendedAt, still.kind]).to.deep.equal([null, 'MDM']);
    for (const reason of ['', ' ', 'x'.repeat(501)]) {
      const res = await suspend(live.id, reason);
      expect([codeOf(res), res.errors![0]!.extensions!.field], JSON.stringify(reason)).to.deep.equal(['BAD_USER_INPUT', 'reason']);
    }
    expect((await db(live.id)).suspendedAt).to.equal(null);
    // To a customer of another reseller: invisible to the reseller (NOT_FOUND), refused to the admin (BAD_USER_INPUT).
    expect(codeOf(await move(live.id, foreignCustomer.id))).to.equal('NOT_FOUND');
    expect(codeOf(await move(live.id, foreignCustomer.id, adminToken))).to.equal('BAD_USER_INPUT');
    expect(codeOf(await move(live.id, `cus_${'0'.repeat(24)}`))).to.equal('NOT_FOUND');
    expect(codeOf(await move(`lic_${'0'.repeat(24)}`, customer.id))).to.equal('NOT_FOUND');
    expect(codeOf(await suspend(live.id, 'not yours', otherToken))).to.equal('NOT_FOUND');
    expect((await db(live.id)).customer.id).to.equal(customer.id);
    expect((await history(live.id, adminToken)).totalCount).to.equal(0);
  });
});
