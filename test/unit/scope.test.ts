// The scope rules (FLOWS.md section 5) and the license filter, through both renderings: for every principal
// (every role, and ones missing their reseller or customer) and every filter combination, the rows of the
// MikroORM filter, of the rendered SQL and of the hand-written license page must be the same, and must be
// what the FLOWS table says (computed here in plain code from the generated data). No HTTP: the ORM on a
// temporary SQLite file, or on a fresh PostgreSQL schema when TEST_DATABASE_URL is set.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EntityManager } from '@mikro-orm/core';
import { LicenseKind, LicenseStatus, Role, SessionStage } from '../../src/common/enums';
import { createReader, type Reader } from '../../src/db/reader';
import { migrate, openOrm, type Orm } from '../../src/db/orm';
import { isAppError } from '../../src/errors';
import { toSql } from '../../src/modules/access/condition';
import { scopeOf, scopeSql, scopeWhere, type ScopedName } from '../../src/modules/access/scope';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import type { AuthenticatedPrincipal } from '../../src/modules/auth/principal';
import { Customer } from '../../src/modules/customers/customer.entity';
import { CustomerService } from '../../src/modules/customers/customer.service';
import { License, licenseStatus } from '../../src/modules/licenses/license.entity';
import { LicenseService, type LicenseFilterData } from '../../src/modules/licenses/license.service';
import { Reseller } from '../../src/modules/resellers/reseller.entity';
import type { Mailer } from '../../src/modules/mail/mailer';
import { User } from '../../src/modules/users/user.entity';
import { DeliveryState, WebhookDelivery } from '../../src/modules/webhooks/webhook-delivery.entity';
import { WebhookEndpoint } from '../../src/modules/webhooks/webhook-endpoint.entity';
import { WebhookEvent } from '../../src/modules/webhooks/webhook-event.entity';
import { dropPgSchema } from '../helpers/server';

const DAY = 86_400_000;
const NOW = new Date(Date.UTC(2030, 5, 15, 12, 0, 0));
const at = (ms: number) => new Date(NOW.getTime() + ms);
const STATUSES = [LicenseStatus.PENDING, LicenseStatus.ACTIVE, LicenseStatus.EXPIRED, LicenseStatus.REVOKED, LicenseStatus.SUSPENDED];

type Window = { validFrom: Date; validUntil: Date; revokedAt: Date | null; suspendedAt?: Date; resellerSuspendedAt?: Date };

/**
 * Validity windows at the status boundaries (and one whose window is inverted: EXPIRED wins over PENDING),
 * and suspensions (the license's own or its reseller's) over each kind of window: REVOKED wins over
 * SUSPENDED, SUSPENDED over every date.
 */
const WINDOWS: Window[] = [
  { validFrom: at(-DAY), validUntil: at(DAY), revokedAt: null },
  { validFrom: NOW, validUntil: at(DAY), revokedAt: null },
  { validFrom: at(1), validUntil: at(DAY), revokedAt: null },
  { validFrom: at(-DAY), validUntil: NOW, revokedAt: null },
  { validFrom: at(-DAY), validUntil: at(1), revokedAt: null },
  { validFrom: at(DAY), validUntil: at(-DAY), revokedAt: null },
  { validFrom: at(-DAY), validUntil: at(DAY), revokedAt: at(-1) },
  { validFrom: at(-2 * DAY), validUntil: at(-DAY), revokedAt: at(-DAY) },
  { validFrom: at(DAY), validUntil: at(2 * DAY), revokedAt: at(-DAY) },
  { validFrom: at(-DAY), validUntil: at(DAY), revokedAt: null, suspendedAt: at(-1) },
  { validFrom: at(DAY), validUntil: at(2 * DAY), revokedAt: null, resellerSuspendedAt: at(-DAY) },
  { validFrom: at(-2 * DAY), validUntil: at(-DAY), revokedAt: null, suspendedAt: at(-DAY), resellerSuspendedAt: at(-DAY) },
  { validFrom: at(-DAY), validUntil: at(DAY), revokedAt: at(-1), suspendedAt: at(-DAY) },
];

