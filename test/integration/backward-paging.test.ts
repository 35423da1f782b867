// Relay backward paging (FLOWS.md section 13): `last`/`before`, `hasPreviousPage` and `startCursor` on
// every connection, root and nested. Paging backward from the end through a whole list must give the
// rows of forward paging, row for row, with the same cursors; the page info must be right at both ends
// and in the middle; bad arguments answer BAD_USER_INPUT naming the argument; and a reseller paging
// backward, even from a foreign cursor, sees only its own rows. The truth is computed here from the
// database rows, ordered newest first by (createdAt, id) in plain code.
import { expect } from 'chai';
import type { EntityManager } from '@mikro-orm/core';
import { LicenseKind, Role } from '../../src/common/enums';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { Customer } from '../../src/modules/customers/customer.entity';
import { License } from '../../src/modules/licenses/license.entity';
import { generateLicenseKey } from '../../src/modules/licenses/license-key';
import { Reseller } from '../../src/modules/resellers/reseller.entity';
import { User } from '../../src/modules/users/user.entity';
import { makeUser, signIn } from '../factories';
import { codeOf, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

const MINUTE = 60_000;

interface PageInfoOut {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}
interface Edge {
  cursor: string;
  node: { id: string };
}
interface Conn {
  totalCount: number;
  pageInfo: PageInfoOut;
  edges: Edge[];
}
interface PageVars {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
  [name: string]: unknown;
}

const PAGE = 'totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } }';
const PAGE_ARGS = 'first: $first, after: $after, last: $last, before: $before';
const PAGE_VARS = '$first: Int, $after: String, $last: Int, $before: String';

/** A row's place in every connection's order: newest first by (at, id). */
interface Keyed {
  id: string;
  at: number;
}
const newestFirst = (a: Keyed, b: Keyed) => b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
const ids = (rows: Keyed[]) => [...rows].sort(newestFirst).map((r) => r.id);

/** One connection as a client reads it: the request, where the connection is in the answer, and its rows. */
interface Target {
  label: string;
  query: string;
  variables?: Record<string, unknown>;
  pick: (data: Record<string, unknown>) => Conn;
}

const noErrors = (res: GqlResult<unknown>) => expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);

function expectBadInput(res: GqlResult<unknown>, field: string, what: string) {
  expect(codeOf(res), `${what}: ${JSON.stringify(res.errors)}`).to.equal('BAD_USER_INPUT');
  expect(res.errors![0]!.extensions!.field, `${what}: ${JSON.stringify(res.errors)}`).to.equal(field);
}

/** What the page info of the page `edges` must be. */
function pageInfoOf(edges: Edge[], more: { hasNextPage: boolean; hasPreviousPage: boolean }): PageInfoOut {
  return { ...more, startCursor: edges[0]?.cursor ?? null, endCursor: edges[edges.length - 1]?.cursor ?? null };
}

