// The cost limit of FLOWS.md section 8: a request's cost is computed from its document and variables
// before any resolver runs (each connection: its page size times the page sizes it is nested in;
// createLicenses: its rows), and a request above MAX_QUERY_COST is refused with BAD_USER_INPUT,
// reason QUERY_TOO_COMPLEX, extensions.cost and extensions.limit.
import { expect } from 'chai';
import { LicenseKind, Role } from '../../src/common/enums';
import { newId } from '../../src/common/ids';
import { ConfigError, loadConfig } from '../../src/config';
import { Customer } from '../../src/modules/customers/customer.entity';
import { License } from '../../src/modules/licenses/license.entity';
import { generateLicenseKey } from '../../src/modules/licenses/license-key';
import type { Reseller } from '../../src/modules/resellers/reseller.entity';
import { makeCustomer, makeReseller, makeUser, signIn } from '../factories';
import { codeOf, startTestServer, testEnv, type GqlResult, type TestServer } from '../helpers/server';

const CUSTOMERS = 100;
const LICENSES_PER_CUSTOMER = 100;

/** `customers(first: a) { ... licenses(first: b) ... }`: costs a + a * b. */
const nestedPages = (a: number | string, b: number | string, alias = '') =>
  `${alias}customers(first: ${a}) { totalCount edges { node { id name licenses(first: ${b}) { totalCount edges { node { id key customer { id } } } pageInfo { hasNextPage } } } } }`;

/** The request of the issue: 15 aliases (the most allowed) of customers(100) x licenses(100). */
const ATTACK = `{ ${Array.from({ length: 15 }, (_, i) => nestedPages(100, 100, `c${i}: `)).join(' ')} }`;

/** SQL statements that read customers or licenses (the session lookup reads neither). */
const dataReads = (s: TestServer, from: number) => s.queries.slice(from).filter((q) => /\b(customer|license)\b/.test(q));

function expectTooComplex(res: GqlResult<unknown>, cost: number, limit = 10_000) {
  expect(res.status, JSON.stringify(res.errors)).to.equal(400);
  expect(res.data).to.equal(null);
  expect(res.errors).to.have.length(1);
  expect(codeOf(res)).to.equal('BAD_USER_INPUT');
  expect(res.errors![0]!.extensions).to.include({ reason: 'QUERY_TOO_COMPLEX', cost, limit });
}

/** 100 customers with 100 licenses each, inserted in bulk (the factories insert one row at a time). */
async function denseReseller(s: TestServer, reseller: Reseller): Promise<void> {
  const em = s.app.services.orm.em.fork();
  const now = Date.now();
  const customers = Array.from({ length: CUSTOMERS }, (_, i) => ({
    id: newId('Customer'),
    name: `Dense ${String(i).padStart(3, '0')}`,
    contactEmail: null,
    reseller: reseller.id,
    createdAt: new Date(now - 1_000_000 + i * 1000),
    updatedAt: new Date(now),
  }));
  await em.insertMany(Customer, customers as never[]);
  const rows = customers.flatMap((c, ci) =>
    Array.from({ length: LICENSES_PER_CUSTOMER }, (_, li) => ({
      id: newId('License'),
      key: generateLicenseKey(),
      kind: LicenseKind.MDM,
      seats: 5,
      validFrom: new Date(now - 86_400_000),
      validUntil: new Date(now + 365 * 86_400_000),
      revokedAt: null,
      customer: c.id,
      reseller: reseller.id,
      idempotencyOwnerId: null,
      idempotencyKey: null,
      createdAt: new Date(now - 500_000 + ci * 1000 + li),
      updatedAt: new Date(now),
    })),
  );
  for (let i = 0; i < rows.length; i += 1000) await em.insertMany(License, rows.slice(i, i + 1000) as never[]);
}

type Conn<T> = { totalCount: number; edges: { node: T }[]; pageInfo?: { hasNextPage: boolean } };
type Dense = { customers: Conn<{ id: string; licenses: Conn<{ id: string; customer: { id: string } }> }> };