interface Data {
  resellers: Reseller[];
  customers: Customer[];
  licenses: License[];
  users: User[];
  events: AuditEvent[];
  endpoints: WebhookEndpoint[];
  deliveries: WebhookDelivery[];
}

async function generate(em: EntityManager): Promise<Data> {
  let created = NOW.getTime() - 1000 * DAY;
  const createdAt = () => new Date((created += 1000));
  const resellers = [0, 1, 2].map((i) => em.create(Reseller, { name: `R${i}`, linkedToResellerPortal: false, createdAt: createdAt() }));
  // R0 and R1 have two customers each, R2 none.
  const customers = [0, 0, 1, 1].map((r, i) =>
    em.create(Customer, { name: `C${i}`, contactEmail: null, reseller: resellers[r]!, createdAt: createdAt(), updatedAt: NOW }),
  );
  const licenses = customers.flatMap((customer, c) =>
    WINDOWS.map((window, w) =>
      em.create(License, {
        key: `KEY-${c}-${w}-${randomBytes(4).toString('hex')}`,
        kind: (c + w) % 2 ? LicenseKind.MDM : LicenseKind.MOBILE_SECURITY,
        seats: 1,
        ...window,
        customer,
        reseller: customer.reseller,
        idempotencyOwnerId: null,
        idempotencyKey: null,
        createdAt: createdAt(),
        updatedAt: NOW,
      }),
    ),
  );
  let n = 0;
  const user = (role: Role, reseller: Reseller | null, customer: Customer | null) =>
    em.create(User, {
      email: `u${n++}@example.test`,
      name: 'U',
      role,
      reseller,
      customer,
      twoFactorEnabled: true,
      linkedToResellerPortal: false,
      createdAt: createdAt(),
      updatedAt: NOW,
    });
  const users = [
    user(Role.ADMIN, null, null),
    ...resellers.map((r) => user(Role.RESELLER, r, null)),
    ...customers.map((c) => user(Role.CUSTOMER, null, c)),
    // Users missing the id their role needs.
    user(Role.RESELLER, null, null),
    user(Role.CUSTOMER, null, null),
  ];
  const events = [
    ...resellers.map((r) => em.create(AuditEvent, { action: 'RESELLER_CREATED', resellerId: r.id, customerId: null, at: createdAt() })),
    ...customers.map((c) =>
      em.create(AuditEvent, { action: 'CUSTOMER_CREATED', resellerId: c.reseller.id, customerId: c.id, at: createdAt() }),
    ),
    em.create(AuditEvent, { action: 'LOGIN_FAILED', resellerId: null, customerId: null, at: createdAt() }),
  ];
  // An endpoint of R0, two of R1, an admin-wide one; a delivery to each.
  const endpoints = [resellers[0]!, resellers[1]!, resellers[1]!, null].map((reseller, i) =>
    em.create(WebhookEndpoint, {
      url: `https://hooks${i}.example.test/`,
      events: ['license.created'],
      reseller,
      secretSealed: 'x',
      active: true,
      createdAt: createdAt(),
    }),
  );
  const message = em.create(WebhookEvent, {
    type: 'license.created',
    licenseId: licenses[0]!.id,
    resellerId: resellers[0]!.id,
    data: '{}',
    createdAt: NOW,
  });
  const deliveries = endpoints.map((endpoint) =>
    em.create(WebhookDelivery, {
      endpoint,
      message,
      event: message.type,
      redacted: false,
      state: DeliveryState.PENDING,
      attempts: 0,
      createdAt: createdAt(),
    }),
  );
  await em.flush();
  return { resellers, customers, licenses, users, events, endpoints, deliveries };
}

function principal(
  role: Role,
  resellerId: string | null,
  customerId: string | null,
  userId = 'usr_000000000000000000000000',
): AuthenticatedPrincipal {
  return { kind: 'session', credentialId: 'ses_x', userId, role, resellerId, customerId, stage: SessionStage.AUTHENTICATED, purpose: null };
}

