// Transferring a customer to another reseller (FLOWS.md section 10) as the resellers' users see it: afterwards
// every read path of the former reseller (lists, single reads, node, filters, nested paths, its users, the
// CSV export) misses the customer, its licenses and its users, and the new reseller's finds all of them;
// both audit logs show the transfer, both resellers' users get one e-mail each. A transfer never shows a
// half-moved customer to a reader paging through its licenses, bad input changes nothing, and a license
// created while its customer moves always carries its customer's reseller.
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { randomBytes } from 'node:crypto';
import { Role } from '../../src/common/enums';
import type { Customer } from '../../src/modules/customers/customer.entity';
import type { Reseller } from '../../src/modules/resellers/reseller.entity';
import { makeCustomer, makeLicense, makeReseller, makeUser, signIn, type TestUser } from '../factories';
import { runCli } from '../helpers/cli';
import { codeOf, ok, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

const TRANSFER =
  'mutation($c: ID!, $to: ID!, $r: String!) { transferCustomer(customerId: $c, toResellerId: $to, reason: $r) { id reseller { id } } }';
const CREATE_LICENSE = `mutation($input: CreateLicenseInput!) { createLicense(input: $input) { id customer { id } reseller { id } } }`;
const PAGE = `query($after: String) { licenses(first: 7, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id } } } }`;
const DAY = 86_400_000;

const unique = () => randomBytes(4).toString('hex');
const edgeIds = (conn: Json): string[] => conn.edges.map((e: Json) => e.node.id as string);
const sorted = (values: Iterable<string>) => [...values].sort();

describe('customer transfer (FLOWS.md section 10)', function () {
  this.timeout(180_000);
  let s: TestServer;
  let admin: TestUser;
  let adminToken: string;

  before(async () => {
    s = await startTestServer();
    admin = await makeUser(s, { role: Role.ADMIN });
    adminToken = await signIn(s, admin);
  });
  after(() => s?.stop());

  async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
    return (await s.app.services.orm.em.fork().getConnection().execute(query, params)) as T[];
  }
  async function ids(query: string, params: unknown[] = []): Promise<string[]> {
    return sorted((await sql<{ id: string }>(query, params)).map((r) => r.id));
  }
  const transfer = (customerId: string, toResellerId: string, reason = 'Customer changed reseller', token = adminToken) =>
    s.gql<Json>(TRANSFER, { c: customerId, to: toResellerId, r: reason }, token);

  /** Everything a refused transfer could have changed. */
  async function state() {
    return {
      customers: await sql('select id, reseller_id, updated_at from customer order by id'),
      licenses: await sql('select id, customer_id, reseller_id, reseller_suspended_at, updated_at from license order by id'),
      users: await sql('select id, reseller_id, customer_id from app_user order by id'),
      events: (await sql<{ n: number | string }>('select count(*) as n from audit_event')).map((r) => Number(r.n)),
    };
  }

  async function exportedCsv(resellerId: string): Promise<{ customer: string; key: string }[]> {
    const res = await runCli(['export-licenses', '--reseller', resellerId], s.env);
    expect(res.code, res.stderr).to.equal(0);
    return parse(res.stdout, { columns: true, skip_empty_lines: true }) as { customer: string; key: string }[];
  }

  // -------------------------------------------------------------------------------------------------
  describe('what each reseller sees afterwards', () => {
    interface World {
      from: Reseller;
      to: Reseller;
      moved: Customer;
      kept: Customer;
      theirs: Customer;
      movedLicenses: { id: string; key: string }[];
      keptLicenses: string[];
      theirLicenses: string[];
      movedUsers: string[];
      fromStaff: TestUser[];
      toStaff: TestUser[];
      fromToken: string;
      toToken: string;
      customerToken: string;
    }
    let w: World;
    let transferred: Json;
    const REASON = 'Customer asked to be served by the new reseller (ticket 4711)';

    before(async () => {
      const from = await makeReseller(s, { name: `Old reseller ${unique()}` });
      const to = await makeReseller(s, { name: `New reseller ${unique()}` });
      const moved = await makeCustomer(s, from, { name: `Moving customer ${unique()}` });
      const kept = await makeCustomer(s, from);
      const theirs = await makeCustomer(s, to);
      const movedLicenses = [];
      for (let i = 0; i < 3; i++) movedLicenses.push(await makeLicense(s, moved, { seats: 20 + i }));
      const customerUsers = [
        await makeUser(s, { role: Role.CUSTOMER, customer: moved }),
        await makeUser(s, { role: Role.CUSTOMER, customer: moved }),
      ];
      const fromStaff = [
        await makeUser(s, { role: Role.RESELLER, reseller: from }),
        await makeUser(s, { role: Role.RESELLER, reseller: from }),
      ];
      const toStaff = [await makeUser(s, { role: Role.RESELLER, reseller: to })];
      w = {
        from,
        to,
        moved,
        kept,
        theirs,
        movedLicenses: movedLicenses.map((l) => ({ id: l.id, key: l.key })),
        keptLicenses: [(await makeLicense(s, kept)).id, (await makeLicense(s, kept)).id],
        theirLicenses: [(await makeLicense(s, theirs)).id],
        movedUsers: sorted(customerUsers.map((u) => u.user.id)),
        fromStaff,
        toStaff,
        fromToken: await signIn(s, fromStaff[0]!),
        toToken: await signIn(s, toStaff[0]!),
        customerToken: await signIn(s, customerUsers[0]!),
      };
      // Before: the old reseller's customer, with some history made by its user.
      const before = ok(await s.gql<Json>('query($id: ID!) { customer(id: $id) { id reseller { id } } }', { id: moved.id }, w.fromToken));
      expect(before.customer).to.deep.equal({ id: moved.id, reseller: { id: from.id } });
      ok(
        await s.gql(
          'mutation($id: ID!) { updateLicense(id: $id, input: { seats: 30 }) { id } }',
          { id: w.movedLicenses[0]!.id },
          w.fromToken,
        ),
      );
      expect(await exportedCsv(to.id)).to.have.length(1);

      transferred = ok(await transfer(moved.id, to.id, REASON)).transferCustomer;
    });

    it('returns the customer under its new reseller; the customer, all its licenses and (through it) its users moved in the database', async () => {
      expect(transferred).to.deep.equal({ id: w.moved.id, reseller: { id: w.to.id } });
      expect(await sql('select reseller_id from customer where id = ?', [w.moved.id])).to.deep.equal([{ reseller_id: w.to.id }]);
      expect(await ids('select id from license where reseller_id = ? and customer_id = ?', [w.to.id, w.moved.id])).to.deep.equal(
        sorted(w.movedLicenses.map((l) => l.id)),
      );
      expect(await ids('select id from license where customer_id = ? and reseller_id <> ?', [w.moved.id, w.to.id])).to.deep.equal([]);
      // The rest of the old reseller stays.
      expect(await ids('select id from license where reseller_id = ?', [w.from.id])).to.deep.equal(sorted(w.keptLicenses));
      expect(await ids('select id from customer where reseller_id = ?', [w.from.id])).to.deep.equal([w.kept.id]);
    });

    it("the former reseller's user sees nothing of it: lists, customer(id), license(id), node(id), filters, users, nested paths", async () => {
      const movedIds = [w.moved.id, ...w.movedLicenses.map((l) => l.id), ...w.movedUsers];
      const res = await s.gql<Json>(
        `query($c: ID!) {
          customers(first: 100) { totalCount edges { node { id } } }
          licenses(first: 100) { totalCount edges { node { id customer { id } } } }
          byCustomer: licenses(first: 100, filter: { customerId: $c }) { totalCount edges { node { id } } }
          users(first: 100) { totalCount edges { node { id } } }
          me { reseller { id customers(first: 20) { totalCount edges { node { id licenses(first: 20) { totalCount edges { node { id } } } } } } } }
          resellers(first: 10) { edges { node { id customers(first: 20) { totalCount edges { node { id } } } } } }
        }`,
        { c: w.moved.id },
        w.fromToken,
      );
      const data = ok(res);
      expect(sorted(edgeIds(data.customers))).to.deep.equal([w.kept.id]);
      expect(data.customers.totalCount).to.equal(1);
      expect(sorted(edgeIds(data.licenses))).to.deep.equal(sorted(w.keptLicenses));
      expect(data.licenses.totalCount).to.equal(w.keptLicenses.length);
      expect(data.byCustomer).to.deep.equal({ totalCount: 0, edges: [] });
      expect(sorted(edgeIds(data.users))).to.deep.equal(sorted(w.fromStaff.map((u) => u.user.id)));
      expect(data.users.totalCount).to.equal(w.fromStaff.length);
      expect(data.me.reseller.id).to.equal(w.from.id);
      expect(edgeIds(data.me.reseller.customers)).to.deep.equal([w.kept.id]);
      expect(data.me.reseller.customers.totalCount).to.equal(1);
      expect(sorted(edgeIds(data.me.reseller.customers.edges[0].node.licenses))).to.deep.equal(sorted(w.keptLicenses));
      expect(edgeIds(data.resellers)).to.deep.equal([w.from.id]);
      expect(edgeIds(data.resellers.edges[0].node.customers)).to.deep.equal([w.kept.id]);
      // Nothing of the moved customer anywhere in the answer (nor of the new reseller).
      const body = JSON.stringify(res.data);
      for (const id of [...movedIds, w.to.id]) expect(body, id).to.not.include(id);

      // Single reads: null, exactly like an id that never existed.
      const single = ok(
        await s.gql<Json>(
          `query($c: ID!, $l0: ID!, $l1: ID!, $l2: ID!, $u: ID!) {
            customer(id: $c) { id }
            l0: license(id: $l0) { id } l1: license(id: $l1) { id } l2: license(id: $l2) { id }
            nc: node(id: $c) { id } n0: node(id: $l0) { id } n1: node(id: $l1) { id } n2: node(id: $l2) { id } nu: node(id: $u) { id }
          }`,
          { c: w.moved.id, l0: w.movedLicenses[0]!.id, l1: w.movedLicenses[1]!.id, l2: w.movedLicenses[2]!.id, u: w.movedUsers[0] },
          w.fromToken,
        ),
      );
      expect(single).to.deep.equal({ customer: null, l0: null, l1: null, l2: null, nc: null, n0: null, n1: null, n2: null, nu: null });
    });

    it("the former reseller's user can change nothing of it any more: NOT_FOUND, nothing changed", async () => {
      const before = await state();
      const attempts: [string, Record<string, unknown>][] = [
        ['mutation($id: ID!) { updateCustomer(id: $id, input: { name: "Mine again" }) { id } }', { id: w.moved.id }],
        ['mutation($id: ID!) { updateLicense(id: $id, input: { seats: 99 }) { id } }', { id: w.movedLicenses[1]!.id }],
        ['mutation($id: ID!) { revokeLicense(id: $id) { id } }', { id: w.movedLicenses[1]!.id }],
        ['mutation($id: ID!) { suspendLicense(id: $id, reason: "Unpaid") { id } }', { id: w.movedLicenses[1]!.id }],
        ['mutation($id: ID!, $to: ID!) { moveLicense(id: $id, toCustomerId: $to) { id } }', { id: w.movedLicenses[1]!.id, to: w.kept.id }],
        ['mutation($id: ID!, $to: ID!) { moveLicense(id: $id, toCustomerId: $to) { id } }', { id: w.keptLicenses[0], to: w.moved.id }],
        [
          CREATE_LICENSE,
          { input: { customerId: w.moved.id, kind: 'MDM', seats: 1, validUntil: new Date(Date.now() + 30 * DAY).toISOString() } },
        ],
        [
          'mutation($c: ID!) { createUser(input: { email: "intruder@example.test", name: "Intruder", role: CUSTOMER, customerId: $c }) { id } }',
          { c: w.moved.id },
        ],
        ['mutation($id: ID!) { resetUserTwoFactor(userId: $id) { id } }', { id: w.movedUsers[0] }],
      ];
      for (const [query, vars] of attempts) {
        const res = await s.gql<Json>(query, vars, w.fromToken);
        expect(codeOf(res), `${query}: ${JSON.stringify(res.errors)}`).to.equal('NOT_FOUND');
        expect(res.data).to.equal(null);
      }
      expect(await state()).to.deep.equal(before);
    });

    it("the former reseller's CSV export leaves out its licenses; the new reseller's holds them", async () => {
      const fromRows = await exportedCsv(w.from.id);
      expect(fromRows).to.have.length(w.keptLicenses.length);
      expect(fromRows.filter((r) => r.customer === w.moved.id)).to.deep.equal([]);
      const keys = new Set(fromRows.map((r) => r.key));
      for (const l of w.movedLicenses) expect(keys.has(l.key), l.key).to.equal(false);

      const toRows = await exportedCsv(w.to.id);
      expect(sorted(toRows.filter((r) => r.customer === w.moved.id).map((r) => r.key))).to.deep.equal(
        sorted(w.movedLicenses.map((l) => l.key)),
      );
      expect(toRows).to.have.length(w.movedLicenses.length + w.theirLicenses.length);
    });

    it("the new reseller's user sees all of it, through every path", async () => {
      const licenseIds = sorted(w.movedLicenses.map((l) => l.id));
      const data = ok(
        await s.gql<Json>(
          `query($c: ID!, $l: ID!) {
            customers(first: 100) { totalCount edges { node { id } } }
            licenses(first: 100) { totalCount edges { node { id reseller { id } customer { id } } } }
            byCustomer: licenses(first: 100, filter: { customerId: $c }) { totalCount edges { node { id } } }
            users(first: 100) { totalCount edges { node { id customer { id reseller { id } } } } }
            customer(id: $c) { id reseller { id } licenses(first: 100) { totalCount edges { node { id } } } }
            license(id: $l) { id reseller { id } customer { id reseller { id customers(first: 20) { edges { node { id } } } } } }
            nc: node(id: $c) { id ... on Customer { reseller { id } } }
            nl: node(id: $l) { id ... on License { reseller { id } } }
            me { reseller { customers(first: 20) { edges { node { id licenses(first: 20) { edges { node { id } } } } } } } }
          }`,
          { c: w.moved.id, l: licenseIds[0] },
          w.toToken,
        ),
      );
      expect(sorted(edgeIds(data.customers))).to.deep.equal(sorted([w.moved.id, w.theirs.id]));
      expect(sorted(edgeIds(data.licenses))).to.deep.equal(sorted([...licenseIds, ...w.theirLicenses]));
      expect(data.licenses.totalCount).to.equal(licenseIds.length + w.theirLicenses.length);
      for (const { node } of data.licenses.edges) expect(node.reseller.id).to.equal(w.to.id);
      expect(sorted(edgeIds(data.byCustomer))).to.deep.equal(licenseIds);
      expect(data.byCustomer.totalCount).to.equal(licenseIds.length);
      expect(sorted(edgeIds(data.users))).to.deep.equal(sorted([...w.movedUsers, ...w.toStaff.map((u) => u.user.id)]));
      expect(data.customer.reseller.id).to.equal(w.to.id);
      expect(sorted(edgeIds(data.customer.licenses))).to.deep.equal(licenseIds);
      expect(data.license.reseller.id).to.equal(w.to.id);
      expect(sorted(edgeIds(data.license.customer.reseller.customers))).to.deep.equal(sorted([w.moved.id, w.theirs.id]));
      expect(data.nc).to.deep.equal({ id: w.moved.id, reseller: { id: w.to.id } });
      expect(data.nl).to.deep.equal({ id: licenseIds[0], reseller: { id: w.to.id } });
      const nested = data.me.reseller.customers.edges.find((e: Json) => e.node.id === w.moved.id);
      expect(sorted(edgeIds(nested.node.licenses))).to.deep.equal(licenseIds);
      // Nothing of the old reseller's remaining customer.
      expect(JSON.stringify(data)).to.not.include(w.kept.id);
    });

    it("the customer's own user keeps its access and sees the new reseller", async () => {
      const data = ok(
        await s.gql<Json>('{ me { customer { id reseller { id } licenses(first: 10) { totalCount } } } }', {}, w.customerToken),
      );
      expect(data.me.customer).to.deep.equal({
        id: w.moved.id,
        reseller: { id: w.to.id },
        licenses: { totalCount: w.movedLicenses.length },
      });
    });

    it('both audit logs show the transfer (reason, changes) and one LICENSE_TRANSFERRED event per license; later events only the new one', async () => {
      const EVENTS = `query($f: AuditEventFilter) { auditEvents(first: 100, filter: $f) { totalCount edges { node { id action targetType targetId reason changes } } } }`;
      const changes = { resellerId: { from: w.from.id, to: w.to.id } };
      const seen: Record<'from' | 'to', string[]> = { from: [], to: [] };
      for (const [who, token] of [
        ['from', w.fromToken],
        ['to', w.toToken],
        ['admin', adminToken],
      ] as const) {
        const customerEvents = ok(
          await s.gql<Json>(EVENTS, { f: { targetId: w.moved.id, action: 'CUSTOMER_TRANSFERRED' } }, token),
        ).auditEvents;
        expect(customerEvents.totalCount, who).to.equal(1);
        const [event] = customerEvents.edges.map((e: Json) => e.node);
        expect(event, who).to.deep.include({
          action: 'CUSTOMER_TRANSFERRED',
          targetType: 'Customer',
          targetId: w.moved.id,
          reason: REASON,
        });
        expect(JSON.parse(event.changes), who).to.deep.equal(changes);

        const licenseEvents = ok(await s.gql<Json>(EVENTS, { f: { action: 'LICENSE_TRANSFERRED' } }, token))
          .auditEvents.edges.map((e: Json) => e.node)
          .filter((e: Json) => w.movedLicenses.some((l) => l.id === e.targetId));
        expect(sorted(licenseEvents.map((e: Json) => e.targetId)), who).to.deep.equal(sorted(w.movedLicenses.map((l) => l.id)));
        for (const e of licenseEvents) {
          expect(e, who).to.deep.include({ targetType: 'License', reason: REASON });
          expect(JSON.parse(e.changes), who).to.deep.equal(changes);
        }
        // Each license's history holds its transfer.
        const history = ok(await s.gql<Json>(EVENTS, { f: { targetId: w.movedLicenses[2]!.id } }, token)).auditEvents.edges.map(
          (e: Json) => e.node.action,
        );
        expect(history, who).to.include('LICENSE_TRANSFERRED');
        if (who !== 'admin') seen[who] = [event.id, ...licenseEvents.map((e: Json) => e.id)];
      }
      expect(sorted(seen.from)).to.deep.equal(sorted(seen.to));

      // A change by the new reseller after the transfer is the new reseller's alone.
      const license = w.movedLicenses[2]!.id;
      ok(await s.gql('mutation($id: ID!) { updateLicense(id: $id, input: { seats: 77 }) { id } }', { id: license }, w.toToken));
      const after = { f: { targetId: license, action: 'LICENSE_UPDATED' } };
      expect(ok(await s.gql<Json>(EVENTS, after, w.toToken)).auditEvents.totalCount).to.equal(1);
      expect(ok(await s.gql<Json>(EVENTS, after, w.fromToken)).auditEvents).to.deep.equal({ totalCount: 0, edges: [] });
    });

    it("each of both resellers' users gets exactly one e-mail about it", async () => {
      await s.app.services.background.drain();
      const mails = s.outbox();
      for (const u of [...w.fromStaff, ...w.toStaff]) {
        const own = mails.filter((m) => m.includes(u.email));
        expect(own, u.email).to.have.length(1);
        expect(own[0]).to.include(w.moved.name);
      }
    });
  });

  it("expiry reminders of the moved customer's licenses go to the new reseller's users only", async () => {
    const from = await makeReseller(s);
    const to = await makeReseller(s);
    const customer = await makeCustomer(s, from);
    const expiring = await makeLicense(s, customer, { validUntil: new Date(Date.now() + 5 * DAY) });
    const [fromStaff, toStaff] = [
      await makeUser(s, { role: Role.RESELLER, reseller: from }),
      await makeUser(s, { role: Role.RESELLER, reseller: to }),
    ];
    ok(await transfer(customer.id, to.id));
    await s.app.services.reminders.run(s.app.services.orm.em.fork(), new Date());
    await s.app.services.background.drain();
    const about = (u: TestUser) => s.outbox().filter((m) => m.includes(u.email) && m.includes(expiring.key));
    expect(about(fromStaff)).to.deep.equal([]);
    expect(about(toStaff)).to.have.length(1);
  });

  // -------------------------------------------------------------------------------------------------
  it('a reseller paging through its licenses while one of its customers moves away sees every license at most once, and only its own at the time', async () => {
    const a = await makeReseller(s);
    const b = await makeReseller(s);
    const movedCustomer = await makeCustomer(s, a);
    const others = [await makeCustomer(s, a), await makeCustomer(s, a), await makeCustomer(s, a)];
    const bCustomer = await makeCustomer(s, b);
    // 30 of the moving customer's licenses among 100 of A's, interleaved in the page order; B has 20 of its own.
    const start = Date.now() - 1000 * DAY;
    const moved = new Set<string>();
    const kept = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const customer = i % 10 < 3 ? movedCustomer : others[i % 3]!;
      const l = await makeLicense(s, customer, { createdAt: new Date(start + i * 60_000) });
      (customer === movedCustomer ? moved : kept).add(l.id);
    }
    const bLicenses = new Set<string>();
    for (let i = 0; i < 20; i++) bLicenses.add((await makeLicense(s, bCustomer, { createdAt: new Date(start + i * 60_000 + 30_000) })).id);
    expect(moved.size).to.equal(30);
    const before = new Set([...moved, ...kept]);
    const token = await signIn(s, await makeUser(s, { role: Role.RESELLER, reseller: a }));

    let transferSentAt: number | null = null;
    let transferredAt: number | null = null;
    let pagesFetched = 0;
    interface Pass {
      ids: string[];
      /** Ids on pages requested after the transfer had answered. */
      afterTransfer: string[];
      startedAfterTransfer: boolean;
      /** Pages before the transfer was asked for and after it had answered: it ran across the transfer. */
      across: boolean;
    }
    async function pass(): Promise<Pass> {
      const result: Pass = { ids: [], afterTransfer: [], startedAfterTransfer: transferredAt !== null, across: false };
      const started = Date.now();
      let after: string | null = null;
      for (;;) {
        const sentAfterTransfer = transferredAt !== null;
        const res: GqlResult<Json> = await s.gql<Json>(PAGE, { after }, token);
        const page = ok(res).licenses;
        pagesFetched++;
        const pageIds = edgeIds(page);
        result.ids.push(...pageIds);
        if (sentAfterTransfer) result.afterTransfer.push(...pageIds);
        if (!page.pageInfo.hasNextPage) {
          result.across = transferSentAt !== null && transferredAt !== null && started < transferSentAt && sentAfterTransfer;
          return result;
        }
        after = page.pageInfo.endCursor;
      }
    }
    async function reader(): Promise<Pass[]> {
      const passes: Pass[] = [];
      // Passes until one has started after the transfer answered (a bound, should the transfer never answer).
      while (!passes.some((p) => p.startedAfterTransfer) && passes.length < 50) passes.push(await pass());
      return passes;
    }
    async function transferWhileReading() {
      while (pagesFetched < 10) await new Promise((r) => setTimeout(r, 2));
      transferSentAt = Date.now();
      const res = await transfer(movedCustomer.id, b.id, 'Reseller consolidation');
      transferredAt = Date.now();
      expect(ok(res).transferCustomer.reseller.id).to.equal(b.id);
    }
    // Before: a pass sees all of A's licenses, none of B's.
    expect(sorted((await pass()).ids)).to.deep.equal(sorted(before));
    pagesFetched = 0;
    const [, ...readers] = await Promise.all([transferWhileReading(), reader(), reader(), reader(), reader()]);
    const passes = readers.flat();
    expect(passes.length).to.be.at.least(8);

    for (const [i, p] of passes.entries()) {
      const label = `pass ${i}: ${p.ids.length} ids`;
      expect(new Set(p.ids).size, `${label}: an id twice`).to.equal(p.ids.length);
      expect(
        p.ids.filter((id) => !before.has(id)),
        `${label}: a license that was never A's`,
      ).to.deep.equal([]);
      expect(
        p.ids.filter((id) => bLicenses.has(id)),
        label,
      ).to.deep.equal([]);
      // Licenses that are A's throughout never drop out of a pass.
      expect(
        [...kept].filter((id) => !p.ids.includes(id)),
        `${label}: one of A's own licenses missing`,
      ).to.deep.equal([]);
      // Once the transfer has answered, the moved licenses are B's: no page asked for afterwards holds one.
      expect(
        p.afterTransfer.filter((id) => moved.has(id)),
        `${label}: a license of B's (transferred) after the transfer`,
      ).to.deep.equal([]);
      if (p.startedAfterTransfer) expect(sorted(p.ids), label).to.deep.equal(sorted(kept));
    }
    expect(
      passes.filter((p) => p.across),
      'passes that ran across the transfer',
    ).to.have.length.above(0);
    expect(await ids('select id from license where reseller_id = ?', [a.id])).to.deep.equal(sorted(kept));
    expect(await ids('select id from license where customer_id = ? and reseller_id = ?', [movedCustomer.id, b.id])).to.deep.equal(
      sorted(moved),
    );
  });

  // -------------------------------------------------------------------------------------------------
  describe('bad input changes nothing', () => {
    let from: Reseller;
    let to: Reseller;
    let customer: Customer;

    before(async () => {
      from = await makeReseller(s);
      to = await makeReseller(s);
      customer = await makeCustomer(s, from);
      await makeLicense(s, customer);
      await makeLicense(s, customer);
      await makeUser(s, { role: Role.CUSTOMER, customer });
    });

    async function refused(args: { customerId?: string; toResellerId?: string; reason?: string }, code: string, field?: string) {
      const before = await state();
      const res = await transfer(args.customerId ?? customer.id, args.toResellerId ?? to.id, args.reason ?? 'Reseller change');
      expect(codeOf(res), JSON.stringify(res.errors)).to.equal(code);
      expect(res.data).to.equal(null);
      if (field) expect(res.errors![0]!.extensions!.field).to.equal(field);
      expect(await state()).to.deep.equal(before);
      expect(await sql('select reseller_id from customer where id = ?', [customer.id])).to.deep.equal([{ reseller_id: from.id }]);
      return res;
    }

    it('to its own reseller: BAD_USER_INPUT', () => refused({ toResellerId: from.id }, 'BAD_USER_INPUT', 'toResellerId'));

    it('to a reseller that does not exist: NOT_FOUND', () => refused({ toResellerId: `rsl_${'0'.repeat(24)}` }, 'NOT_FOUND'));

    it('to a suspended reseller: BAD_USER_INPUT (RESELLER_SUSPENDED)', async () => {
      const suspended = await makeReseller(s);
      ok(
        await s.gql('mutation($id: ID!) { suspendReseller(id: $id, reason: "Unpaid invoices") { id } }', { id: suspended.id }, adminToken),
      );
      const res = await refused({ toResellerId: suspended.id }, 'BAD_USER_INPUT', 'toResellerId');
      expect(res.errors![0]!.extensions!.reason).to.equal('RESELLER_SUSPENDED');
    });

    it('of a customer that does not exist: NOT_FOUND', () => refused({ customerId: `cus_${'0'.repeat(24)}` }, 'NOT_FOUND'));

    for (const reason of ['', '   ']) {
      it(`with the reason ${JSON.stringify(reason)}: BAD_USER_INPUT`, () => refused({ reason }, 'BAD_USER_INPUT', 'reason'));
    }

    it('by a reseller user, even of both resellers: FORBIDDEN', async () => {
      const staffToken = await signIn(s, await makeUser(s, { role: Role.RESELLER, reseller: from }));
      const before = await state();
      const res = await transfer(customer.id, to.id, 'Reseller change', staffToken);
      expect(codeOf(res)).to.equal('FORBIDDEN');
      expect(await state()).to.deep.equal(before);
    });
  });

  // -------------------------------------------------------------------------------------------------
  it("a license created while its customer is transferred always carries its customer's reseller", async () => {
    const resellers = [await makeReseller(s), await makeReseller(s)] as const;
    const customer = await makeCustomer(s, resellers[0]);
    await makeLicense(s, customer);
    const created: string[] = [];
    for (let round = 0; round < 10; round++) {
      const [from, to] = round % 2 === 0 ? resellers : [resellers[1], resellers[0]];
      const input = { customerId: customer.id, kind: 'MDM', seats: round + 1, validUntil: new Date(Date.now() + 30 * DAY).toISOString() };
      // Started together, each of the two first in turn, the other a few milliseconds later or not.
      const later = <T>(ms: number, run: () => Promise<T>) =>
        new Promise<T>((resolve, reject) => setTimeout(() => run().then(resolve, reject), ms));
      const lag = Math.floor(round / 2) % 4;
      const create = () => s.gql<Json>(CREATE_LICENSE, { input }, adminToken);
      const move = () => transfer(customer.id, to.id);
      const [license, moved] =
        round % 2 === 0 ? await Promise.all([create(), later(lag, move)]) : await Promise.all([later(lag, create), move()]);
      expect(ok(moved).transferCustomer.reseller.id, `round ${round}`).to.equal(to.id);
      // The admin sees the customer throughout: the creation succeeds, before or after the move.
      const made = ok(license).createLicense;
      expect(made.customer.id).to.equal(customer.id);
      created.push(made.id);
      const [row] = await sql<{ reseller_id: string }>('select reseller_id from license where id = ?', [made.id]);
      expect(row!.reseller_id, `round ${round}`).to.equal(to.id);
      // Its history says where it was made: under the old reseller and then transferred, or under the new one.
      const events = await sql<{ action: string; reseller_id: string }>(
        'select action, reseller_id from audit_event where target_id = ? order by at, id',
        [made.id],
      );
      const createdEvent = events.find((e) => e.action === 'LICENSE_CREATED')!;
      const transferredEvent = events.find((e) => e.action === 'LICENSE_TRANSFERRED');
      expect(createdEvent.reseller_id, `round ${round}`).to.equal(transferredEvent ? from.id : to.id);
      if (transferredEvent) expect(transferredEvent.reseller_id).to.equal(to.id);
      const [mismatched] = await sql<{ n: number | string }>(
        'select count(*) as n from license l join customer c on c.id = l.customer_id where l.reseller_id <> c.reseller_id',
      );
      expect(Number(mismatched!.n), `round ${round}`).to.equal(0);
    }
    expect(new Set(created).size).to.equal(10);
  });
});
