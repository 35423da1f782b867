// Audit events say what changed ({ field: { from, to } } as JSON) and carry the reason given, written
// through the one audit() of src/modules/audit/audit.service.ts.
import { expect } from 'chai';
import { Role } from '../../src/common/enums';
import { makeCustomer, makeLicense, makeReseller, makeUser, signIn } from '../factories';
import { ok, startTestServer, type TestServer } from '../helpers/server';

const EVENTS = `{ auditEvents(first: 100) { edges { node { action targetId changes reason } } } }`;
type Event = { action: string; targetId: string | null; changes: string | null; reason: string | null };

describe('audit events: changes and reason', function () {
  this.timeout(60_000);
  let s: TestServer;
  let token: string;
  let reseller: Awaited<ReturnType<typeof makeReseller>>;

  before(async () => {
    s = await startTestServer();
    reseller = await makeReseller(s);
    token = await signIn(s, await makeUser(s, { role: Role.RESELLER, reseller }));
  });
  after(() => s?.stop());

  const events = async (action: string, targetId: string): Promise<Event[]> =>
    ok(await s.gql<{ auditEvents: { edges: { node: Event }[] } }>(EVENTS, {}, token))
      .auditEvents.edges.map((e) => e.node)
      .filter((e) => e.action === action && e.targetId === targetId);

  it('updateLicense records the seats and validUntil it changed, from and to (a later end as a renewal, FLOWS.md section 10)', async () => {
    const customer = await makeCustomer(s, reseller);
    const until = new Date(Date.UTC(2031, 0, 1));
    const license = await makeLicense(s, customer, { seats: 10, validUntil: until });
    const next = '2032-06-30T00:00:00.000Z';
    ok(
      await s.gql(
        `mutation($id: ID!) { updateLicense(id: $id, input: { seats: 12, validUntil: "${next}" }) { id } }`,
        { id: license.id },
        token,
      ),
    );
    const [updated] = await events('LICENSE_UPDATED', license.id);
    expect(JSON.parse(updated!.changes!)).to.deep.equal({ seats: { from: 10, to: 12 } });
    const [renewed] = await events('LICENSE_RENEWED', license.id);
    expect(JSON.parse(renewed!.changes!)).to.deep.equal({ validUntil: { from: until.toISOString(), to: next } });
    // An earlier end is no renewal: one LICENSE_UPDATED with both changes.
    const earlier = '2032-01-31T00:00:00.000Z';
    ok(
      await s.gql(
        `mutation($id: ID!) { updateLicense(id: $id, input: { seats: 11, validUntil: "${earlier}" }) { id } }`,
        { id: license.id },
        token,
      ),
    );
    const [latest] = await events('LICENSE_UPDATED', license.id);
    expect(JSON.parse(latest!.changes!)).to.deep.equal({ seats: { from: 12, to: 11 }, validUntil: { from: next, to: earlier } });
    expect(await events('LICENSE_RENEWED', license.id)).to.have.length(1);
    expect(latest!.reason).to.equal(null);
  });

  it('an unchanged field is not listed: only seats changed', async () => {
    const license = await makeLicense(s, await makeCustomer(s, reseller), { seats: 5 });
    ok(await s.gql('mutation($id: ID!) { updateLicense(id: $id, input: { seats: 6 }) { id } }', { id: license.id }, token));
    const [event] = await events('LICENSE_UPDATED', license.id);
    expect(JSON.parse(event!.changes!)).to.deep.equal({ seats: { from: 5, to: 6 } });
  });

  it('updateCustomer records the name it changed', async () => {
    const customer = await makeCustomer(s, reseller, { name: 'Old Name GmbH' });
    ok(await s.gql('mutation($id: ID!) { updateCustomer(id: $id, input: { name: "New Name GmbH" }) { id } }', { id: customer.id }, token));
    const [event] = await events('CUSTOMER_UPDATED', customer.id);
    expect(JSON.parse(event!.changes!)).to.deep.equal({ name: { from: 'Old Name GmbH', to: 'New Name GmbH' } });
  });

  it('an event that changed nothing (a created license) has no changes and no reason', async () => {
    const customer = await makeCustomer(s, reseller);
    const created = ok(
      await s.gql<{ createLicense: { id: string } }>(
        `mutation($c: ID!) { createLicense(input: { customerId: $c, kind: MDM, seats: 3, validUntil: "2031-01-01T00:00:00Z" }) { id } }`,
        { c: customer.id },
        token,
      ),
    ).createLicense;
    const [event] = await events('LICENSE_CREATED', created.id);
    expect(event).to.deep.include({ changes: null, reason: null });
  });
});