/** FLOWS.md section 5, written out over the generated data without the scope module. */
function expected(d: Data, p: AuthenticatedPrincipal): Record<ScopedName, string[]> {
  const resellerOf = (customerId: string) => d.customers.find((c) => c.id === customerId)!.reseller.id;
  const admin = p.role === Role.ADMIN;
  const r = p.role === Role.RESELLER ? p.resellerId : null;
  const c = p.role === Role.CUSTOMER ? p.customerId : null;
  const ids = <T extends { id: string }>(rows: T[], keep: (row: T) => boolean) =>
    rows
      .filter((row) => admin || keep(row))
      .map((row) => row.id)
      .sort();
  return {
    Reseller: ids(d.resellers, (x) => r !== null && x.id === r),
    Customer: ids(d.customers, (x) => (r !== null && x.reseller.id === r) || (c !== null && x.id === c)),
    License: ids(d.licenses, (x) => (r !== null && resellerOf(x.customer.id) === r) || (c !== null && x.customer.id === c)),
    User: ids(
      d.users,
      (x) =>
        (r !== null && (x.reseller?.id === r || (x.customer !== null && resellerOf(x.customer.id) === r))) ||
        (c !== null && x.customer?.id === c),
    ),
    AuditEvent: ids(d.events, (x) => r !== null && x.resellerId === r),
    WebhookEndpoint: ids(d.endpoints, (x) => r !== null && x.reseller?.id === r),
    WebhookDelivery: ids(d.deliveries, (x) => r !== null && d.endpoints.find((e) => e.id === x.endpoint.id)!.reseller?.id === r),
  };
}

function matchesFilter(l: License, f: LicenseFilterData): boolean {
  return (
    (!f.status?.length || f.status.includes(licenseStatus(l, NOW))) &&
    (!f.kind || l.kind === f.kind) &&
    (!f.customerId || l.customer.id === f.customerId) &&
    (!f.expiresBefore || l.validUntil.getTime() < f.expiresBefore.getTime())
  );
}

const TABLES: Record<ScopedName, string> = {
  License: 'license',
  Customer: 'customer',
  Reseller: 'reseller',
  User: 'app_user',
  AuditEvent: 'audit_event',
  WebhookEndpoint: 'webhook_endpoint',
  WebhookDelivery: 'webhook_delivery',
};

