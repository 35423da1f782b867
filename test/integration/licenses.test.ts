// Licenses as resellers and admins live them (FLOWS.md sections 2, 5 and 6): creating licenses with
// readable keys, validation, status at the edges of the validity window, revocation, idempotent
// retries (also concurrent and in bulk), keyset pagination, the statement count of list queries, and
// editing customers.
import { expect } from 'chai';
import type { FilterQuery } from '@mikro-orm/core';
import { LicenseKind, LicenseStatus, Role, SessionStage } from '../../src/common/enums';
import type { AuthenticatedPrincipal } from '../../src/modules/auth/principal';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { Customer } from '../../src/modules/customers/customer.entity';
import { isValidLicenseKey } from '../../src/modules/licenses/license-key';
import { License } from '../../src/modules/licenses/license.entity';
import { LicenseService } from '../../src/modules/licenses/license.service';
import { makeCustomer, makeLicense, makeReseller, makeUser, signIn, type TestUser } from '../factories';
import { codeOf, ok, startTestServer, type GqlResult, type TestServer } from '../helpers/server';
import type { Reseller } from '../../src/modules/resellers/reseller.entity';

const KEY_SHAPE = /^[2-9A-HJ-NP-Z]{5}(-[2-9A-HJ-NP-Z]{5}){4}$/;
const DAY = 86_400_000;

const LICENSE_FIELDS = 'id key kind seats validFrom validUntil status revokedAt createdAt customer { id } reseller { id }';
const CREATE = `mutation($input: CreateLicenseInput!) { createLicense(input: $input) { ${LICENSE_FIELDS} } }`;
const CREATE_MANY = `mutation($inputs: [CreateLicenseInput!]!) {
  createLicenses(inputs: $inputs) { license { id key customer { id } reseller { id } } error { code message field } }
}`;
const UPDATE = `mutation($id: ID!, $input: UpdateLicenseInput!) { updateLicense(id: $id, input: $input) { ${LICENSE_FIELDS} } }`;
const REVOKE = `mutation($id: ID!) { revokeLicense(id: $id) { ${LICENSE_FIELDS} } }`;
const LIST = `query($first: Int, $after: String, $filter: LicenseFilter) {
  licenses(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id status kind validUntil createdAt } }
  }
}`;
const UPDATE_CUSTOMER = `mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { id name contactEmail } }`;

interface LicenseOut {
  id: string;
  key: string;
  kind: string;
  seats: number;
  validFrom: string;
  validUntil: string;
  status: string;
  revokedAt: string | null;
  createdAt: string;
  customer: { id: string };
  reseller: { id: string };
}
interface ListOut {
  licenses: {
    totalCount: number;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    edges: { cursor: string; node: { id: string; status: string; kind: string; validUntil: string; createdAt: string } }[];
  };
}
interface RowOut {
  license: { id: string; key: string; customer: { id: string }; reseller: { id: string } } | null;
  error: { code: string; message: string; field: string | null } | null;
}

const noErrors = (res: GqlResult<unknown>) => expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);

