// The reseller views of [throughput] goal 1, now hand-written SQL (customer-page.ts, group-pages.ts):
// the customer view with hasValidLicense and nested license counts, Reseller.customers and Customer.licenses
// pages, the filtered license lists. They answer what the ORM renderings answer (filterCondition through
// em.find, row for row), hasValidLicense follows the license status in every case, nobody sees another
// reseller's (or customer's) rows through them, and their SQL statements per request do not grow with the
// data or the page size.
import { expect } from 'chai';
import { LicenseKind, Role } from '../../src/common/enums';
import type { AuthenticatedPrincipal } from '../../src/modules/auth/principal';
import { Customer } from '../../src/modules/customers/customer.entity';
import { License } from '../../src/modules/licenses/license.entity';
import type { Reseller } from '../../src/modules/resellers/reseller.entity';
import { makeCustomer, makeLicense, makeReseller, makeUser, signIn, type TestUser } from '../factories';
import { ok, startTestServer, type TestServer } from '../helpers/server';

const DAY = 86_400_000;

type Node = {
  id: string;
  name: string;
  hasValidLicense: boolean;
  reseller: { id: string };
  licenses: Conn<{ id: string; status: string }>;
};
type Conn<N> = {
  totalCount: number;
  edges: { node: N }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null };
};

const CUSTOMER_FIELDS = 'id name hasValidLicense reseller { id } licenses(first: 2) { totalCount edges { node { id status } } }';
const CUSTOMERS = `query($first: Int, $last: Int, $filter: CustomerFilter) {
  customers(first: $first, last: $last, filter: $filter) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { ${CUSTOMER_FIELDS} } }
  }
}`;
const RESELLER_CUSTOMERS = `query($filter: CustomerFilter) { resellers(first: 20) { edges { node { id
  customers(first: 100, filter: $filter) { totalCount edges { node { ${CUSTOMER_FIELDS} } } } } } } }`;