describe('backward paging (Relay last/before)', function () {
  this.timeout(300_000);

  let s: TestServer;
  let adminToken: string;
  let aToken: string;
  let customerToken: string;
  let resellerA: Reseller;
  let resellerB: Reseller;
  let ownCustomer: Customer;

  const fork = (): EntityManager => s.app.services.orm.em.fork();

  const page = async (t: Target, vars: PageVars, token: string): Promise<Conn> => {
    const res = await s.gql<Record<string, unknown>>(t.query, { ...t.variables, ...vars }, token);
    noErrors(res);
    return t.pick(res.data!);
  };

  /** Forward through the whole list, `size` at a time; checks every page's info on the way. */
  async function walkForward(t: Target, token: string, size: number): Promise<Edge[]> {
    const edges: Edge[] = [];
    let after: string | null = null;
    for (let i = 0; i < 1000; i++) {
      const conn = await page(t, { first: size, after }, token);
      expect(conn.pageInfo, `${t.label}: forward page ${i}`).to.deep.equal(
        pageInfoOf(conn.edges, { hasNextPage: conn.pageInfo.hasNextPage, hasPreviousPage: false }),
      );
      edges.push(...conn.edges);
      if (!conn.pageInfo.hasNextPage) return edges;
      expect(conn.edges).to.have.length(size);
      after = conn.pageInfo.endCursor;
    }
    throw new Error('no end');
  }

  /**
   * Backward from the end through the whole list, `size` at a time (`last`, then `before` the start
   * cursor): each page must be the next `size` rows of `want` from its end, newest first, with
   * hasPreviousPage true until the first row, hasNextPage false, and the right start and end cursors.
   */
  async function walkBackward(t: Target, token: string, size: number, want: Edge[], total = want.length): Promise<void> {
    const pages: Edge[][] = [];
    let before: string | null = null;
    let end = want.length;
    for (let i = 0; i < 1000; i++) {
      const conn = await page(t, { last: size, before }, token);
      const what = `${t.label}: backward page ${i} (last ${size})`;
      const start = Math.max(0, end - size);
      expect(conn.edges, what).to.deep.equal(want.slice(start, end));
      expect(conn.pageInfo, what).to.deep.equal(pageInfoOf(conn.edges, { hasNextPage: false, hasPreviousPage: start > 0 }));
      expect(conn.totalCount, what).to.equal(total);
      pages.unshift(conn.edges);
      if (!conn.pageInfo.hasPreviousPage) break;
      before = conn.pageInfo.startCursor;
      end = start;
    }
    // Reassembled, the backward pages are the forward list: same rows, same order, same cursors.
    expect(pages.flat(), `${t.label}: reassembled`).to.deep.equal(want);
    expect(pages.flat().map((e) => e.node.id)).to.have.length(new Set(want.map((e) => e.node.id)).size);
  }

  /** Backward pages from the middle, windows between two cursors, and `before` without `last`. */
  async function checkMiddle(t: Target, token: string, all: Edge[]): Promise<void> {
    const n = all.length;
    const at = [0, 1, 2, Math.floor(n / 2), n - 2, n - 1].filter((i, k, list) => i >= 0 && i < n && list.indexOf(i) === k);
    for (const i of at) {
      const what = `${t.label}: last 3 before #${i} of ${n}`;
      const conn = await page(t, { last: 3, before: all[i]!.cursor }, token);
      const want = all.slice(Math.max(0, i - 3), i);
      expect(conn.edges, what).to.deep.equal(want);
      expect(conn.pageInfo, what).to.deep.equal(pageInfoOf(want, { hasNextPage: false, hasPreviousPage: i - 3 > 0 }));
      expect(conn.totalCount, what).to.equal(n);

      // `before` alone pages backward too, 20 rows by default.
      const alone = await page(t, { before: all[i]!.cursor }, token);
      expect(alone.edges, `${what}: before alone`).to.deep.equal(all.slice(Math.max(0, i - 20), i));
      expect(alone.pageInfo.hasPreviousPage, `${what}: before alone`).to.equal(i > 20);
    }
    // Before the newest row there is nothing: an empty page without cursors.
    const none = await page(t, { last: 5, before: all[0]!.cursor }, token);
    expect(none.edges).to.deep.equal([]);
    expect(none.pageInfo).to.deep.equal({ hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null });
    expect(none.totalCount).to.equal(n);

    // after + before: the rows between the two cursors, of which `first` takes the newest, `last` the oldest.
    if (n >= 4) {
      const [i, j] = [0, n - 1];
      const between = all.slice(i + 1, j);
      for (const k of [1, 2, between.length, between.length + 1]) {
        const what = `${t.label}: between #${i} and #${j}, ${k}`;
        const back = await page(t, { after: all[i]!.cursor, before: all[j]!.cursor, last: k }, token);
        const backWant = between.slice(Math.max(0, between.length - k));
        expect(back.edges, `${what} last`).to.deep.equal(backWant);
        expect(back.pageInfo, `${what} last`).to.deep.equal(
          pageInfoOf(backWant, { hasNextPage: false, hasPreviousPage: between.length > k }),
        );
        const forward = await page(t, { after: all[i]!.cursor, before: all[j]!.cursor, first: k }, token);
        const forwardWant = between.slice(0, k);
        expect(forward.edges, `${what} first`).to.deep.equal(forwardWant);
        expect(forward.pageInfo, `${what} first`).to.deep.equal(
          pageInfoOf(forwardWant, { hasNextPage: between.length > k, hasPreviousPage: false }),
        );
      }
    }
  }

  /** Refuses last 0, last 101, first with last, and a malformed `before`, naming the argument. */
  async function checkBadInput(t: Target, token: string): Promise<void> {
    for (const last of [0, -1, 101])
      expectBadInput(await s.gql(t.query, { ...t.variables, last }, token), 'last', `${t.label} last ${last}`);
    expectBadInput(await s.gql(t.query, { ...t.variables, first: 5, last: 5 }, token), 'last', `${t.label} first + last`);
    for (const before of ['garbage', Buffer.from('12:lic_zz').toString('base64url'), Buffer.from("1' or '1'='1").toString('base64url')]) {
      const res = await s.gql(t.query, { ...t.variables, last: 5, before }, token);
      expectBadInput(res, 'before', `${t.label} before ${before}`);
      // No page at all (a nested connection's parent answers null).
      expect(JSON.stringify(res.data ?? {})).to.not.include('edges');
    }
    expectBadInput(await s.gql(t.query, { ...t.variables, first: 5, after: 'garbage' }, token), 'after', `${t.label} after garbage`);
  }

  /** Every check of one connection against the rows the caller must see, newest first. */
  async function checkConnection(t: Target, token: string, want: string[]): Promise<void> {
    const forward = await walkForward(t, token, 3);
    expect(
      forward.map((e) => e.node.id),
      `${t.label}: forward`,
    ).to.deep.equal(want);
    for (const size of [1, 3, 4, 100]) await walkBackward(t, token, size, forward);
    await checkMiddle(t, token, forward);
  }

  // ---- The data: rows in groups sharing one instant, so that the id decides within a group.

  let licenses: (Keyed & { reseller: string; customer: string; revoked: boolean })[] = [];
  let customers: (Keyed & { reseller: string })[] = [];
  let resellers: Keyed[] = [];
  let users: (Keyed & { reseller: string | null })[] = [];
  let events: (Keyed & { reseller: string | null })[] = [];

  before(async () => {
    s = await startTestServer();
    const em = fork();
    const base = Date.now() - 30 * 24 * 60 * MINUTE;
    let tick = 0;
    // Three rows per instant.
    const instant = () => new Date(base + Math.floor(tick++ / 3) * MINUTE);

    const madeResellers = Array.from({ length: 8 }, (_, i) =>
      em.create(Reseller, { name: `Reseller ${i}`, linkedToResellerPortal: false, createdAt: instant() }),
    );
    [resellerA, resellerB] = [madeResellers[0]!, madeResellers[1]!];
    // A has 7 customers, B 5, the others one each.
    const owners = [0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 2, 3, 4];
    const madeCustomers = owners.map((r, i) =>
      em.create(Customer, {
        name: `Customer ${i}`,
        contactEmail: null,
        reseller: madeResellers[r]!,
        createdAt: instant(),
        updatedAt: new Date(),
      }),
    );
    ownCustomer = madeCustomers[0]!;
    const now = Date.now();
    const madeLicenses: License[] = [];
    for (let i = 0; i < 48; i++) {
      // Customers 0..2 get most of them; every customer some.
      const customer = madeCustomers[i < 30 ? i % 3 : i % madeCustomers.length]!;
      madeLicenses.push(
        em.create(License, {
          key: generateLicenseKey(),
          kind: i % 2 ? LicenseKind.MDM : LicenseKind.MOBILE_SECURITY,
          seats: 1,
          validFrom: new Date(now - 24 * 60 * MINUTE),
          validUntil: new Date(now + 365 * 24 * 60 * MINUTE),
          revokedAt: i % 4 === 0 ? new Date(now - MINUTE) : null,
          customer,
          reseller: customer.reseller,
          idempotencyOwnerId: null,
          idempotencyKey: null,
          createdAt: instant(),
          updatedAt: new Date(),
        }),
      );
    }
    const madeEvents = Array.from({ length: 26 }, (_, i) =>
      em.create(AuditEvent, {
        action: 'TEST_EVENT',
        targetType: 'Reseller',
        targetId: madeResellers[i % 3]!.id,
        resellerId: i % 3 === 2 ? null : madeResellers[i % 3]!.id,
        at: instant(),
      }),
    );
    await em.flush();

    const admin = await makeUser(s, { role: Role.ADMIN });
    const a = await makeUser(s, { role: Role.RESELLER, reseller: resellerA });
    const customerUser = await makeUser(s, { role: Role.CUSTOMER, customer: ownCustomer });
    for (let i = 0; i < 9; i++) {
      await makeUser(s, { role: Role.RESELLER, reseller: madeResellers[i % 2]! });
      await makeUser(s, { role: Role.CUSTOMER, customer: madeCustomers[i % 4]! });
    }
    // Users in groups of three of one instant as well.
    const madeUsers = await fork().find(User, {}, { orderBy: { id: 'asc' } });
    for (const [i, user] of madeUsers.entries()) {
      await fork().nativeUpdate(User, { id: user.id }, { createdAt: new Date(base + (1000 + Math.floor(i / 3)) * MINUTE) });
    }
    adminToken = await signIn(s, admin);
    aToken = await signIn(s, a);
    customerToken = await signIn(s, customerUser);

    // The truth, read back as stored (sign-ins may have written audit events of their own).
    const read = fork();
    resellers = (await read.find(Reseller, {})).map((r) => ({ id: r.id, at: r.createdAt.getTime() }));
    customers = (await read.find(Customer, {})).map((c) => ({ id: c.id, at: c.createdAt.getTime(), reseller: c.reseller.id }));
    licenses = (await read.find(License, {})).map((l) => ({
      id: l.id,
      at: l.createdAt.getTime(),
      reseller: l.reseller.id,
      customer: l.customer.id,
      revoked: l.revokedAt !== null,
    }));
    const customerReseller = new Map(customers.map((c) => [c.id, c.reseller]));
    users = (await read.find(User, {})).map((u) => ({
      id: u.id,
      at: u.createdAt.getTime(),
      reseller: u.reseller?.id ?? (u.customer ? customerReseller.get(u.customer.id)! : null),
    }));
    events = (await read.find(AuditEvent, {})).map((e) => ({ id: e.id, at: e.at.getTime(), reseller: e.resellerId }));
    expect(madeLicenses).to.have.length(48);
    expect(madeEvents).to.have.length(26);
  });
  after(() => s?.stop());

  // ---- The connections.

  const root = (field: string, filterType?: string): Target => ({
    label: field,
    query: `query(${PAGE_VARS}${filterType ? `, $filter: ${filterType}` : ''}) { ${field}(${PAGE_ARGS}${filterType ? ', filter: $filter' : ''}) { ${PAGE} } }`,
    pick: (data) => data[field] as Conn,
  });
  const licensesOf = (customerId: string): Target => ({
    label: `Customer.licenses of ${customerId}`,
    query: `query($id: ID!, ${PAGE_VARS}) { customer(id: $id) { licenses(${PAGE_ARGS}) { ${PAGE} } } }`,
    variables: { id: customerId },
    pick: (data) => (data.customer as { licenses: Conn }).licenses,
  });
  const customersOf = (resellerId: string): Target => ({
    label: `Reseller.customers of ${resellerId}`,
    query: `query($id: ID!, ${PAGE_VARS}) { node(id: $id) { ... on Reseller { customers(${PAGE_ARGS}) { ${PAGE} } } } }`,
    variables: { id: resellerId },
    pick: (data) => (data.node as { customers: Conn }).customers,
  });

  describe('root connections, as an admin', () => {
    it('licenses: backward from the end matches forward row for row; the page info is right at the ends and in the middle', async () => {
      await checkConnection(root('licenses', 'LicenseFilter'), adminToken, ids(licenses));
    });

    it('licenses with a filter', async () => {
      const t = { ...root('licenses', 'LicenseFilter'), label: 'licenses REVOKED', variables: { filter: { status: ['REVOKED'] } } };
      const want = ids(licenses.filter((l) => l.revoked));
      expect(want.length).to.be.greaterThan(5);
      await checkConnection(t, adminToken, want);
      const one = {
        ...root('licenses', 'LicenseFilter'),
        label: 'licenses of a customer',
        variables: { filter: { customerId: ownCustomer.id } },
      };
      await checkConnection(one, adminToken, ids(licenses.filter((l) => l.customer === ownCustomer.id)));
    });

    it('customers', async () => {
      await checkConnection(root('customers', 'CustomerFilter'), adminToken, ids(customers));
    });

    it('resellers', async () => {
      await checkConnection(root('resellers'), adminToken, ids(resellers));
    });

    it('users', async () => {
      await checkConnection(root('users', 'UserFilter'), adminToken, ids(users));
    });

    it('auditEvents', async () => {
      // Reading writes no audit event, so the list stays as read in before().
      await checkConnection(root('auditEvents', 'AuditEventFilter'), adminToken, ids(events));
    });

    it('refuses last 0 and 101, first with last, and a malformed cursor with BAD_USER_INPUT naming the argument', async () => {
      for (const [field, filter] of [
        ['licenses', 'LicenseFilter'],
        ['customers', 'CustomerFilter'],
        ['resellers', undefined],
        ['users', 'UserFilter'],
        ['auditEvents', 'AuditEventFilter'],
      ] as const) {
        await checkBadInput(root(field, filter), adminToken);
      }
      // first as a literal with last, and last 100 alone (the schema default of first does not count).
      expectBadInput(await s.gql('{ licenses(first: 20, last: 5) { totalCount } }', {}, adminToken), 'last', 'literal first + last');
      const hundred = await s.gql<{ licenses: Conn }>(`{ licenses(last: 100) { ${PAGE} } }`, {}, adminToken);
      noErrors(hundred);
      expect(hundred.data!.licenses.edges.map((e) => e.node.id)).to.deep.equal(ids(licenses));
      // A page size of null is no page size: last alone.
      const nullFirst = await page(root('licenses', 'LicenseFilter'), { first: null, last: 2 }, adminToken);
      expect(nullFirst.edges.map((e) => e.node.id)).to.deep.equal(ids(licenses).slice(-2));
    });
  });

  describe('nested connections', () => {
    it('Customer.licenses of several customers in one request: last/before applied to each, as on its own', async () => {
      const NESTED = `query(${PAGE_VARS}) { customers(first: 50) { edges { node { id licenses(${PAGE_ARGS}) { ${PAGE} } } } } }`;
      const all = ids(licenses);
      // No cursor, and a cursor from the global order: each customer's rows newer than it.
      for (const [size, cursorAt] of [
        [2, null],
        [4, null],
        [100, null],
        [2, Math.floor(all.length / 2)],
        [3, all.length - 1],
        [1, 5],
      ] as const) {
        const global = await page(root('licenses', 'LicenseFilter'), { first: 100 }, adminToken);
        const before = cursorAt === null ? null : global.edges[cursorAt]!.cursor;
        const newer = cursorAt === null ? all : all.slice(0, cursorAt);
        const res = await s.gql<{ customers: { edges: { node: { id: string; licenses: Conn } }[] } }>(
          NESTED,
          { last: size, before },
          adminToken,
        );
        noErrors(res);
        const nodes = res.data!.customers.edges.map((e) => e.node);
        expect(nodes).to.have.length(customers.length);
        for (const node of nodes) {
          const own = new Set(licenses.filter((l) => l.customer === node.id).map((l) => l.id));
          const want = newer.filter((id) => own.has(id));
          const got = node.licenses;
          const what = `customer ${node.id}, last ${size} before #${cursorAt}`;
          expect(
            got.edges.map((e) => e.node.id),
            what,
          ).to.deep.equal(want.slice(Math.max(0, want.length - size)));
          expect(got.pageInfo, what).to.deep.equal(pageInfoOf(got.edges, { hasNextPage: false, hasPreviousPage: want.length > size }));
          expect(got.totalCount, what).to.equal(own.size);
        }
      }
    });

    it('Customer.licenses: backward through each customer matches forward row for row', async () => {
      for (const id of [...new Set(licenses.map((l) => l.customer))].slice(0, 5)) {
        const want = ids(licenses.filter((l) => l.customer === id));
        await checkConnection(licensesOf(id), adminToken, want);
      }
      await checkBadInput(licensesOf(ownCustomer.id), adminToken);
    });

    it('Reseller.customers of every reseller in one request, and backward through each', async () => {
      const NESTED = `query(${PAGE_VARS}) { resellers(first: 50) { edges { node { id customers(${PAGE_ARGS}) { ${PAGE} } } } } }`;
      const all = ids(customers);
      const global = await page(root('customers', 'CustomerFilter'), { first: 100 }, adminToken);
      for (const [size, cursorAt] of [
        [2, null],
        [100, null],
        [2, Math.floor(all.length / 2)],
        [1, all.length - 1],
      ] as const) {
        const before = cursorAt === null ? null : global.edges[cursorAt]!.cursor;
        const newer = cursorAt === null ? all : all.slice(0, cursorAt);
        const res = await s.gql<{ resellers: { edges: { node: { id: string; customers: Conn } }[] } }>(
          NESTED,
          { last: size, before },
          adminToken,
        );
        noErrors(res);
        const nodes = res.data!.resellers.edges.map((e) => e.node);
        expect(nodes).to.have.length(resellers.length);
        for (const node of nodes) {
          const own = new Set(customers.filter((c) => c.reseller === node.id).map((c) => c.id));
          const want = newer.filter((id) => own.has(id));
          const what = `reseller ${node.id}, last ${size} before #${cursorAt}`;
          expect(
            node.customers.edges.map((e) => e.node.id),
            what,
          ).to.deep.equal(want.slice(Math.max(0, want.length - size)));
          expect(node.customers.pageInfo, what).to.deep.equal(
            pageInfoOf(node.customers.edges, { hasNextPage: false, hasPreviousPage: want.length > size }),
          );
          expect(node.customers.totalCount, what).to.equal(own.size);
        }
      }
      for (const reseller of [resellerA, resellerB]) {
        await checkConnection(customersOf(reseller.id), adminToken, ids(customers.filter((c) => c.reseller === reseller.id)));
      }
      await checkBadInput(customersOf(resellerA.id), adminToken);
    });
  });

  describe('cost', () => {
    it('runs a deep backward page in the statements of the first one, with LIMIT and no OFFSET', async () => {
      const cases: [string, string][] = [
        ['licenses', `query(${PAGE_VARS}) { licenses(${PAGE_ARGS}) { ${PAGE} } }`],
        ['customers', `query(${PAGE_VARS}) { customers(${PAGE_ARGS}) { ${PAGE} } }`],
        ['Customer.licenses', `query(${PAGE_VARS}) { customers(first: 50) { edges { node { licenses(${PAGE_ARGS}) { ${PAGE} } } } } }`],
        ['Reseller.customers', `query(${PAGE_VARS}) { resellers(first: 50) { edges { node { customers(${PAGE_ARGS}) { ${PAGE} } } } } }`],
      ];
      // The session's lastSeenAt is touched at most once a minute: do that outside the measurement.
      await s.gql('{ me { id } }', {}, adminToken);
      const measure = async (query: string, variables: PageVars) => {
        s.queries.length = 0;
        noErrors(await s.gql(query, variables, adminToken));
        return s.queries.filter((q) => q.includes('[query]'));
      };
      const deepLicense = (await page(root('licenses', 'LicenseFilter'), { first: 100 }, adminToken)).edges[3]!.cursor;
      const deepCustomer = (await page(root('customers', 'CustomerFilter'), { first: 100 }, adminToken)).edges[2]!.cursor;
      for (const [label, query] of cases) {
        const deep = label.endsWith('licenses') ? deepLicense : deepCustomer;
        const last = await measure(query, { last: 3 });
        const deeper = await measure(query, { last: 3, before: deep });
        expect(deeper.length, `${label}\n${deeper.join('\n')}`).to.equal(last.length);
        for (const statement of [...last, ...deeper]) expect(statement, label).to.not.match(/\boffset\b/i);
        expect(
          deeper.some((q) => /\blimit\b|page_rank/i.test(q)),
          `${label}\n${deeper.join('\n')}`,
        ).to.equal(true);
      }
    });
  });

  describe('visibility', () => {
    it('a reseller paging backward sees only its own rows, and totalCount counts only those', async () => {
      const a = resellerA.id;
      await checkConnection(root('licenses', 'LicenseFilter'), aToken, ids(licenses.filter((l) => l.reseller === a)));
      await checkConnection(root('customers', 'CustomerFilter'), aToken, ids(customers.filter((c) => c.reseller === a)));
      await checkConnection(root('resellers'), aToken, [a]);
      await checkConnection(root('users', 'UserFilter'), aToken, ids(users.filter((u) => u.reseller === a)));
      await checkConnection(root('auditEvents', 'AuditEventFilter'), aToken, ids(events.filter((e) => e.reseller === a)));
      await checkConnection(customersOf(a), aToken, ids(customers.filter((c) => c.reseller === a)));
    });

    it("a reseller paging backward from another reseller's cursors never sees a foreign row", async () => {
      const a = resellerA.id;
      const cases: [Target, Keyed[], (row: never) => boolean][] = [
        [root('licenses', 'LicenseFilter'), licenses, (l: { reseller: string }) => l.reseller === a],
        [root('customers', 'CustomerFilter'), customers, (c: { reseller: string }) => c.reseller === a],
        [root('users', 'UserFilter'), users, (u: { reseller: string | null }) => u.reseller === a],
        [root('auditEvents', 'AuditEventFilter'), events, (e: { reseller: string | null }) => e.reseller === a],
      ];
      for (const [t, rows, mine] of cases) {
        const all = await page(t, { first: 100 }, adminToken);
        expect(all.edges.map((e) => e.node.id)).to.deep.equal(ids(rows));
        const visible = new Set(rows.filter((r) => mine(r as never)).map((r) => r.id));
        for (const [i, edge] of all.edges.entries()) {
          if (visible.has(edge.node.id) && i % 3) continue;
          const conn = await page(t, { last: 4, before: edge.cursor }, aToken);
          const want = all.edges
            .slice(0, i)
            .map((e) => e.node.id)
            .filter((id) => visible.has(id));
          expect(
            conn.edges.map((e) => e.node.id),
            `${t.label} before #${i}`,
          ).to.deep.equal(want.slice(Math.max(0, want.length - 4)));
          expect(conn.pageInfo.hasPreviousPage, `${t.label} before #${i}`).to.equal(want.length > 4);
          expect(conn.totalCount).to.equal(visible.size);
        }
      }
    });

    it("a reseller's nested Customer.licenses and a customer user's licenses, backward", async () => {
      const NESTED = `query(${PAGE_VARS}) { customers(first: 50) { edges { node { id licenses(${PAGE_ARGS}) { ${PAGE} } } } } }`;
      const res = await s.gql<{ customers: { edges: { node: { id: string; licenses: Conn } }[] } }>(NESTED, { last: 3 }, aToken);
      noErrors(res);
      const nodes = res.data!.customers.edges.map((e) => e.node);
      expect(nodes.map((n) => n.id).sort()).to.deep.equal(
        customers
          .filter((c) => c.reseller === resellerA.id)
          .map((c) => c.id)
          .sort(),
      );
      for (const node of nodes) {
        const want = ids(licenses.filter((l) => l.customer === node.id));
        expect(node.licenses.edges.map((e) => e.node.id)).to.deep.equal(want.slice(Math.max(0, want.length - 3)));
        expect(node.licenses.totalCount).to.equal(want.length);
      }
      await checkConnection(root('licenses', 'LicenseFilter'), customerToken, ids(licenses.filter((l) => l.customer === ownCustomer.id)));
      await checkConnection(licensesOf(ownCustomer.id), customerToken, ids(licenses.filter((l) => l.customer === ownCustomer.id)));
    });
  });
});