function expectBadInput(res: GqlResult<unknown>, field: string) {
  expect(codeOf(res), JSON.stringify(res.errors)).to.equal('BAD_USER_INPUT');
  expect(res.errors![0]!.extensions!.field, JSON.stringify(res.errors)).to.equal(field);
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('licenses', function () {
  this.timeout(120_000);

  let s: TestServer;
  let admin: TestUser;
  let adminToken: string;
  let resellerA: Reseller;
  let resellerB: Reseller;
  let a1: TestUser;
  let a1Token: string;
  let a2Token: string;

  const countLicenses = (where: FilterQuery<License>) => s.app.services.orm.em.fork().count(License, where);
  const countAudit = (where: FilterQuery<AuditEvent>) => s.app.services.orm.em.fork().count(AuditEvent, where);
  const loadLicense = (id: string) => s.app.services.orm.em.fork().findOneOrFail(License, id);
  /** Only what the ORM logged as SQL statements. */
  const statements = () => s.queries.filter((q) => q.includes('[query]'));

  before(async () => {
    s = await startTestServer();
    resellerA = await makeReseller(s, { name: 'Reseller A' });
    resellerB = await makeReseller(s, { name: 'Reseller B' });
    admin = await makeUser(s, { role: Role.ADMIN });
    a1 = await makeUser(s, { role: Role.RESELLER, reseller: resellerA });
    const a2 = await makeUser(s, { role: Role.RESELLER, reseller: resellerA });
    adminToken = await signIn(s, admin);
    a1Token = await signIn(s, a1);
    a2Token = await signIn(s, a2);
  });
  after(() => s?.stop());

  describe('createLicense', () => {
    let customer: Customer;
    let foreignCustomer: Customer;
    before(async () => {
      customer = await makeCustomer(s, resellerA);
      foreignCustomer = await makeCustomer(s, resellerB);
    });

    it("gives a reseller a license with a well-formed, checkable key, the customer's reseller and validFrom = now", async () => {
      const validUntil = iso(Date.now() + 365 * DAY);
      const before = Date.now();
      const res = await s.gql<{ createLicense: LicenseOut }>(
        CREATE,
        { input: { customerId: customer.id, kind: 'MDM', seats: 25, validUntil } },
        a1Token,
      );
      const after = Date.now();
      noErrors(res);
      const license = res.data!.createLicense;
      expect(license.key).to.match(KEY_SHAPE);
      expect(isValidLicenseKey(license.key)).to.equal(true);
      expect(license).to.include({ kind: 'MDM', seats: 25, status: 'ACTIVE', revokedAt: null });
      expect(license.customer.id).to.equal(customer.id);
      expect(license.reseller.id).to.equal(resellerA.id);
      expect(new Date(license.validUntil).toISOString()).to.equal(validUntil);
      const validFrom = new Date(license.validFrom).getTime();
      expect(validFrom).to.be.within(before - 1000, after + 1000);
      const stored = await loadLicense(license.id);
      expect(stored.key).to.equal(license.key);
      expect(stored.reseller.id).to.equal(resellerA.id);
      expect(stored.validFrom.getTime()).to.equal(validFrom);
    });

    it("gives an admin a license whose reseller is the customer's reseller", async () => {
      const res = await s.gql<{ createLicense: LicenseOut }>(
        CREATE,
        { input: { customerId: foreignCustomer.id, kind: 'MOBILE_SECURITY', seats: 1, validUntil: iso(Date.now() + DAY) } },
        adminToken,
      );
      noErrors(res);
      const license = res.data!.createLicense;
      expect(license.key).to.match(KEY_SHAPE);
      expect(isValidLicenseKey(license.key)).to.equal(true);
      expect(license).to.include({ kind: 'MOBILE_SECURITY', seats: 1, status: 'ACTIVE' });
      expect(license.customer.id).to.equal(foreignCustomer.id);
      expect(license.reseller.id).to.equal(resellerB.id);
      expect((await loadLicense(license.id)).reseller.id).to.equal(resellerB.id);
    });

    it("does not let a reseller create a license for another reseller's customer (NOT_FOUND, nothing written)", async () => {
      const before = await countLicenses({ customer: foreignCustomer.id });
      const res = await s.gql(
        CREATE,
        { input: { customerId: foreignCustomer.id, kind: 'MDM', seats: 1, validUntil: iso(Date.now() + DAY) } },
        a1Token,
      );
      expect(codeOf(res)).to.equal('NOT_FOUND');
      expect(await countLicenses({ customer: foreignCustomer.id })).to.equal(before);
    });

    it('hands out 200 distinct, valid keys', async () => {
      const bulkCustomer = await makeCustomer(s, resellerA);
      const validUntil = iso(Date.now() + 30 * DAY);
      const keys: string[] = [];
      for (let batch = 0; batch < 2; batch++) {
        const inputs = Array.from({ length: 100 }, () => ({ customerId: bulkCustomer.id, kind: 'MDM', seats: 3, validUntil }));
        const res = await s.gql<{ createLicenses: RowOut[] }>(CREATE_MANY, { inputs }, a1Token);
        noErrors(res);
        expect(res.data!.createLicenses).to.have.length(100);
        for (const row of res.data!.createLicenses) {
          expect(row.error).to.equal(null);
          expect(row.license!.reseller.id).to.equal(resellerA.id);
          keys.push(row.license!.key);
        }
      }
      expect(keys).to.have.length(200);
      for (const key of keys) {
        expect(key).to.match(KEY_SHAPE);
        expect(isValidLicenseKey(key), key).to.equal(true);
      }
      expect(new Set(keys).size).to.equal(200);
      expect(await countLicenses({ customer: bulkCustomer.id })).to.equal(200);
    });

    it('accepts the edges of the seat range and a 200-character idempotency key', async () => {
      for (const seats of [1, 100_000]) {
        const res = await s.gql<{ createLicense: LicenseOut }>(
          CREATE,
          { input: { customerId: customer.id, kind: 'MDM', seats, validUntil: iso(Date.now() + DAY) } },
          a1Token,
        );
        noErrors(res);
        expect(res.data!.createLicense.seats).to.equal(seats);
      }
      const res = await s.gql(
        CREATE,
        { input: { customerId: customer.id, kind: 'MDM', seats: 2, validUntil: iso(Date.now() + DAY), idempotencyKey: 'k'.repeat(200) } },
        a1Token,
      );
      noErrors(res);
    });

    it('refuses invalid input with BAD_USER_INPUT naming the field, and creates nothing', async () => {
      const now = Date.now();
      const valid = { customerId: customer.id, kind: 'MDM', seats: 5, validFrom: iso(now), validUntil: iso(now + DAY) };
      const cases: [Record<string, unknown>, string][] = [
        [{ seats: 0 }, 'seats'],
        [{ seats: -1 }, 'seats'],
        [{ seats: 100_001 }, 'seats'],
        [{ validUntil: iso(now) }, 'validUntil'],
        [{ validUntil: iso(now - 1) }, 'validUntil'],
        [{ validFrom: iso(now + 2 * DAY), validUntil: iso(now + DAY) }, 'validUntil'],
        [{ idempotencyKey: 'x'.repeat(201) }, 'idempotencyKey'],
      ];
      const licensesBefore = await countLicenses({ customer: customer.id });
      const auditBefore = await countAudit({ action: 'LICENSE_CREATED', customerId: customer.id });
      for (const [change, field] of cases) {
        for (const token of [a1Token, adminToken]) {
          const res = await s.gql(CREATE, { input: { ...valid, ...change } }, token);
          expect(res.data, JSON.stringify(change)).to.equal(null);
          expectBadInput(res, field);
        }
      }
      // A validUntil before the default validFrom (now) is refused too.
      const res = await s.gql(CREATE, { input: { customerId: customer.id, kind: 'MDM', seats: 5, validUntil: iso(now - DAY) } }, a1Token);
      expectBadInput(res, 'validUntil');
      expect(await countLicenses({ customer: customer.id })).to.equal(licensesBefore);
      expect(await countAudit({ action: 'LICENSE_CREATED', customerId: customer.id })).to.equal(auditBefore);
    });
  });

  describe('status and filters', () => {
    let resellerF: Reseller;
    let fToken: string;
    let customer: Customer;
    before(async () => {
      resellerF = await makeReseller(s, { name: 'Reseller F' });
      const f1 = await makeUser(s, { role: Role.RESELLER, reseller: resellerF });
      fToken = await signIn(s, f1);
      customer = await makeCustomer(s, resellerF);
    });

    it('is ACTIVE from validFrom = now, PENDING before validFrom, EXPIRED from validUntil on', async () => {
      const now = Date.now();
      const active = await s.gql<{ createLicense: LicenseOut }>(
        CREATE,
        { input: { customerId: customer.id, kind: 'MDM', seats: 1, validFrom: iso(now), validUntil: iso(now + DAY) } },
        fToken,
      );
      noErrors(active);
      expect(active.data!.createLicense.status).to.equal('ACTIVE');
      expect(new Date(active.data!.createLicense.validFrom).getTime()).to.equal(now);

      const pending = await s.gql<{ createLicense: LicenseOut }>(
        CREATE,
        { input: { customerId: customer.id, kind: 'MDM', seats: 1, validFrom: iso(Date.now() + 60_000), validUntil: iso(now + DAY) } },
        fToken,
      );
      noErrors(pending);
      expect(pending.data!.createLicense.status).to.equal('PENDING');

      const expired = await s.gql<{ createLicense: LicenseOut }>(
        CREATE,
        { input: { customerId: customer.id, kind: 'MDM', seats: 1, validFrom: iso(now - 2 * DAY), validUntil: iso(now - DAY) } },
        fToken,
      );
      noErrors(expired);
      expect(expired.data!.createLicense.status).to.equal('EXPIRED');

      // validUntil = the moment of the request: by the time the status is read, now >= validUntil.
      const endsNow = await s.gql<{ createLicense: LicenseOut }>(
        CREATE,
        { input: { customerId: customer.id, kind: 'MDM', seats: 1, validFrom: iso(now - DAY), validUntil: iso(Date.now()) } },
        fToken,
      );
      noErrors(endsNow);
      expect(endsNow.data!.createLicense.status).to.equal('EXPIRED');
    });

    it('agrees at the exact boundary instants between License.statusAt and the database status filter', async () => {
      // Whole second, so that no engine rounds it.
      const t = Math.floor(Date.now() / 1000) * 1000 - 10_000;
      const at = new Date(t);
      const edgeCustomer = await makeCustomer(s, resellerF);
      const startsAtT = await makeLicense(s, edgeCustomer, { validFrom: new Date(t), validUntil: new Date(t + DAY) });
      const endsAtT = await makeLicense(s, edgeCustomer, { validFrom: new Date(t - DAY), validUntil: new Date(t) });
      const startsJustAfterT = await makeLicense(s, edgeCustomer, { validFrom: new Date(t + 1), validUntil: new Date(t + DAY) });
      const endsJustAfterT = await makeLicense(s, edgeCustomer, { validFrom: new Date(t - DAY), validUntil: new Date(t + 1) });
      const revokedInWindow = await makeLicense(s, edgeCustomer, {
        validFrom: new Date(t - DAY),
        validUntil: new Date(t + DAY),
        revokedAt: new Date(t - 1000),
      });
      const expected: Record<string, LicenseStatus> = {
        [startsAtT.id]: LicenseStatus.ACTIVE,
        [endsAtT.id]: LicenseStatus.EXPIRED,
        [startsJustAfterT.id]: LicenseStatus.PENDING,
        [endsJustAfterT.id]: LicenseStatus.ACTIVE,
        [revokedInWindow.id]: LicenseStatus.REVOKED,
      };
      // Read back: the stored instants are exact.
      for (const id of Object.keys(expected)) expect((await loadLicense(id)).statusAt(at), id).to.equal(expected[id]);

      const principal: AuthenticatedPrincipal = {
        kind: 'session',
        purpose: null,
        credentialId: 'test',
        userId: admin.user.id,
        role: Role.ADMIN,
        resellerId: null,
        customerId: null,
        stage: SessionStage.AUTHENTICATED,
      };
      const service = new LicenseService(s.app.services.reader, () => new Date(t));
      for (const status of Object.values(LicenseStatus)) {
        const page = await service.list(s.app.services.orm.em.fork(), principal, {
          first: 100,
          filter: { status: [status], customerId: edgeCustomer.id },
        });
        const want = Object.keys(expected)
          .filter((id) => expected[id] === status)
          .sort();
        expect(page.nodes.map((n) => n.id).sort(), status).to.deep.equal(want);
      }
    });

    it('shows REVOKED for a revoked license whose window is current; revocation is final', async () => {
      const license = await makeLicense(s, customer, {
        validFrom: new Date(Date.now() - DAY),
        validUntil: new Date(Date.now() + DAY),
        seats: 7,
      });
      const first = await s.gql<{ revokeLicense: LicenseOut }>(REVOKE, { id: license.id }, fToken);
      noErrors(first);
      expect(first.data!.revokeLicense.status).to.equal('REVOKED');
      const revokedAt = first.data!.revokeLicense.revokedAt;
      expect(revokedAt).to.be.a('string');

      await new Promise((r) => setTimeout(r, 20));
      const again = await s.gql<{ revokeLicense: LicenseOut }>(REVOKE, { id: license.id }, adminToken);
      noErrors(again);
      expect(again.data!.revokeLicense.status).to.equal('REVOKED');
      expect(again.data!.revokeLicense.revokedAt).to.equal(revokedAt);
      expect(await countAudit({ action: 'LICENSE_REVOKED', targetId: license.id })).to.equal(1);

      const stored = await loadLicense(license.id);
      for (const input of [{ seats: 9 }, { validUntil: iso(Date.now() + 10 * DAY) }]) {
        const update = await s.gql(UPDATE, { id: license.id, input }, fToken);
        expect(codeOf(update), JSON.stringify(update.errors)).to.equal('BAD_USER_INPUT');
      }
      const after = await loadLicense(license.id);
      expect(after.seats).to.equal(7);
      expect(after.validUntil.getTime()).to.equal(stored.validUntil.getTime());
      expect(after.revokedAt!.getTime()).to.equal(new Date(revokedAt!).getTime());
      expect(await countAudit({ action: 'LICENSE_UPDATED', targetId: license.id })).to.equal(0);

      const read = await s.gql<{ license: { status: string; revokedAt: string } }>(
        'query($id: ID!) { license(id: $id) { status revokedAt } }',
        { id: license.id },
        fToken,
      );
      expect(read.data!.license).to.deep.equal({ status: 'REVOKED', revokedAt });
    });

    it('updates seats and validUntil of a live license, validated like createLicense', async () => {
      const license = await makeLicense(s, customer, { seats: 4 });
      const ok = await s.gql<{ updateLicense: LicenseOut }>(UPDATE, { id: license.id, input: { seats: 40 } }, fToken);
      noErrors(ok);
      expect(ok.data!.updateLicense.seats).to.equal(40);
      expectBadInput(await s.gql(UPDATE, { id: license.id, input: { seats: 0 } }, fToken), 'seats');
      expectBadInput(await s.gql(UPDATE, { id: license.id, input: { seats: 100_001 } }, fToken), 'seats');
      expectBadInput(await s.gql(UPDATE, { id: license.id, input: { validUntil: license.validFrom.toISOString() } }, fToken), 'validUntil');
      expect((await loadLicense(license.id)).seats).to.equal(40);
    });

    describe('list filters', () => {
      let filterToken: string;
      const ids: Record<string, string> = {};
      let revokedExpired: string;
      const t0 = Date.now();
      before(async () => {
        const resellerG = await makeReseller(s, { name: 'Reseller G' });
        const g1 = await makeUser(s, { role: Role.RESELLER, reseller: resellerG });
        filterToken = await signIn(s, g1);
        const c1 = await makeCustomer(s, resellerG);
        const c2 = await makeCustomer(s, resellerG);
        ids.ACTIVE = (
          await makeLicense(s, c1, { validFrom: new Date(t0 - DAY), validUntil: new Date(t0 + 10 * DAY), kind: LicenseKind.MDM })
        ).id;
        ids.PENDING = (
          await makeLicense(s, c2, {
            validFrom: new Date(t0 + DAY),
            validUntil: new Date(t0 + 20 * DAY),
            kind: LicenseKind.MOBILE_SECURITY,
          })
        ).id;
        ids.EXPIRED = (
          await makeLicense(s, c1, {
            validFrom: new Date(t0 - 10 * DAY),
            validUntil: new Date(t0 - DAY),
            kind: LicenseKind.MOBILE_SECURITY,
          })
        ).id;
        ids.REVOKED = (
          await makeLicense(s, c2, {
            validFrom: new Date(t0 - DAY),
            validUntil: new Date(t0 + 5 * DAY),
            revokedAt: new Date(t0 - 1000),
            kind: LicenseKind.MDM,
          })
        ).id;
        revokedExpired = (
          await makeLicense(s, c1, {
            validFrom: new Date(t0 - 10 * DAY),
            validUntil: new Date(t0 - 2 * DAY),
            revokedAt: new Date(t0 - 5 * DAY),
          })
        ).id;
      });

      const list = async (filter: Record<string, unknown>) => {
        const res = await s.gql<ListOut>(LIST, { first: 100, filter }, filterToken);
        noErrors(res);
        expect(res.data!.licenses.totalCount).to.equal(res.data!.licenses.edges.length);
        return res.data!.licenses.edges.map((e) => e.node);
      };

      it('returns exactly the licenses of the requested statuses', async () => {
        expect((await list({ status: ['ACTIVE'] })).map((n) => n.id)).to.deep.equal([ids.ACTIVE]);
        expect((await list({ status: ['PENDING'] })).map((n) => n.id)).to.deep.equal([ids.PENDING]);
        expect((await list({ status: ['EXPIRED'] })).map((n) => n.id)).to.deep.equal([ids.EXPIRED]);
        expect((await list({ status: ['REVOKED'] })).map((n) => n.id).sort()).to.deep.equal([ids.REVOKED!, revokedExpired].sort());
        expect((await list({ status: ['ACTIVE', 'PENDING'] })).map((n) => n.id).sort()).to.deep.equal([ids.ACTIVE!, ids.PENDING!].sort());
        const all = await list({});
        expect(all).to.have.length(5);
        for (const node of all) {
          const byStatus = await list({ status: [node.status] });
          expect(byStatus.map((n) => n.id)).to.include(node.id);
        }
        expect(await list({ status: [] })).to.have.length(5);
      });

      it('filters by kind', async () => {
        expect((await list({ kind: 'MOBILE_SECURITY' })).map((n) => n.id).sort()).to.deep.equal([ids.PENDING!, ids.EXPIRED!].sort());
        const mdm = await list({ kind: 'MDM' });
        expect(mdm.map((n) => n.id).sort()).to.deep.equal([ids.ACTIVE!, ids.REVOKED!, revokedExpired].sort());
        expect(mdm.every((n) => n.kind === 'MDM')).to.equal(true);
        expect((await list({ kind: 'MDM', status: ['ACTIVE'] })).map((n) => n.id)).to.deep.equal([ids.ACTIVE]);
      });

      it('filters by expiresBefore (validUntil strictly before the instant)', async () => {
        expect((await list({ expiresBefore: iso(t0) })).map((n) => n.id).sort()).to.deep.equal([ids.EXPIRED!, revokedExpired].sort());
        expect((await list({ expiresBefore: iso(t0 - DAY) })).map((n) => n.id)).to.deep.equal([revokedExpired]);
        // The ACTIVE one ends at exactly t0 + 10 days: not before that instant, but before one ms later.
        expect((await list({ expiresBefore: iso(t0 + 10 * DAY) })).map((n) => n.id)).to.not.include(ids.ACTIVE);
        expect((await list({ expiresBefore: iso(t0 + 10 * DAY + 1) })).map((n) => n.id)).to.include(ids.ACTIVE);
        expect(await list({ expiresBefore: iso(t0 + 100 * DAY) })).to.have.length(5);
      });

      it('sees through customer.hasValidLicense only ACTIVE licenses', async () => {
        const resellerH = await makeReseller(s, { name: 'Reseller H' });
        const h1 = await makeUser(s, { role: Role.RESELLER, reseller: resellerH });
        const hToken = await signIn(s, h1);
        const now = Date.now();
        const withActive = await makeCustomer(s, resellerH, { name: 'with active' });
        const activeLicense = await makeLicense(s, withActive, { validFrom: new Date(now - DAY), validUntil: new Date(now + DAY) });
        await makeLicense(s, withActive, { validFrom: new Date(now - 3 * DAY), validUntil: new Date(now - 2 * DAY) });
        const pendingOnly = await makeCustomer(s, resellerH, { name: 'pending only' });
        await makeLicense(s, pendingOnly, { validFrom: new Date(now + DAY), validUntil: new Date(now + 2 * DAY) });
        const expiredOnly = await makeCustomer(s, resellerH, { name: 'expired only' });
        await makeLicense(s, expiredOnly, { validFrom: new Date(now - 3 * DAY), validUntil: new Date(now - DAY) });
        const revokedOnly = await makeCustomer(s, resellerH, { name: 'revoked only' });
        await makeLicense(s, revokedOnly, {
          validFrom: new Date(now - DAY),
          validUntil: new Date(now + DAY),
          revokedAt: new Date(now - 1000),
        });
        const none = await makeCustomer(s, resellerH, { name: 'none' });

        const read = async () => {
          const res = await s.gql<{ customers: { edges: { node: { id: string; hasValidLicense: boolean } }[] } }>(
            '{ customers(first: 100) { edges { node { id hasValidLicense } } } }',
            {},
            hToken,
          );
          noErrors(res);
          return Object.fromEntries(res.data!.customers.edges.map((e) => [e.node.id, e.node.hasValidLicense]));
        };
        expect(await read()).to.deep.equal({
          [withActive.id]: true,
          [pendingOnly.id]: false,
          [expiredOnly.id]: false,
          [revokedOnly.id]: false,
          [none.id]: false,
        });
        const single = await s.gql<{ customer: { hasValidLicense: boolean } }>(
          'query($id: ID!) { customer(id: $id) { hasValidLicense } }',
          { id: withActive.id },
          hToken,
        );
        expect(single.data!.customer.hasValidLicense).to.equal(true);

        const filtered = async (value: boolean) => {
          const res = await s.gql<{ customers: { totalCount: number; edges: { node: { id: string } }[] } }>(
            'query($v: Boolean) { customers(first: 100, filter: { hasValidLicense: $v }) { totalCount edges { node { id } } } }',
            { v: value },
            hToken,
          );
          noErrors(res);
          expect(res.data!.customers.totalCount).to.equal(res.data!.customers.edges.length);
          return res.data!.customers.edges.map((e) => e.node.id).sort();
        };
        expect(await filtered(true)).to.deep.equal([withActive.id]);
        expect(await filtered(false)).to.deep.equal([pendingOnly.id, expiredOnly.id, revokedOnly.id, none.id].sort());

        noErrors(await s.gql(REVOKE, { id: activeLicense.id }, hToken));
        expect((await read())[withActive.id]).to.equal(false);
        expect(await filtered(true)).to.deep.equal([]);
      });
    });
  });

  describe('idempotency', () => {
    let customer: Customer;
    before(async () => {
      customer = await makeCustomer(s, resellerA);
    });

    it('creates one license for 20 concurrent calls with one idempotencyKey, and every call returns it', async () => {
      const input = { customerId: customer.id, kind: 'MDM', seats: 10, validUntil: iso(Date.now() + DAY), idempotencyKey: 'order-4711' };
      const results = await Promise.all(Array.from({ length: 20 }, () => s.gql<{ createLicense: LicenseOut }>(CREATE, { input }, a1Token)));
      for (const res of results) noErrors(res);
      const ids = new Set(results.map((r) => r.data!.createLicense.id));
      expect(ids.size).to.equal(1);
      const keys = new Set(results.map((r) => r.data!.createLicense.key));
      expect(keys.size).to.equal(1);
      const id = [...ids][0]!;
      expect(await countLicenses({ customer: customer.id, idempotencyKey: 'order-4711' })).to.equal(1);
      expect(await countLicenses({ customer: customer.id })).to.equal(1);
      expect(await countAudit({ action: 'LICENSE_CREATED', targetId: id })).to.equal(1);
      expect(await countAudit({ action: 'LICENSE_CREATED', customerId: customer.id })).to.equal(1);

      // A later retry returns the first license too (also when the retry's payload differs).
      const retry = await s.gql<{ createLicense: LicenseOut }>(CREATE, { input }, a1Token);
      noErrors(retry);
      expect(retry.data!.createLicense.id).to.equal(id);
      const changed = await s.gql<{ createLicense: LicenseOut }>(CREATE, { input: { ...input, seats: 99 } }, a1Token);
      if (!changed.errors) expect(changed.data!.createLicense).to.include({ id, seats: 10 });
      expect(await countLicenses({ customer: customer.id })).to.equal(1);
    });

    it('keeps idempotency keys per caller: the same key from another user of the same reseller creates a separate license', async () => {
      const input = { customerId: customer.id, kind: 'MDM', seats: 10, validUntil: iso(Date.now() + DAY), idempotencyKey: 'shared-key' };
      const mine = await s.gql<{ createLicense: LicenseOut }>(CREATE, { input }, a1Token);
      noErrors(mine);
      const theirs = await s.gql<{ createLicense: LicenseOut }>(CREATE, { input }, a2Token);
      noErrors(theirs);
      expect(theirs.data!.createLicense.id).to.not.equal(mine.data!.createLicense.id);
      const theirsAgain = await s.gql<{ createLicense: LicenseOut }>(CREATE, { input }, a2Token);
      expect(theirsAgain.data!.createLicense.id).to.equal(theirs.data!.createLicense.id);
      const mineAgain = await s.gql<{ createLicense: LicenseOut }>(CREATE, { input }, a1Token);
      expect(mineAgain.data!.createLicense.id).to.equal(mine.data!.createLicense.id);
      expect(await countLicenses({ idempotencyKey: 'shared-key' })).to.equal(2);
    });

    it('makes a re-sent createLicenses batch create nothing new, row by row', async () => {
      const bulkCustomer = await makeCustomer(s, resellerA);
      const validUntil = iso(Date.now() + DAY);
      const inputs = [
        { customerId: bulkCustomer.id, kind: 'MDM', seats: 1, validUntil, idempotencyKey: 'bulk-1' },
        { customerId: bulkCustomer.id, kind: 'MOBILE_SECURITY', seats: 2, validUntil, idempotencyKey: 'bulk-2' },
        { customerId: bulkCustomer.id, kind: 'MDM', seats: 0, validUntil, idempotencyKey: 'bulk-3' },
        { customerId: bulkCustomer.id, kind: 'MDM', seats: 3, validUntil, idempotencyKey: 'bulk-4' },
      ];
      const first = await s.gql<{ createLicenses: RowOut[] }>(CREATE_MANY, { inputs }, a1Token);
      noErrors(first);
      const rows = first.data!.createLicenses;
      expect(rows).to.have.length(4);
      // One bad row does not stop the others.
      expect(rows[2]!.license).to.equal(null);
      expect(rows[2]!.error).to.include({ code: 'BAD_USER_INPUT', field: 'seats' });
      for (const i of [0, 1, 3]) {
        expect(rows[i]!.error).to.equal(null);
        expect(rows[i]!.license!.reseller.id).to.equal(resellerA.id);
      }
      expect(await countLicenses({ customer: bulkCustomer.id })).to.equal(3);

      const again = await s.gql<{ createLicenses: RowOut[] }>(CREATE_MANY, { inputs }, a1Token);
      noErrors(again);
      // The same licenses as the first answer, in full (key, customer, reseller), and the same refusal.
      expect(again.data!.createLicenses).to.deep.equal(rows);
      expect(await countLicenses({ customer: bulkCustomer.id })).to.equal(3);
      expect(await countAudit({ action: 'LICENSE_CREATED', customerId: bulkCustomer.id })).to.equal(3);

      // A single createLicense with one of the batch's keys returns the batch's license.
      const single = await s.gql<{ createLicense: LicenseOut }>(CREATE, { input: inputs[1] }, a1Token);
      expect(single.data!.createLicense.id).to.equal(rows[1]!.license!.id);
    });

    it('answers each created createLicenses row with the license as stored: every field, its customer and its reseller', async () => {
      const bulkCustomer = await makeCustomer(s, resellerA);
      const now = Date.now();
      const inputs = [
        { customerId: bulkCustomer.id, kind: 'MDM', seats: 7, validUntil: iso(now + 30 * DAY) },
        { customerId: bulkCustomer.id, kind: 'MOBILE_SECURITY', seats: 2, validFrom: iso(now + DAY), validUntil: iso(now + 60 * DAY) },
      ];
      const fields = `${LICENSE_FIELDS} customer { id name reseller { id } } reseller { id name }`;
      const rows = ok(
        await s.gql<{ createLicenses: { license: Record<string, unknown> }[] }>(
          `mutation($inputs: [CreateLicenseInput!]!) { createLicenses(inputs: $inputs) { license { ${fields} } } }`,
          { inputs },
          a1Token,
        ),
      ).createLicenses;
      expect(rows.map((r) => r.license['status'])).to.deep.equal(['ACTIVE', 'PENDING']);
      for (const row of rows) {
        expect(row.license).to.deep.include({ customer: { id: bulkCustomer.id, name: bulkCustomer.name, reseller: { id: resellerA.id } } });
        const read = ok(
          await s.gql<{ license: unknown }>(`query($id: ID!) { license(id: $id) { ${fields} } }`, { id: row.license['id'] }, a1Token),
        );
        expect(row.license).to.deep.equal(read.license);
      }
    });

    it('writes a createLicenses batch as set operations: its SQL statements do not grow with its rows (10 vs 100 rows, 5 customers)', async () => {
      const customers: { id: string }[] = [];
      for (let i = 0; i < 5; i++) customers.push(await makeCustomer(s, resellerA));
      const validUntil = iso(Date.now() + 30 * DAY);
      const countFor = async (rows: number) => {
        const inputs = Array.from({ length: rows }, (_, i) => ({
          customerId: customers[i % 5]!.id,
          kind: 'MDM',
          seats: 1,
          validUntil,
          idempotencyKey: `set-${rows}-${i}`,
        }));
        s.queries.length = 0;
        const res = await s.gql<{ createLicenses: RowOut[] }>(CREATE_MANY, { inputs }, a1Token);
        noErrors(res);
        expect(res.data!.createLicenses.filter((r) => r.license)).to.have.length(rows);
        // Without the session lookup and touches of the request itself, and the loads of the selected customer/reseller fields.
        return statements().filter((q) => /license|audit_event|customer|reseller/.test(q) && !/from "?session"?/.test(q)).length;
      };
      const small = await countFor(10);
      const large = await countFor(100);
      expect(large, `10 rows: ${small} statements, 100 rows: ${large}`).to.be.at.most(small + 4);
      expect(large).to.be.below(40);
      expect(await countAudit({ action: 'LICENSE_CREATED', customerId: { $in: customers.map((c) => c.id) } })).to.equal(110);
    });

    it('a key repeated within one createLicenses batch creates one license, which every row with that key answers', async () => {
      const bulkCustomer = await makeCustomer(s, resellerA);
      const validUntil = iso(Date.now() + DAY);
      const inputs = [
        { customerId: bulkCustomer.id, kind: 'MDM', seats: 0, validUntil, idempotencyKey: 'twice' },
        { customerId: bulkCustomer.id, kind: 'MDM', seats: 4, validUntil, idempotencyKey: 'twice' },
        { customerId: bulkCustomer.id, kind: 'MOBILE_SECURITY', seats: 9, validUntil, idempotencyKey: 'twice' },
      ];
      const rows = ok(await s.gql<{ createLicenses: RowOut[] }>(CREATE_MANY, { inputs }, a1Token)).createLicenses;
      // As three createLicense calls in a row would answer: the first is refused, the second creates, the third finds it.
      expect(rows[0]!.error).to.include({ code: 'BAD_USER_INPUT', field: 'seats' });
      expect(rows[1]!.license!.id).to.be.a('string');
      expect(rows[2]!.license!.id).to.equal(rows[1]!.license!.id);
      expect(await countLicenses({ customer: bulkCustomer.id })).to.equal(1);
      expect((await loadLicense(rows[1]!.license!.id)).seats).to.equal(4);
    });

    it('refuses a createLicenses batch of more than 100 rows with BAD_USER_INPUT and creates nothing', async () => {
      const bulkCustomer = await makeCustomer(s, resellerA);
      const validUntil = iso(Date.now() + DAY);
      const inputs = Array.from({ length: 101 }, (_, i) => ({
        customerId: bulkCustomer.id,
        kind: 'MDM',
        seats: 1,
        validUntil,
        idempotencyKey: `too-many-${i}`,
      }));
      const res = await s.gql(CREATE_MANY, { inputs }, a1Token);
      expect(codeOf(res), JSON.stringify(res.errors)).to.equal('BAD_USER_INPUT');
      expect(res.data).to.equal(null);
      expect(await countLicenses({ customer: bulkCustomer.id })).to.equal(0);
    });
  });

  describe('pagination', () => {
    let pToken: string;
    let expectedOrder: string[];
    let pCustomers: Customer[];
    /** Newest first, per customer. */
    const orderOf = (customer: Customer, ids: string[], byId: Map<string, string>) => ids.filter((id) => byId.get(id) === customer.id);
    const customerOfLicense = new Map<string, string>();
    before(async () => {
      const resellerP = await makeReseller(s, { name: 'Reseller P' });
      const p1 = await makeUser(s, { role: Role.RESELLER, reseller: resellerP });
      pToken = await signIn(s, p1);
      const customers = [await makeCustomer(s, resellerP), await makeCustomer(s, resellerP), await makeCustomer(s, resellerP)];
      pCustomers = customers;
      const base = Math.floor(Date.now() / 1000) * 1000 - 1000 * DAY;
      const made: License[] = [];
      for (let i = 0; i < 45; i++) {
        // Groups of five share one createdAt, so some customers have two licenses of one instant: the id decides.
        const license = await makeLicense(s, customers[i % 3]!, { createdAt: new Date(base + Math.floor(i / 5) * 60_000) });
        customerOfLicense.set(license.id, customers[i % 3]!.id);
        made.push(license);
      }
      expectedOrder = made
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
        .map((l) => l.id);
    });

    it('refuses first outside 1..100 with BAD_USER_INPUT naming `first`', async () => {
      for (const first of [0, -1, 101]) expectBadInput(await s.gql(LIST, { first }, pToken), 'first');
      noErrors(await s.gql(LIST, { first: 100 }, pToken));
      noErrors(await s.gql(LIST, { first: 1 }, pToken));
    });

    it('returns 20 rows by default', async () => {
      const res = await s.gql<ListOut>('{ licenses { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }', {}, pToken);
      noErrors(res);
      expect(res.data!.licenses.edges.map((e) => e.node.id)).to.deep.equal(expectedOrder.slice(0, 20));
      expect(res.data!.licenses.pageInfo.hasNextPage).to.equal(true);
      expect(res.data!.licenses.totalCount).to.equal(45);
    });

    it('visits each of 45 licenses exactly once, newest first (createdAt, then id), 10 at a time', async () => {
      const seen: string[] = [];
      let after: string | null = null;
      const pages: number[] = [];
      for (let i = 0; i < 10; i++) {
        const res: GqlResult<ListOut> = await s.gql<ListOut>(LIST, { first: 10, after }, pToken);
        noErrors(res);
        const connection: ListOut['licenses'] = res.data!.licenses;
        expect(connection.totalCount).to.equal(45);
        pages.push(connection.edges.length);
        seen.push(...connection.edges.map((e) => e.node.id));
        if (connection.edges.length) {
          expect(connection.pageInfo.endCursor).to.equal(connection.edges[connection.edges.length - 1]!.cursor);
        }
        if (!connection.pageInfo.hasNextPage) break;
        after = connection.pageInfo.endCursor;
      }
      expect(pages).to.deep.equal([10, 10, 10, 10, 5]);
      expect(seen).to.deep.equal(expectedOrder);
      expect(new Set(seen).size).to.equal(45);
    });

    it('continues after any edge cursor, also within a group of equal createdAt', async () => {
      const res = await s.gql<ListOut>(LIST, { first: 100 }, pToken);
      noErrors(res);
      const edges = res.data!.licenses.edges;
      expect(edges.map((e) => e.node.id)).to.deep.equal(expectedOrder);
      expect(res.data!.licenses.pageInfo).to.deep.equal({ hasNextPage: false, endCursor: edges[44]!.cursor });
      for (const i of [0, 1, 2, 3, 22, 43]) {
        const next = await s.gql<ListOut>(LIST, { first: 2, after: edges[i]!.cursor }, pToken);
        noErrors(next);
        expect(next.data!.licenses.edges.map((e) => e.node.id)).to.deep.equal(expectedOrder.slice(i + 1, i + 3));
      }
      const last = await s.gql<ListOut>(LIST, { first: 10, after: edges[44]!.cursor }, pToken);
      noErrors(last);
      expect(last.data!.licenses.edges).to.deep.equal([]);
      expect(last.data!.licenses.pageInfo.hasNextPage).to.equal(false);
      // An empty page after a cursor still counts every visible license.
      expect(last.data!.licenses.totalCount).to.equal(45);
    });

    it('refuses a garbage cursor with BAD_USER_INPUT', async () => {
      const garbage = [
        'garbage',
        'bm90LWEtY3Vyc29y',
        Buffer.from('12:lic_zz').toString('base64url'),
        Buffer.from("1' or '1'='1").toString('base64url'),
        '%%%',
      ];
      for (const after of garbage) {
        const res = await s.gql(LIST, { first: 10, after }, pToken);
        expect(codeOf(res), after).to.equal('BAD_USER_INPUT');
        expect(res.data).to.equal(null);
      }
    });

    it('pages the nested customer.licenses of every customer like the flat list, newest first', async () => {
      const NESTED = `query($first: Int, $after: String, $filter: LicenseFilter) { customers(first: 10) { edges { node { id
        licenses(first: $first, after: $after, filter: $filter) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } } } } }`;
      interface Nested {
        customers: { edges: { node: { id: string; licenses: ListOut['licenses'] } }[] };
      }
      const res = await s.gql<Nested>(NESTED, { first: 4 }, pToken);
      noErrors(res);
      const nodes = res.data!.customers.edges.map((e) => e.node);
      expect(nodes.map((n) => n.id).sort()).to.deep.equal(pCustomers.map((c) => c.id).sort());
      for (const node of nodes) {
        const customer = pCustomers.find((c) => c.id === node.id)!;
        const want = orderOf(customer, expectedOrder, customerOfLicense);
        expect(want).to.have.length(15);
        expect(node.licenses.totalCount).to.equal(15);
        expect(node.licenses.edges.map((e) => e.node.id)).to.deep.equal(want.slice(0, 4));
        expect(node.licenses.pageInfo).to.deep.equal({ hasNextPage: true, endCursor: node.licenses.edges[3]!.cursor });

        // Walking one customer's connection visits its 15 licenses once each.
        const seen: string[] = [];
        let after: string | null = null;
        for (let i = 0; i < 10; i++) {
          const page: GqlResult<{ customer: { licenses: ListOut['licenses'] } }> = await s.gql<{
            customer: { licenses: ListOut['licenses'] };
          }>(
            'query($id: ID!, $after: String) { customer(id: $id) { licenses(first: 4, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } } }',
            { id: customer.id, after },
            pToken,
          );
          noErrors(page);
          const connection: ListOut['licenses'] = page.data!.customer.licenses;
          expect(connection.totalCount).to.equal(15);
          seen.push(...connection.edges.map((e) => e.node.id));
          if (!connection.pageInfo.hasNextPage) break;
          after = connection.pageInfo.endCursor;
        }
        expect(seen).to.deep.equal(want);
      }

      // One cursor for every customer on the page: each continues after that instant.
      const cursor = nodes[0]!.licenses.edges[1]!.cursor;
      const continued = await s.gql<Nested>(NESTED, { first: 100, after: cursor }, pToken);
      noErrors(continued);
      const afterIndex = expectedOrder.indexOf(nodes[0]!.licenses.edges[1]!.node.id);
      for (const node of continued.data!.customers.edges.map((e) => e.node)) {
        const customer = pCustomers.find((c) => c.id === node.id)!;
        expect(node.licenses.edges.map((e) => e.node.id)).to.deep.equal(
          orderOf(customer, expectedOrder.slice(afterIndex + 1), customerOfLicense),
        );
        expect(node.licenses.pageInfo.hasNextPage).to.equal(false);
        expect(node.licenses.totalCount).to.equal(15);
      }

      const filtered = await s.gql<Nested>(NESTED, { first: 4, filter: { status: ['EXPIRED'] } }, pToken);
      noErrors(filtered);
      for (const node of filtered.data!.customers.edges.map((e) => e.node)) {
        expect(node.licenses).to.deep.equal({ totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, edges: [] });
      }
      for (const first of [0, 101]) expectBadInput(await s.gql(NESTED, { first }, pToken), 'first');
      expect(codeOf(await s.gql(NESTED, { first: 4, after: 'garbage' }, pToken))).to.equal('BAD_USER_INPUT');
    });

    it('shows a customer user only its own licenses in the nested connection', async () => {
      const own = pCustomers[1]!;
      const user = await makeUser(s, { role: Role.CUSTOMER, customer: own });
      const token = await signIn(s, user);
      const res = await s.gql<{ customers: { edges: { node: { id: string; licenses: ListOut['licenses'] } }[] } }>(
        '{ customers(first: 10) { edges { node { id licenses(first: 100) { totalCount edges { node { id } } } } } } }',
        {},
        token,
      );
      noErrors(res);
      expect(res.data!.customers.edges.map((e) => e.node.id)).to.deep.equal([own.id]);
      expect(res.data!.customers.edges[0]!.node.licenses.edges.map((e) => e.node.id)).to.deep.equal(
        orderOf(own, expectedOrder, customerOfLicense),
      );
      expect(res.data!.customers.edges[0]!.node.licenses.totalCount).to.equal(15);
      const flat = await s.gql<ListOut>(LIST, { first: 100 }, token);
      expect(flat.data!.licenses.edges.map((e) => e.node.id)).to.deep.equal(orderOf(own, expectedOrder, customerOfLicense));
    });

    it('answers totalCount asked for directly, through a fragment spread or an inline fragment, on any page', async () => {
      const direct = await s.gql<ListOut>('{ licenses(first: 3) { totalCount } }', {}, pToken);
      const spread = await s.gql<ListOut>(
        'query { licenses(first: 3) { ...Total } } fragment Total on LicenseConnection { totalCount }',
        {},
        pToken,
      );
      const inline = await s.gql<ListOut>('{ licenses(first: 3) { ... on LicenseConnection { totalCount } } }', {}, pToken);
      const expired = await s.gql<ListOut>(
        '{ licenses(first: 3, filter: { status: [EXPIRED] }) { totalCount edges { node { id } } } }',
        {},
        pToken,
      );
      for (const res of [direct, spread, inline]) {
        noErrors(res);
        expect(res.data!.licenses.totalCount).to.equal(45);
      }
      noErrors(expired);
      expect(expired.data!.licenses).to.deep.equal({ totalCount: 0, edges: [] });
      const second = await s.gql<ListOut>(
        LIST,
        { first: 10, after: (await s.gql<ListOut>(LIST, { first: 10 }, pToken)).data!.licenses.pageInfo.endCursor },
        pToken,
      );
      expect(second.data!.licenses.totalCount).to.equal(45);
    });

    it('counts in totalCount only what the caller may see', async () => {
      const mine = await s.gql<ListOut>(LIST, { first: 1 }, pToken);
      expect(mine.data!.licenses.totalCount).to.equal(45);
      const filtered = await s.gql<ListOut>(LIST, { first: 1, filter: { status: ['EXPIRED'] } }, pToken);
      expect(filtered.data!.licenses.totalCount).to.equal(0);
      const other = await s.gql<ListOut>(LIST, { first: 1 }, a1Token);
      expect(other.data!.licenses.totalCount).to.equal(await countLicenses({ reseller: resellerA.id }));
      const all = await s.gql<ListOut>(LIST, { first: 1 }, adminToken);
      expect(all.data!.licenses.totalCount).to.equal(await countLicenses({}));
    });
  });

  describe('statement count (no N+1)', () => {
    let qToken: string;
    before(async () => {
      const resellerQ = await makeReseller(s, { name: 'Reseller Q' });
      const q1 = await makeUser(s, { role: Role.RESELLER, reseller: resellerQ });
      qToken = await signIn(s, q1);
      const now = Date.now();
      // 60 customers with two licenses each: 120 licenses; every third customer's licenses are expired.
      for (let c = 0; c < 60; c++) {
        const customer = await makeCustomer(s, resellerQ);
        for (let l = 0; l < 2; l++) {
          const expired = c % 3 === 0;
          await makeLicense(s, customer, {
            validFrom: new Date(now - 10 * DAY),
            validUntil: new Date(expired ? now - DAY : now + DAY),
            kind: l === 0 ? LicenseKind.MDM : LicenseKind.MOBILE_SECURITY,
          });
        }
      }
    });

    async function measure(query: string, variables: Record<string, unknown>) {
      s.queries.length = 0;
      const res = await s.gql(query, variables, qToken);
      const sql = statements();
      noErrors(res);
      return { res, count: sql.length, sql };
    }

    it('lists licenses with customer and reseller in the same few statements for 10 and 100 rows', async () => {
      const query = `query($first: Int) { licenses(first: $first) { totalCount edges { node { id key status customer { id name } reseller { id name } } } } }`;
      // Warm up: the session's lastSeenAt is touched at most once a minute; do that outside the measurement.
      await s.gql('{ me { id } }', {}, qToken);
      const small = await measure(query, { first: 10 });
      const large = await measure(query, { first: 100 });
      const smallEdges = (small.res.data as { licenses: { totalCount: number; edges: unknown[] } }).licenses;
      const largeEdges = (large.res.data as { licenses: { totalCount: number; edges: unknown[] } }).licenses;
      expect(smallEdges.edges).to.have.length(10);
      expect(largeEdges.edges).to.have.length(100);
      expect(largeEdges.totalCount).to.equal(120);
      console.log(`      statements: licenses(first: 10) = ${small.count}, licenses(first: 100) = ${large.count}`);
      expect(large.count, large.sql.join('\n')).to.equal(small.count);
      // Session, then the page with customer and reseller joined in and the count as a subquery.
      expect(large.count, large.sql.join('\n')).to.equal(2);
      // Without totalCount, nothing counts.
      const uncounted = await measure(`query { licenses(first: 10) { edges { node { id } } } }`, {});
      expect(uncounted.count).to.equal(2);
      expect(uncounted.sql.join('\n')).not.to.match(/count\(/i);
    });

    it('lists customers with hasValidLicense and reseller in a number of statements independent of the page size', async () => {
      const query = `query($first: Int) { customers(first: $first) { totalCount edges { node { id name hasValidLicense reseller { id name } } } } }`;
      await s.gql('{ me { id } }', {}, qToken);
      const small = await measure(query, { first: 5 });
      const large = await measure(query, { first: 50 });
      const largeData = (large.res.data as { customers: { totalCount: number; edges: { node: { hasValidLicense: boolean } }[] } })
        .customers;
      expect(largeData.edges).to.have.length(50);
      expect(largeData.totalCount).to.equal(60);
      expect(largeData.edges.filter((e) => e.node.hasValidLicense).length).to.be.within(1, 49);
      console.log(`      statements: customers(first: 5) = ${small.count}, customers(first: 50) = ${large.count}`);
      expect(large.count, large.sql.join('\n')).to.equal(small.count);
      expect(large.count, large.sql.join('\n')).to.be.at.most(6);
    });

    it('lists customers with their nested licenses connections in a number of statements independent of the page size', async () => {
      const query = `query($first: Int) { customers(first: $first) { totalCount edges { node { id hasValidLicense reseller { id }
        licenses(first: 5) { totalCount edges { node { id status } } } } } } }`;
      await s.gql('{ me { id } }', {}, qToken);
      const small = await measure(query, { first: 5 });
      const large = await measure(query, { first: 50 });
      const data = (large.res.data as { customers: { edges: { node: { licenses: { totalCount: number; edges: unknown[] } } }[] } })
        .customers;
      for (const edge of data.edges) {
        expect(edge.node.licenses.totalCount).to.equal(2);
        expect(edge.node.licenses.edges).to.have.length(2);
      }
      console.log(
        `      statements: customers(first: 5){licenses(first: 5)} = ${small.count}, customers(first: 50){licenses(first: 5)} = ${large.count}`,
      );
      // The pages of all customers load together (one statement), their totalCounts too (one more).
      expect(large.count, large.sql.join('\n')).to.equal(small.count);
      expect(large.count, large.sql.join('\n')).to.be.at.most(8);
    });

    it("lists resellers with their nested customers connections in a number of statements independent of the page size, each page the reseller's own", async () => {
      type Out = {
        resellers: {
          edges: { node: { id: string; customers: { totalCount: number; edges: { node: { id: string; reseller: { id: string } } }[] } } }[];
        };
      };
      const query = `query($first: Int) { resellers(first: $first) { edges { node { id customers(first: 3) { totalCount edges { node { id reseller { id } } } } } } } }`;
      await s.gql('{ me { id } }', {}, adminToken);
      const run = async (first: number) => {
        s.queries.length = 0;
        const res = await s.gql<Out>(query, { first }, adminToken);
        noErrors(res);
        return { data: res.data!, count: statements().length, sql: statements() };
      };
      const small = await run(2);
      const large = await run(20);
      console.log(
        `      statements: resellers(first: 2){customers(first: 3)} = ${small.count}, resellers(first: 20){customers(first: 3)} = ${large.count}`,
      );
      expect(large.data.resellers.edges.length).to.be.greaterThan(2);
      expect(large.count, large.sql.join('\n')).to.equal(small.count);
      for (const { node } of large.data.resellers.edges) {
        expect(node.customers.totalCount, node.id).to.equal(await s.app.services.orm.em.fork().count(Customer, { reseller: node.id }));
        expect(node.customers.edges.length).to.equal(Math.min(3, node.customers.totalCount));
        for (const edge of node.customers.edges) expect(edge.node.reseller.id).to.equal(node.id);
      }
    });
  });

  describe('updateCustomer', () => {
    let customer: Customer;
    before(async () => {
      customer = await makeCustomer(s, resellerA, { name: 'Old Name', contactEmail: 'old@example.test' });
    });

    it('changes name and contactEmail and records CUSTOMER_UPDATED', async () => {
      const res = await s.gql<{ updateCustomer: { id: string; name: string; contactEmail: string | null } }>(
        UPDATE_CUSTOMER,
        { id: customer.id, input: { name: '  New Name GmbH ', contactEmail: 'New.Contact@Example.test' } },
        a1Token,
      );
      noErrors(res);
      expect(res.data!.updateCustomer.id).to.equal(customer.id);
      expect(res.data!.updateCustomer.name).to.equal('New Name GmbH');
      expect(res.data!.updateCustomer.contactEmail!.toLowerCase()).to.equal('new.contact@example.test');
      const stored = await s.app.services.orm.em.fork().findOneOrFail(Customer, customer.id);
      expect(stored.name).to.equal('New Name GmbH');
      expect(stored.contactEmail!.toLowerCase()).to.equal('new.contact@example.test');

      const audit = await s.gql<{
        auditEvents: { edges: { node: { action: string; targetType: string; targetId: string; actor: { id: string } | null } }[] };
      }>('{ auditEvents(first: 50) { edges { node { action targetType targetId actor { id } } } } }', {}, a1Token);
      noErrors(audit);
      const events = audit
        .data!.auditEvents.edges.map((e) => e.node)
        .filter((n) => n.action === 'CUSTOMER_UPDATED' && n.targetId === customer.id);
      expect(events).to.have.length(1);
      expect(events[0]).to.deep.include({ targetType: 'Customer', actor: { id: a1.user.id } });

      // Only the given fields change.
      const nameOnly = await s.gql<{ updateCustomer: { name: string; contactEmail: string | null } }>(
        UPDATE_CUSTOMER,
        { id: customer.id, input: { name: 'Newer Name' } },
        adminToken,
      );
      noErrors(nameOnly);
      expect(nameOnly.data!.updateCustomer.name).to.equal('Newer Name');
      expect(nameOnly.data!.updateCustomer.contactEmail!.toLowerCase()).to.equal('new.contact@example.test');
      expect(await countAudit({ action: 'CUSTOMER_UPDATED', targetId: customer.id })).to.equal(2);
    });

    it('refuses an invalid contactEmail or an empty name with BAD_USER_INPUT and changes nothing', async () => {
      const before = await s.app.services.orm.em.fork().findOneOrFail(Customer, customer.id);
      const auditBefore = await countAudit({ action: 'CUSTOMER_UPDATED', targetId: customer.id });
      for (const contactEmail of ['not-an-address', 'a@b', 'two@@example.test', 'x y@example.test']) {
        expectBadInput(await s.gql(UPDATE_CUSTOMER, { id: customer.id, input: { contactEmail } }, a1Token), 'contactEmail');
        expectBadInput(await s.gql(UPDATE_CUSTOMER, { id: customer.id, input: { name: 'Valid', contactEmail } }, a1Token), 'contactEmail');
      }
      for (const name of ['', '   ']) {
        expectBadInput(await s.gql(UPDATE_CUSTOMER, { id: customer.id, input: { name } }, a1Token), 'name');
        expectBadInput(
          await s.gql(UPDATE_CUSTOMER, { id: customer.id, input: { name, contactEmail: 'fine@example.test' } }, adminToken),
          'name',
        );
      }
      const after = await s.app.services.orm.em.fork().findOneOrFail(Customer, customer.id);
      expect(after.name).to.equal(before.name);
      expect(after.contactEmail).to.equal(before.contactEmail);
      expect(await countAudit({ action: 'CUSTOMER_UPDATED', targetId: customer.id })).to.equal(auditBefore);
    });
  });
});