describe('reseller views (hand-written customer page, nested pages per group)', function () {
  this.timeout(120_000);

  let s: TestServer;
  let resellerA: Reseller;
  let resellerB: Reseller;
  let adminToken: string;
  let aToken: string;
  let bToken: string;
  let customerUserToken: string;
  let admin: TestUser;
  let a: TestUser;
  /** A's customers by case, and what hasValidLicense must answer for each. */
  const cases: Record<string, { customer: Customer; valid: boolean; licenses: number }> = {};
  let foreign: Customer;

  const statements = () => s.queries.filter((q) => q.includes('[query]'));
  const principal = (u: TestUser): AuthenticatedPrincipal =>
    ({
      userId: u.user.id,
      role: u.user.role,
      resellerId: u.user.reseller?.id ?? null,
      customerId: u.user.customer?.id ?? null,
    }) as AuthenticatedPrincipal;

  async function suspend(license: License, column: 'suspendedAt' | 'resellerSuspendedAt') {
    await s.app.services.orm.em.fork().nativeUpdate(License, { id: license.id }, { [column]: new Date(Date.now() - DAY) });
  }

  before(async () => {
    s = await startTestServer();
    resellerA = await makeReseller(s, { name: 'Reseller A' });
    resellerB = await makeReseller(s, { name: 'Reseller B' });
    admin = await makeUser(s, { role: Role.ADMIN });
    a = await makeUser(s, { role: Role.RESELLER, reseller: resellerA });
    const b = await makeUser(s, { role: Role.RESELLER, reseller: resellerB });
    adminToken = await signIn(s, admin);
    aToken = await signIn(s, a);
    bToken = await signIn(s, b);
    const now = Date.now();
    const expired = { validFrom: new Date(now - 400 * DAY), validUntil: new Date(now - DAY) };
    const make = async (name: string, valid: boolean, licenses: ((c: Customer) => Promise<unknown>)[]) => {
      const customer = await makeCustomer(s, resellerA, { name });
      for (const license of licenses) await license(customer);
      cases[name] = { customer, valid, licenses: licenses.length };
    };
    await make('Active GmbH', true, [(c) => makeLicense(s, c, expired), (c) => makeLicense(s, c)]);
    await make('Expired AG', false, [(c) => makeLicense(s, c, expired), (c) => makeLicense(s, c, expired)]);
    await make('Suspended KG', false, [async (c) => suspend(await makeLicense(s, c), 'suspendedAt')]);
    await make('Reseller-suspended OHG', false, [async (c) => suspend(await makeLicense(s, c), 'resellerSuspendedAt')]);
    await make('Revoked SE', false, [(c) => makeLicense(s, c, { revokedAt: new Date(now - DAY) })]);
    await make('Pending UG', false, [(c) => makeLicense(s, c, { validFrom: new Date(now + DAY), validUntil: new Date(now + 400 * DAY) })]);
    await make('Ends now Ltd', false, [(c) => makeLicense(s, c, { validFrom: new Date(now - DAY), validUntil: new Date(now - 1) })]);
    await make('Many 100% Inc', true, [
      (c) => makeLicense(s, c, expired),
      (c) => makeLicense(s, c, { kind: LicenseKind.MOBILE_SECURITY }),
      (c) => makeLicense(s, c, { revokedAt: new Date(now - DAY) }),
    ]);
    await make('Empty e.V.', false, []);
    foreign = await makeCustomer(s, resellerB, { name: 'Foreign Active GmbH' });
    await makeLicense(s, foreign);
    await makeLicense(s, foreign);
    const customerUser = await makeUser(s, { role: Role.CUSTOMER, customer: cases['Many 100% Inc']!.customer });
    customerUserToken = await signIn(s, customerUser);
  });
  after(() => s?.stop());

  it('answers hasValidLicense by the license status in every case (active, expired, suspended, reseller-suspended, revoked, pending, none) on every path', async () => {
    const fromPage = ok(await s.gql<{ customers: Conn<Node> }>(CUSTOMERS, { first: 100 }, aToken)).customers;
    const nested = ok(await s.gql<{ resellers: Conn<{ customers: Conn<Node> }> }>(RESELLER_CUSTOMERS, {}, aToken)).resellers;
    const nestedNodes = nested.edges.flatMap((e) => e.node.customers.edges.map((c) => c.node));
    for (const [name, { customer, valid, licenses }] of Object.entries(cases)) {
      const single = ok(
        await s.gql<{ customer: Node }>(`query($id: ID!) { customer(id: $id) { ${CUSTOMER_FIELDS} } }`, { id: customer.id }, aToken),
      );
      for (const [path, node] of [
        ['customers', fromPage.edges.find((e) => e.node.id === customer.id)?.node],
        ['Reseller.customers', nestedNodes.find((n) => n.id === customer.id)],
        ['customer(id)', single.customer],
      ] as const) {
        expect(node, `${name} via ${path}`).to.not.equal(undefined);
        expect(node!.hasValidLicense, `${name} via ${path}`).to.equal(valid);
        expect(node!.licenses.totalCount, `${name} via ${path}`).to.equal(licenses);
        expect(node!.licenses.edges.length, `${name} via ${path}`).to.equal(Math.min(2, licenses));
        expect(node!.reseller.id).to.equal(resellerA.id);
      }
    }
    expect(fromPage.totalCount).to.equal(Object.keys(cases).length);
  });

  it('filters by hasValidLicense and search exactly like the ORM rendering, row for row, for every role', async () => {
    const em = () => s.app.services.orm.em.fork();
    const service = s.app.services.customers;
    const users: [string, TestUser, string][] = [
      ['admin', admin, adminToken],
      ['reseller A', a, aToken],
    ];
    const filters = [
      {},
      { hasValidLicense: true },
      { hasValidLicense: false },
      { search: 'gmbh' },
      { search: '100%' },
      { search: 'e.v', hasValidLicense: false },
      { search: '_' },
    ];
    for (const [label, user, token] of users)
      for (const filter of [
        ...filters,
        ...(user === admin ? [{ resellerId: resellerB.id }, { resellerId: resellerA.id, hasValidLicense: true }] : []),
      ]) {
        const want = (
          await em().find(Customer, service.filterCondition(principal(user), filter), {
            orderBy: { createdAt: 'desc', id: 'desc' },
            fields: ['id'],
          })
        ).map((c) => c.id);
        const got = ok(await s.gql<{ customers: Conn<Node> }>(CUSTOMERS, { first: 100, filter }, token)).customers;
        expect(
          got.edges.map((e) => e.node.id),
          `${label} ${JSON.stringify(filter)}`,
        ).to.deep.equal(want);
        expect(got.totalCount, `${label} ${JSON.stringify(filter)}`).to.equal(want.length);
        // Backward: the oldest two, newest first, as the forward page ends.
        const back = ok(await s.gql<{ customers: Conn<Node> }>(CUSTOMERS, { last: 2, filter }, token)).customers;
        expect(
          back.edges.map((e) => e.node.id),
          `${label} ${JSON.stringify(filter)} backward`,
        ).to.deep.equal(want.slice(-2));
        expect(back.pageInfo.hasPreviousPage).to.equal(want.length > 2);
      }
    const refused = await s.gql(CUSTOMERS, { first: 5, filter: { resellerId: resellerB.id } }, aToken);
    expect(refused.errors?.[0]?.extensions?.code).to.equal('BAD_USER_INPUT');
  });

  it("never shows a reseller another reseller's customers or licenses, and a customer's user only its own, in any of these views", async () => {
    for (const [token, reseller, own] of [
      [aToken, resellerA.id, Object.values(cases).map((c) => c.customer.id)],
      [bToken, resellerB.id, [foreign.id]],
    ] as const) {
      const page = ok(await s.gql<{ customers: Conn<Node> }>(CUSTOMERS, { first: 100 }, token)).customers;
      expect(page.edges.map((e) => e.node.id).sort()).to.deep.equal([...own].sort());
      const nested = ok(await s.gql<{ resellers: Conn<{ id: string; customers: Conn<Node> }> }>(RESELLER_CUSTOMERS, {}, token)).resellers;
      expect(nested.edges.map((e) => e.node.id)).to.deep.equal([reseller]);
      expect(nested.edges[0]!.node.customers.edges.map((e) => e.node.id).sort()).to.deep.equal([...own].sort());
      const licenses = ok(
        await s.gql<{ licenses: Conn<{ id: string; reseller: { id: string } }> }>(
          '{ licenses(first: 100, filter: {status: [ACTIVE], kind: MDM}) { totalCount edges { node { id reseller { id } } } } }',
          {},
          token,
        ),
      ).licenses;
      expect(licenses.edges.every((e) => e.node.reseller.id === reseller)).to.equal(true);
      // A foreign customer named in the filter shows nothing.
      const other = reseller === resellerA.id ? foreign.id : cases['Active GmbH']!.customer.id;
      const none = ok(
        await s.gql<{ licenses: Conn<{ id: string }> }>(
          `query($c: ID!) { licenses(filter: {customerId: $c}) { totalCount edges { node { id } } } }`,
          { c: other },
          token,
        ),
      ).licenses;
      expect(none.totalCount).to.equal(0);
      expect(none.edges).to.deep.equal([]);
    }
    // The admin's resellers page: every reseller's own customers (several groups in one statement).
    const all = ok(await s.gql<{ resellers: Conn<{ id: string; customers: Conn<Node> }> }>(RESELLER_CUSTOMERS, {}, adminToken)).resellers;
    for (const { node } of all.edges) {
      const want = await s.app.services.orm.em.fork().count(Customer, { reseller: node.id });
      expect(node.customers.totalCount, node.id).to.equal(want);
      expect(node.customers.edges.length).to.equal(want);
      for (const c of node.customers.edges) {
        expect(c.node.reseller.id).to.equal(node.id);
        const mine = await s.app.services.orm.em.fork().count(License, { customer: c.node.id });
        expect(c.node.licenses.totalCount, c.node.name).to.equal(mine);
      }
    }
    expect(all.edges.map((e) => e.node.id)).to.include.members([resellerA.id, resellerB.id]);
    // A customer's user: its own customer and licenses only.
    const mine = cases['Many 100% Inc']!;
    const own = ok(await s.gql<{ customers: Conn<Node> }>(CUSTOMERS, { first: 100 }, customerUserToken)).customers;
    expect(own.edges.map((e) => e.node.id)).to.deep.equal([mine.customer.id]);
    expect(own.totalCount).to.equal(1);
    expect(own.edges[0]!.node.hasValidLicense).to.equal(true);
    expect(own.edges[0]!.node.licenses.totalCount).to.equal(mine.licenses);
    const ownLicenses = ok(
      await s.gql<{ licenses: Conn<{ id: string; customer: { id: string } }> }>(
        '{ licenses(first: 100) { totalCount edges { node { id customer { id } } } } }',
        {},
        customerUserToken,
      ),
    ).licenses;
    expect(ownLicenses.totalCount).to.equal(mine.licenses);
    expect(ownLicenses.edges.every((e) => e.node.customer.id === mine.customer.id)).to.equal(true);
  });

  it("pages each customer's licenses like the root page filtered to that customer (forward, backward, nested totalCount with and without rows)", async () => {
    const query = `query($first: Int, $last: Int, $filter: LicenseFilter) { customers(first: 100) { edges { node { id
      licenses(first: $first, last: $last, filter: $filter) { totalCount edges { node { id } } pageInfo { hasNextPage hasPreviousPage } } } } } }`;
    const countOnly = `query($filter: LicenseFilter) { customers(first: 100) { edges { node { id licenses(first: 1, filter: $filter) { totalCount } } } } }`;
    for (const filter of [null, { status: ['ACTIVE'] }, { status: ['EXPIRED', 'SUSPENDED'] }, { kind: 'MOBILE_SECURITY' }]) {
      const forward = ok(
        await s.gql<{ customers: Conn<{ id: string; licenses: Conn<{ id: string }> }> }>(query, { first: 1, filter }, aToken),
      ).customers;
      const backward = ok(
        await s.gql<{ customers: Conn<{ id: string; licenses: Conn<{ id: string }> }> }>(query, { last: 1, filter }, aToken),
      ).customers;
      const counts = ok(
        await s.gql<{ customers: Conn<{ id: string; licenses: { totalCount: number } }> }>(countOnly, { filter }, aToken),
      ).customers;
      for (const [i, { node }] of forward.edges.entries()) {
        const root = ok(
          await s.gql<{ licenses: Conn<{ id: string }> }>(
            'query($f: LicenseFilter) { licenses(first: 100, filter: $f) { totalCount edges { node { id } } } }',
            { f: { ...(filter ?? {}), customerId: node.id } },
            aToken,
          ),
        ).licenses;
        const ids = root.edges.map((e) => e.node.id);
        const what = `${node.id} ${JSON.stringify(filter)}`;
        expect(
          node.licenses.edges.map((e) => e.node.id),
          what,
        ).to.deep.equal(ids.slice(0, 1));
        expect(node.licenses.totalCount, what).to.equal(root.totalCount);
        expect(node.licenses.pageInfo.hasNextPage, what).to.equal(ids.length > 1);
        const back = backward.edges[i]!.node;
        expect(back.id).to.equal(node.id);
        expect(
          back.licenses.edges.map((e) => e.node.id),
          `${what} backward`,
        ).to.deep.equal(ids.slice(-1));
        expect(back.licenses.pageInfo.hasPreviousPage, `${what} backward`).to.equal(ids.length > 1);
        expect(counts.edges[i]!.node.licenses.totalCount, `${what} count only`).to.equal(root.totalCount);
      }
    }
  });

  it("names each nested license's own customer and reseller, as the root page does (nested rows carry ids, loaded when asked)", async () => {
    type Named = { id: string; name: string };
    type Row = { id: string; customer: Named; reseller: Named; status: string };
    const nested = ok(
      await s.gql<{ customers: Conn<Named & { reseller: Named; licenses: Conn<Row> }> }>(
        '{ customers(first: 100) { edges { node { id name reseller { id name } licenses(first: 10) { edges { node { id status customer { id name } reseller { id name } } } } } } } }',
        {},
        adminToken,
      ),
    ).customers;
    const root = ok(
      await s.gql<{ licenses: Conn<Row> }>(
        '{ licenses(first: 100) { edges { node { id status customer { id name } reseller { id name } } } } }',
        {},
        adminToken,
      ),
    ).licenses;
    const byId = new Map(root.edges.map((e) => [e.node.id, e.node]));
    let seen = 0;
    for (const { node: customer } of nested.edges)
      for (const { node: license } of customer.licenses.edges) {
        seen++;
        expect(license.customer).to.deep.equal({ id: customer.id, name: customer.name });
        expect(license.reseller).to.deep.equal(customer.reseller);
        expect(license).to.deep.equal(byId.get(license.id));
      }
    expect(seen).to.be.greaterThan(10);
  });

  describe('statements per request', () => {
    const VIEWS = {
      'customer view':
        '{ customers(first: 20) { totalCount edges { node { id name hasValidLicense licenses(first: 5) { totalCount } } } } }',
      'filtered list':
        '{ licenses(first: 20, filter: {status: [ACTIVE], kind: MDM}) { totalCount edges { node { id status customer { id name } } } } }',
      'expiring list': `{ licenses(first: 20, filter: {status: [ACTIVE], expiresBefore: "${new Date(Date.now() + 500 * DAY).toISOString()}"}) { totalCount edges { node { id } } } }`,
      'Reseller.customers':
        '{ resellers(first: 1) { edges { node { customers(first: 20) { totalCount edges { node { id hasValidLicense } } } } } } }',
      'Customer.licenses':
        '{ customers(first: 20) { edges { node { licenses(first: 5) { totalCount edges { node { id status } } pageInfo { hasNextPage } } } } } }',
      'Customer.licenses with their customer and reseller':
        '{ customers(first: 20) { edges { node { licenses(first: 5) { edges { node { id customer { id name } reseller { id name } } } } } } } }',
      'admin resellers x customers x licenses':
        '{ resellers(first: 20) { edges { node { customers(first: 5) { totalCount edges { node { hasValidLicense licenses(first: 2) { totalCount edges { node { id } } } } } } } } } }',
    };

    async function count(query: string, token: string): Promise<number> {
      // The session's lastSeenAt is touched at most once a minute: do that outside the measurement.
      await s.gql('{ me { id } }', {}, token);
      s.queries.length = 0;
      ok(await s.gql(query, {}, token));
      return statements().length;
    }

    it('does not grow with the data (10 more customers of 6 licenses each, a third reseller) nor with the page size', async () => {
      const measure = async () => {
        const out: Record<string, number> = {};
        for (const [name, query] of Object.entries(VIEWS)) out[name] = await count(query, name.startsWith('admin') ? adminToken : aToken);
        return out;
      };
      const small = await measure();
      const resellerC = await makeReseller(s, { name: 'Reseller C' });
      for (const reseller of [resellerA, resellerC])
        for (let c = 0; c < 10; c++) {
          const customer = await makeCustomer(s, reseller);
          for (let l = 0; l < 6; l++) await makeLicense(s, customer, { kind: l % 2 ? LicenseKind.MDM : LicenseKind.MOBILE_SECURITY });
        }
      const large = await measure();
      console.log(`      statements: ${JSON.stringify(small)} -> ${JSON.stringify(large)}`);
      expect(large).to.deep.equal(small);
      // Session + page (count and hasValidLicense inside) + the nested counts: three.
      expect(small['customer view']).to.equal(3);
      expect(small['filtered list']).to.equal(2);
      const larger = await count(VIEWS['customer view'].replace('first: 20', 'first: 100').replace('first: 5', 'first: 50'), aToken);
      expect(larger).to.equal(small['customer view']);
    });
  });
});