describe('scope and license filter: the MikroORM and the SQL renderings agree with each other and with FLOWS section 5', function () {
  let orm: Orm;
  let dir: string;
  let schema: string;
  let reader: Reader;
  let d: Data;
  let principals: [string, AuthenticatedPrincipal][];
  const fork = () => orm.em.fork();

  const sqlIds = async (em: EntityManager, text: string, params: unknown[]) =>
    ((await em.getConnection().execute(text, params, 'all')) as { id: string }[]).map((row) => row.id).sort();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lp-scope-'));
    schema = `t_${randomBytes(6).toString('hex')}`;
    const url = process.env.TEST_DATABASE_URL;
    const database = url
      ? ({ engine: 'postgresql', url, schema } as const)
      : ({ engine: 'sqlite', path: join(dir, 'scope.sqlite') } as const);
    orm = await openOrm(database);
    await migrate(orm);
    reader = createReader(database);
    d = await generate(fork());
    const [r0, r1] = d.resellers;
    const [c0, , c2] = d.customers;
    principals = [
      ['ADMIN', principal(Role.ADMIN, null, null)],
      ['RESELLER of R0', principal(Role.RESELLER, r0!.id, null)],
      ['RESELLER of R1', principal(Role.RESELLER, r1!.id, null)],
      ['RESELLER of R2 (no customers)', principal(Role.RESELLER, d.resellers[2]!.id, null)],
      ['CUSTOMER of C0', principal(Role.CUSTOMER, null, c0!.id)],
      ['CUSTOMER of C2', principal(Role.CUSTOMER, null, c2!.id)],
      ['RESELLER without a reseller', principal(Role.RESELLER, null, null)],
      ['CUSTOMER without a customer', principal(Role.CUSTOMER, null, null)],
      ['CUSTOMER carrying a reseller id', principal(Role.CUSTOMER, r0!.id, null)],
      ['unknown role', principal('SUPPORT' as Role, r0!.id, c0!.id)],
    ];
  });

  after(async () => {
    await reader?.close();
    await orm?.close(true);
    await dropPgSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives a role without its reseller or customer id, and an unknown role, no scope at all', () => {
    expect(scopeOf(principal(Role.ADMIN, null, null))).to.equal('all');
    expect(scopeOf(principal(Role.RESELLER, 'res_1', null))).to.deep.equal({ by: 'reseller', id: 'res_1' });
    expect(scopeOf(principal(Role.CUSTOMER, 'res_1', 'cus_1'))).to.deep.equal({ by: 'customer', id: 'cus_1' });
    expect(scopeOf(principal(Role.RESELLER, null, 'cus_1'))).to.equal('none');
    expect(scopeOf(principal(Role.CUSTOMER, 'res_1', null))).to.equal('none');
    expect(scopeOf(principal('SUPPORT' as Role, 'res_1', 'cus_1'))).to.equal('none');
  });

  it('shows every principal exactly its FLOWS rows of every entity, through the ORM filter and through the SQL', async () => {
    const entities = { License, Customer, Reseller, User, AuditEvent, WebhookEndpoint, WebhookDelivery };
    for (const [label, p] of principals) {
      const want = expected(d, p);
      for (const name of Object.keys(entities) as ScopedName[]) {
        const em = fork();
        const rows = (await em.find(entities[name] as never, scopeWhere(name, p) as never, { fields: ['id'] as never })) as {
          id: string;
        }[];
        const viaOrm = rows.map((row) => row.id).sort();
        const where = scopeSql(em, name, 'x', p);
        const viaSql = await sqlIds(em, `select x.id from ${TABLES[name]} x where ${where.text}`, where.params);
        expect(viaOrm, `${label}: ${name} through the ORM`).to.deep.equal(want[name]);
        expect(viaSql, `${label}: ${name} through SQL`).to.deep.equal(want[name]);
      }
    }
    // The reseller's users include its customers' users (the path through customer.reseller).
    expect(expected(d, principals[1]![1]).User).to.include(d.users.find((u) => u.customer?.id === d.customers[0]!.id)!.id);
  });

  it('never shows a reseller a row of another reseller, whatever the license filter', async () => {
    const service = new LicenseService(reader, () => NOW);
    const [, r0] = principals[1]!;
    const foreign = d.customers[2]!.id;
    for (const filter of [{}, { customerId: foreign }, { status: STATUSES, customerId: foreign }] as LicenseFilterData[]) {
      const page = await service.list(fork(), r0, { first: 100, filter }, { count: true });
      expect(page.nodes.every((l) => l.reseller.id === r0.resellerId)).to.equal(true);
      if (filter.customerId) expect(await page.count()).to.equal(0);
    }
  });

  it('answers every role x status subset x kind x customer x expiresBefore with the same licenses through the ORM, the SQL, the page and the nested page (forward and backward)', async function () {
    this.timeout(120_000);
    const service = new LicenseService(reader, () => NOW);
    const statusSets = Array.from({ length: 1 << STATUSES.length }, (_, bits) => STATUSES.filter((_, i) => bits & (1 << i)));
    // Every status occurs in the data, so that each condition is tried on rows it must and must not match.
    expect(new Set(d.licenses.map((l) => licenseStatus(l, NOW)))).to.have.keys(...STATUSES);
    // None, one of its own (for R0 and C0), a foreign one.
    const customerIds = [undefined, d.customers[0]!.id, d.customers[2]!.id];
    let combinations = 0;
    // One principal per distinct scope: the others with scope 'none' render the very same condition.
    const distinct = principals.filter(
      ([, p], i) => principals.findIndex(([, q]) => JSON.stringify(scopeOf(q)) === JSON.stringify(scopeOf(p))) === i,
    );
    expect(distinct.map(([label]) => label)).to.include('RESELLER without a reseller');
    for (const [label, p] of distinct) {
      const visible = new Set(expected(d, p).License);
      for (const status of statusSets)
        for (const kind of [undefined, LicenseKind.MDM, LicenseKind.MOBILE_SECURITY])
          for (const customerId of customerIds)
            for (const expiresBefore of [undefined, NOW, at(DAY)]) {
              const filter: LicenseFilterData = { status, kind, customerId, expiresBefore };
              const what = `${label} ${JSON.stringify(filter)}`;
              const want = d.licenses
                .filter((l) => visible.has(l.id) && matchesFilter(l, filter))
                .map((l) => l.id)
                .sort();
              const em = fork();
              const viaOrm = (await em.find(License, service.filterCondition(p, filter, NOW), { fields: ['id'] })).map((l) => l.id).sort();
              const where = toSql(em, 'License', 'l', service.condition(p, filter, NOW));
              expect(where.text, what).to.not.match(/'|\d{4}-\d\d/);
              const viaSql = await sqlIds(em, `select l.id from license l where ${where.text}`, where.params);
              const page = await service.list(em, p, { first: 100, filter }, { count: true });
              expect(viaOrm, `${what} through the ORM`).to.deep.equal(want);
              expect(viaSql, `${what} through SQL`).to.deep.equal(want);
              expect(page.nodes.map((l) => l.id).sort(), `${what} through the license page`).to.deep.equal(want);
              expect(await page.count(), `${what} counted`).to.equal(want.length);
              // Backward from the end: the oldest five, newest first, as the forward page ends.
              const back = await service.list(em, p, { last: 5, filter }, { count: true });
              expect(
                back.nodes.map((l) => l.id),
                `${what} backward`,
              ).to.deep.equal(page.nodes.slice(-5).map((l) => l.id));
              expect(back.pageInfo.hasPreviousPage, `${what} backward`).to.equal(want.length > 5);
              expect(await back.count(), `${what} backward counted`).to.equal(want.length);
              combinations++;
            }
      // The nested Customer.licenses connection (groupPagesSql) of every customer, for each status subset.
      for (const status of statusSets) {
        const pages = await service.listForCustomers(
          fork(),
          p,
          d.customers.map((c) => c.id),
          { first: 100, filter: { status } },
        );
        const nested = [...pages.values()].flatMap((page) => page.nodes.map((l) => l.id)).sort();
        const want = d.licenses
          .filter((l) => visible.has(l.id) && matchesFilter(l, { status }))
          .map((l) => l.id)
          .sort();
        expect(nested, `${label} nested ${status.join(',')}`).to.deep.equal(want);
        // Backward: each customer's oldest three, as its forward page ends.
        const backPages = await service.listForCustomers(
          fork(),
          p,
          d.customers.map((c) => c.id),
          { last: 3, filter: { status } },
        );
        for (const c of d.customers) {
          const forward = pages.get(c.id)!.nodes.map((l) => l.id);
          expect(
            backPages.get(c.id)!.nodes.map((l) => l.id),
            `${label} nested backward ${c.id} ${status.join(',')}`,
          ).to.deep.equal(forward.slice(-3));
          expect(backPages.get(c.id)!.pageInfo.hasPreviousPage).to.equal(forward.length > 3);
        }
      }
    }
    expect(combinations).to.equal(distinct.length * statusSets.length * 3 * 3 * 3);
  });

  it('renders one statement text per shape of filter, whoever asks and whatever the values', () => {
    const service = new LicenseService(reader, () => NOW);
    const em = fork();
    const text = (p: AuthenticatedPrincipal, filter: LicenseFilterData) =>
      toSql(em, 'License', 'l', service.condition(p, filter, NOW)).text;
    const r0 = principals[1]![1];
    const r1 = principals[2]![1];
    const shape = {
      status: [LicenseStatus.ACTIVE, LicenseStatus.EXPIRED],
      kind: LicenseKind.MDM,
      customerId: d.customers[0]!.id,
      expiresBefore: NOW,
    };
    const same = {
      status: [LicenseStatus.EXPIRED, LicenseStatus.ACTIVE],
      kind: LicenseKind.MOBILE_SECURITY,
      customerId: d.customers[2]!.id,
      expiresBefore: at(DAY),
    };
    expect(text(r1, same)).to.equal(text(r0, shape));
  });

  it('answers createCustomer by a reseller user without a reseller with NOT_FOUND, not a crash', async () => {
    // create() sends no e-mail: no mailer is needed.
    const service = new CustomerService({} as Mailer, reader);
    const error = await service.create(fork(), principal(Role.RESELLER, null, null), { name: 'Orphan' }, null).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isAppError(error) && error.code).to.equal('NOT_FOUND');
    expect(await fork().count(Customer, { name: 'Orphan' })).to.equal(0);
  });
});