describe('query cost (FLOWS.md section 8)', function () {
  this.timeout(120_000);

  describe('with the default limit of 10,000', () => {
    let s: TestServer;
    let token: string;
    let customerId: string;

    before(async () => {
      s = await startTestServer();
      const reseller = await makeReseller(s);
      await denseReseller(s, reseller);
      customerId = (await makeCustomer(s, reseller)).id;
      token = await signIn(s, await makeUser(s, { role: Role.RESELLER, reseller }));
    });
    after(() => s?.stop());

    it("refuses the issue's 15 aliases of customers(100) x licenses(100) before reading any customer or license", async () => {
      const from = s.queries.length;
      const started = performance.now();
      const res = await s.gql(ATTACK, {}, token);
      const ms = performance.now() - started;
      expectTooComplex(res, 15 * (100 + 100 * 100));
      expect(dataReads(s, from)).to.deep.equal([]);
      expect(ms).to.be.below(2000);
    });

    it('refuses it without a token too: the cost is checked before anything else runs', async () => {
      expectTooComplex(await s.gql(ATTACK), 151_500);
    });

    it('runs the dearest allowed request (cost exactly 10,000) and answers it in full', async () => {
      // 100 + 100 * 99 = 10,000.
      const from = s.queries.length;
      const res = await s.gql<Dense>(`{ ${nestedPages(100, 99)} }`, {}, token);
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      const customers = res.data!.customers;
      expect(customers.totalCount).to.equal(CUSTOMERS + 1);
      expect(customers.edges).to.have.length(100);
      const dense = customers.edges.filter((e) => e.node.id !== customerId);
      expect(dense).to.have.length(CUSTOMERS - 1);
      for (const { node } of dense) {
        expect(node.licenses.totalCount).to.equal(LICENSES_PER_CUSTOMER);
        expect(node.licenses.edges).to.have.length(99);
        expect(node.licenses.pageInfo!.hasNextPage).to.equal(true);
        expect(node.licenses.edges.every((e) => e.node.customer.id === node.id)).to.equal(true);
      }
      expect(dataReads(s, from)).to.not.deep.equal([]);
    });

    it('refuses one row more than the limit: customers(100) x licenses(100) costs 10,100', async () => {
      expectTooComplex(await s.gql(`{ ${nestedPages(100, 100)} }`, {}, token), 10_100);
    });

    it('counts page sizes given by variables', async () => {
      const query = `query($a: Int, $b: Int) { ${nestedPages('$a', '$b')} }`;
      expectTooComplex(await s.gql(query, { a: 100, b: 100 }, token), 10_100);
      const res = await s.gql<Dense>(query, { a: 100, b: 99 }, token);
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      expect(res.data!.customers.edges).to.have.length(100);
    });

    it('counts connections inside fragment spreads and inline fragments', async () => {
      const spread = `{ customers(first: 100) { ...Rows } } fragment Rows on CustomerConnection { edges { node { licenses(first: 100) { totalCount } } } }`;
      expectTooComplex(await s.gql(spread, {}, token), 10_100);
      const inline = `query($id: ID!) { node(id: $id) { ... on Customer { reseller { customers(first: 100) { edges { node { licenses(first: 100) { totalCount } } } } } } } }`;
      expectTooComplex(await s.gql(inline, { id: customerId }, token), 10_100);
    });

    it('sums connections across aliases: two halves of the limit pass, a third does not', async () => {
      // 2 x (50 + 50 * 99) = 10,000; 3 x 5,000 = 15,000.
      const two = await s.gql(`{ ${nestedPages(50, 99, 'a: ')} ${nestedPages(50, 99, 'b: ')} }`, {}, token);
      expect(two.errors, JSON.stringify(two.errors)).to.equal(undefined);
      expectTooComplex(
        await s.gql(`{ ${nestedPages(50, 99, 'a: ')} ${nestedPages(50, 99, 'b: ')} ${nestedPages(50, 99, 'c: ')} }`, {}, token),
        15_000,
      );
    });

    it('charges a nested connection without `first` the default page size of 20', async () => {
      // customers(100) x licenses(default 20) x customer.licenses(5): 100 + 2,000 + 10,000.
      const query = `{ customers(first: 100) { edges { node { licenses { edges { node { customer { licenses(first: 5) { totalCount } } } } } } } } }`;
      expectTooComplex(await s.gql(query, {}, token), 12_100);
    });

    it('counts each row of createLicenses once per nested connection below it, and creates nothing when refused', async () => {
      const before = await s.app.services.orm.em.fork().count(License, {});
      const inputs = Array.from({ length: 100 }, () => ({ customerId, kind: 'MDM', seats: 1, validUntil: '2031-01-01T00:00:00.000Z' }));
      // 100 rows x (1 + customer.licenses(100)) = 10,100.
      const res = await s.gql(
        `mutation($inputs: [CreateLicenseInput!]!) { createLicenses(inputs: $inputs) { license { id customer { licenses(first: 100) { totalCount } } } } }`,
        { inputs },
        token,
      );
      expectTooComplex(res, 10_100);
      expect(await s.app.services.orm.em.fork().count(License, {})).to.equal(before);
    });
  });

  describe('with MAX_QUERY_COST=50', () => {
    let s: TestServer;
    let token: string;
    let customerId: string;

    before(async () => {
      s = await startTestServer({ MAX_QUERY_COST: '50' });
      const reseller = await makeReseller(s);
      customerId = (await makeCustomer(s, reseller)).id;
      token = await signIn(s, await makeUser(s, { role: Role.RESELLER, reseller }));
    });
    after(() => s?.stop());

    it('refuses a page of 51 and runs a page of 50', async () => {
      expectTooComplex(await s.gql(`{ customers(first: 51) { totalCount } }`, {}, token), 51, 50);
      const res = await s.gql<{ customers: Conn<unknown> }>(`{ customers(first: 50) { totalCount } }`, {}, token);
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      expect(res.data!.customers.totalCount).to.equal(1);
    });

    it('charges `last` like `first`: a backward page of 51 is refused, one of 50 runs', async () => {
      expectTooComplex(await s.gql(`{ customers(last: 51) { totalCount } }`, {}, token), 51, 50);
      expectTooComplex(await s.gql(`{ customers(last: 2) { edges { node { licenses(last: 30) { totalCount } } } } }`, {}, token), 62, 50);
      const res = await s.gql<{ customers: Conn<unknown> }>(`{ customers(last: 50) { totalCount } }`, {}, token);
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      expect(res.data!.customers.totalCount).to.equal(1);
    });

    it('charges connections without `first` the default of 20: customers x licenses is 20 + 400', async () => {
      expectTooComplex(await s.gql(`{ customers { edges { node { licenses { totalCount } } } } }`, {}, token), 420, 50);
    });

    it('charges an invalid page size at least one row, so it cannot hide what is nested below it', async () => {
      // first: 0 is refused when it runs, but only after nothing: it costs 1 x (1 + 60) here.
      const res = await s.gql(`{ customers(first: 0) { edges { node { licenses(first: 60) { totalCount } } } } }`, {}, token);
      expectTooComplex(res, 61, 50);
    });

    it('charges createLicenses one per row, given literally or by a variable', async () => {
      const input = `{ customerId: "${customerId}", kind: MDM, seats: 1, validUntil: "2031-01-01T00:00:00.000Z" }`;
      const before = await s.app.services.orm.em.fork().count(License, {});
      const literal = await s.gql(
        `mutation { createLicenses(inputs: [${Array(51).fill(input).join(', ')}]) { license { id } } }`,
        {},
        token,
      );
      expectTooComplex(literal, 51, 50);
      const inputs = Array.from({ length: 51 }, () => ({ customerId, kind: 'MDM', seats: 1, validUntil: '2031-01-01T00:00:00.000Z' }));
      const byVariable = await s.gql(
        `mutation($inputs: [CreateLicenseInput!]!) { createLicenses(inputs: $inputs) { license { id } } }`,
        { inputs },
        token,
      );
      expectTooComplex(byVariable, 51, 50);
      expect(await s.app.services.orm.em.fork().count(License, {})).to.equal(before);

      const allowed = await s.gql<{ createLicenses: { license: { id: string } | null }[] }>(
        `mutation($inputs: [CreateLicenseInput!]!) { createLicenses(inputs: $inputs) { license { id } } }`,
        { inputs: inputs.slice(0, 50) },
        token,
      );
      expect(allowed.errors, JSON.stringify(allowed.errors)).to.equal(undefined);
      expect(allowed.data!.createLicenses.filter((r) => r.license)).to.have.length(50);
    });
  });

  it('MAX_QUERY_COST must be a positive integer', () => {
    const env = testEnv('/tmp/lp-cost-config', 'unused');
    expect(loadConfig(env).maxQueryCost).to.equal(10_000);
    expect(loadConfig({ ...env, MAX_QUERY_COST: ' 2500 ' }).maxQueryCost).to.equal(2500);
    for (const bad of ['0', '-1', '1.5', 'lots', '1e4']) {
      expect(() => loadConfig({ ...env, MAX_QUERY_COST: bad }), bad).to.throw(ConfigError, /MAX_QUERY_COST/);
    }
  });
});
