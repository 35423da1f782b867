// Roles and visibility (FLOWS.md section 5, error codes of section 2) as a client sees them:
//   1. one generated permission matrix (operation x principal x target -> outcome), one `it` per row,
//      every refused mutation checked against a database snapshot;
//   2. nested traversal from every entry point never reaches a foreign object;
//   3. filters obey visibility;
//   4. the audit log is scoped and newest first.
// Fixture: resellers A and B, customers A1 (of A) and B1 (of B), a license on each, users ADMIN,
// RESELLER of A, RESELLER of B, CUSTOMER of A1, CUSTOMER of B1 (a target only). Mutations that take
// access away or change accounts (FLOWS.md section 9) act on objects made for their row (fresh users
// of the target side, a fresh reseller, a stand-in of the principal for its own account), never on
// the fixture. So do the license lifecycle mutations (FLOWS.md section 10): each row suspends, reinstates,
// upgrades, moves or transfers a fresh license or customer of the target side.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { LicenseKind, Role } from '../../src/common/enums';
import type { Customer } from '../../src/modules/customers/customer.entity';
import { License } from '../../src/modules/licenses/license.entity';
import { Reseller } from '../../src/modules/resellers/reseller.entity';
import { User } from '../../src/modules/users/user.entity';
import { DeliveryState, WebhookDelivery } from '../../src/modules/webhooks/webhook-delivery.entity';
import { WebhookEndpoint } from '../../src/modules/webhooks/webhook-endpoint.entity';
import { WebhookEvent } from '../../src/modules/webhooks/webhook-event.entity';
import { makeCustomer, makeLicense, makeReseller, makeUser, signIn, type TestUser } from '../factories';
import { codeOf, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

type Principal = 'admin' | 'resA' | 'resB' | 'custA1';
type UserKey = Principal | 'custB1';
type Side = 'A' | 'B';
type Outcome = 'data' | 'null' | 'NOT_FOUND' | 'FORBIDDEN' | 'BAD_USER_INPUT' | 'CONFLICT';

const PRINCIPALS: readonly Principal[] = ['admin', 'resA', 'resB', 'custA1'];
const USERS: readonly UserKey[] = ['admin', 'resA', 'resB', 'custA1', 'custB1'];
const SIDES: readonly Side[] = ['A', 'B'];

interface Fixture {
  s: TestServer;
  reseller: Record<Side, Reseller>;
  customer: Record<Side, Customer>;
  license: Record<Side, string>;
  user: Record<UserKey, TestUser>;
  /** AUTHENTICATED session token of each principal (each signs in once). */
  token: Record<Principal, string>;
  /** One API token per principal, created through the API. */
  apiToken: Record<Principal, string>;
  /** CUSTOMER_UPDATED events about A1 and B1; their actor is the admin. */
  audit: Record<Side, string>;
  /** LICENSE_UPDATED events about the fixture's licenses (their history); their actor is the admin. */
  licenseAudit: Record<Side, string>;
  /** A webhook endpoint of each side's reseller, with one delivery. */
  webhook: Record<Side, { endpoint: string; delivery: string }>;
}
let F: Fixture;

const rand = () => randomBytes(4).toString('hex');
const futureIso = (days = 30) => new Date(Date.now() + days * 86_400_000).toISOString();
const side = (target: string): Side => {
  if (target !== 'A' && target !== 'B') throw new Error(`not a side: ${target}`);
  return target;
};
const otherSide = (s: Side): Side => (s === 'A' ? 'B' : 'A');

// ---------------------------------------------------------------------------------------------------
// Direct database reads (raw SQL, independent of the server's visibility code)

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return (await F.s.app.services.orm.em.getConnection().execute(query, params)) as T[];
}
async function ids(query: string, params: unknown[] = []): Promise<string[]> {
  return (await sql<{ id: string }>(query, params)).map((r) => r.id).sort();
}
async function count(table: string): Promise<number> {
  const [row] = await sql<{ n: number | string }>(`select count(*) as n from ${table}`);
  return Number(row!.n);
}

/** Everything a refused mutation could have changed. */
async function snapshot() {
  return {
    counts: {
      reseller: await count('reseller'),
      customer: await count('customer'),
      license: await count('license'),
      app_user: await count('app_user'),
      api_token: await count('api_token'),
      session: await count('session'),
      account_token: await count('account_token'),
      audit_event: await count('audit_event'),
      webhook_endpoint: await count('webhook_endpoint'),
      webhook_event: await count('webhook_event'),
      webhook_delivery: await count('webhook_delivery'),
    },
    webhookEndpoints: await sql('select id, active, reseller_id, url from webhook_endpoint order by id'),
    resellers: await sql('select id, name, linked_to_reseller_portal, suspended_at, suspension_reason from reseller order by id'),
    customers: await sql('select id, name, contact_email, reseller_id from customer order by id'),
    licenses: await sql(
      'select id, kind, seats, valid_from, valid_until, revoked_at, suspended_at, reseller_suspended_at, customer_id, reseller_id from license order by id',
    ),
    users: await sql(
      'select id, email, name, locale, role, reseller_id, customer_id, linked_to_reseller_portal, active, deactivated_at, two_factor_enabled, totp_secret_sealed, password_hash from app_user order by id',
    ),
    apiTokens: await sql('select id, user_id, revoked_at, expires_at from api_token order by id'),
    sessions: await ids('select id from session'),
  };
}

const principalUser = (p: Principal) => F.user[p].user;
const resellerOf = (p: Principal): string | null => (p === 'resA' ? F.reseller.A.id : p === 'resB' ? F.reseller.B.id : null);
const customerOf = (p: Principal): string | null => (p === 'custA1' ? F.customer.A.id : null);

type Visible = 'reseller' | 'customer' | 'license' | 'user' | 'audit';

/** The ids FLOWS.md section 5 lets `p` see, computed from the tables (the test's own reading of the spec). */
async function visibleIds(what: Visible, p: Principal): Promise<string[]> {
  const table = { reseller: 'reseller', customer: 'customer', license: 'license', user: 'app_user', audit: 'audit_event' }[what];
  if (p === 'admin') return ids(`select id from ${table}`);
  const r = resellerOf(p);
  const c = customerOf(p);
  switch (what) {
    case 'reseller':
      return r ? ids('select id from reseller where id = ?', [r]) : [];
    case 'customer':
      return r ? ids('select id from customer where reseller_id = ?', [r]) : ids('select id from customer where id = ?', [c]);
    case 'license':
      return r
        ? ids('select l.id as id from license l join customer c on c.id = l.customer_id where c.reseller_id = ?', [r])
        : ids('select id from license where customer_id = ?', [c]);
    case 'user':
      return r
        ? ids('select id from app_user where reseller_id = ? or customer_id in (select id from customer where reseller_id = ?)', [r, r])
        : ids('select id from app_user where customer_id = ?', [c]);
    case 'audit':
      // A transfer's events are also the former reseller's (FLOWS.md section 10).
      return r
        ? ids(
            'select id from audit_event where reseller_id = ? or former_reseller_id = ? or customer_id in (select id from customer where reseller_id = ?)',
            [r, r, r],
          )
        : [];
  }
}

/** Ids of everything under a reseller: itself, its customers, their licenses, its and their users, their API tokens, its events. */
async function treeIds(resellerId: string): Promise<string[]> {
  const users = await ids(
    'select id from app_user where reseller_id = ? or customer_id in (select id from customer where reseller_id = ?)',
    [resellerId, resellerId],
  );
  return [
    resellerId,
    ...(await ids('select id from customer where reseller_id = ?', [resellerId])),
    ...(await ids('select id from license where reseller_id = ? or customer_id in (select id from customer where reseller_id = ?)', [
      resellerId,
      resellerId,
    ])),
    ...users,
    ...(users.length ? await ids(`select id from api_token where user_id in (${users.map(() => '?').join(', ')})`, users) : []),
    ...(await ids('select id from audit_event where reseller_id = ? or former_reseller_id = ?', [resellerId, resellerId])),
  ];
}

/** Ids that must never appear in a response to `p`: the other reseller's whole tree, vendor staff, and for a customer user the rest of its reseller. */
async function foreignIds(p: Exclude<Principal, 'admin'>): Promise<string[]> {
  const own: Side = p === 'resB' ? 'B' : 'A';
  const admins = await ids(`select id from app_user where role = 'ADMIN'`);
  const adminTokens = admins.length
    ? await ids(`select id from api_token where user_id in (${admins.map(() => '?').join(', ')})`, admins)
    : [];
  const foreign = [...(await treeIds(F.reseller[otherSide(own)].id)), ...admins, ...adminTokens];
  if (p === 'custA1') {
    const allowed = new Set([
      F.reseller.A.id,
      ...(await visibleIds('customer', p)),
      ...(await visibleIds('license', p)),
      ...(await visibleIds('user', p)),
      ...(await ids('select id from api_token where user_id = ?', [principalUser(p).id])),
    ]);
    foreign.push(...(await treeIds(F.reseller.A.id)).filter((id) => !allowed.has(id)));
  }
  return foreign;
}

async function expectNoForeignIds(p: Exclude<Principal, 'admin'>, res: GqlResult<unknown>) {
  const body = JSON.stringify({ data: res.data, errors: res.errors });
  const leaked = (await foreignIds(p)).filter((id) => body.includes(id));
  expect(leaked, `foreign ids in the response to ${p}: ${body}`).to.deep.equal([]);
}

// ---------------------------------------------------------------------------------------------------
// Operations of the matrix

interface Prepared {
  vars: Record<string, unknown>;
  /** Whatever the verification needs (e.g. the expected new value). */
  state?: Json;
  /** Own-account rows: the session of the principal's stand-in (see standIn), sent instead of the principal's own. */
  token?: string;
}

interface Op {
  kind: 'read' | 'list' | 'mutation';
  query: string;
  prepare(row: Row): Promise<Prepared> | Prepared;
  /** The object the row is about in a successful response, or null. */
  pick(data: Json, row: Row, prep: Prepared): unknown;
  /** An outcome other than the default (errors -> code, pick null -> 'null', else 'data'). */
  outcome?(res: GqlResult<Json>, row: Row, prep: Prepared): Outcome;
  /** Checks for a 'data' row (the returned object, the database effect). */
  verify?(picked: Json, row: Row, prep: Prepared, data: Json): Promise<void> | void;
  /** Checks for every response without errors (lists: exact ids and totalCount). */
  always?(data: Json, row: Row): Promise<void> | void;
}

const connection = (selection = 'id') => `totalCount edges { node { ${selection} } }`;
const edgeIds = (conn: Json): string[] => conn.edges.map((e: Json) => e.node.id as string);

/** Every connection anywhere in `data` holds all its rows: a page small enough for the cost limit hid none. */
function expectComplete(data: unknown): void {
  if (Array.isArray(data)) return data.forEach(expectComplete);
  if (!data || typeof data !== 'object') return;
  const conn = data as Json;
  if (typeof conn.totalCount === 'number' && Array.isArray(conn.edges)) {
    expect(conn.edges.length, `a page cut off rows: ${JSON.stringify(conn).slice(0, 200)}`).to.equal(conn.totalCount);
  }
  Object.values(conn).forEach(expectComplete);
}

/** A list row: the target is present ('data') or absent ('null'); every row checks the exact ids and totalCount. */
function listOp(field: string, what: Visible, targetId: (target: string) => string, args = '(first: 100)'): Op {
  return {
    kind: 'list',
    query: `{ ${field}${args} { ${connection()} } }`,
    prepare: () => ({ vars: {} }),
    pick: (data, row) => (edgeIds(data[field]).includes(targetId(row.target)) ? targetId(row.target) : null),
    async always(data, row) {
      const expected = await visibleIds(what, row.principal);
      expect(expected.length, 'fixture larger than one page').to.be.at.most(100);
      expect([...edgeIds(data[field])].sort(), `${field} seen by ${row.principal}`).to.deep.equal(expected);
      expect(data[field].totalCount, `${field}.totalCount for ${row.principal}`).to.equal(expected.length);
    },
  };
}

const nodeOp = (typename: string, targetId: (target: string) => string): Op => ({
  kind: 'read',
  query: 'query($id: ID!) { node(id: $id) { __typename id } }',
  prepare: (row) => ({ vars: { id: targetId(row.target) } }),
  pick: (data) => data.node,
  verify: (node, _row, prep) => {
    expect(node).to.deep.equal({ __typename: typename, id: prep.vars.id });
  },
});

/** A webhook endpoint of the side's reseller with one delivery, written straight into the tables. */
async function insertEndpoint(sd: Side): Promise<{ endpoint: string; delivery: string }> {
  const em = F.s.app.services.orm.em.fork();
  const endpoint = em.create(WebhookEndpoint, {
    url: `https://hooks-${sd.toLowerCase()}.example.test/${rand()}`,
    events: ['license.created'],
    reseller: em.getReference(Reseller, F.reseller[sd].id),
    secretSealed: 'v1:unused',
    active: true,
    createdAt: new Date(),
  });
  const message = em.create(WebhookEvent, {
    type: 'license.created',
    licenseId: F.license[sd],
    resellerId: F.reseller[sd].id,
    data: '{}',
    createdAt: new Date(),
    dispatchedAt: new Date(),
  });
  const delivery = em.create(WebhookDelivery, {
    endpoint,
    message,
    event: message.type,
    redacted: false,
    state: DeliveryState.DELIVERED,
    attempts: 1,
    nextAttemptAt: null,
    createdAt: new Date(),
  });
  await em.flush();
  return { endpoint: endpoint.id, delivery: delivery.id };
}

const userIdOf = (target: string) => F.user[target as UserKey].user.id;
const apiTokenOf = (target: string) => F.apiToken[target as Principal];

async function expectResellerCustomers(resellerId: string, conn: Json) {
  const expected = await ids('select id from customer where reseller_id = ?', [resellerId]);
  expect([...edgeIds(conn)].sort()).to.deep.equal(expected);
  expect(conn.totalCount).to.equal(expected.length);
}

type UserKind = 'RESELLER' | 'CUSTOMER' | 'ADMIN';

/** A fresh user of the target side: a RESELLER user of its reseller, a CUSTOMER user of its customer, or an ADMIN. */
async function freshTestUser(kind: UserKind, target: string): Promise<TestUser> {
  if (kind === 'ADMIN') return makeUser(F.s, { role: Role.ADMIN });
  const s = side(target);
  return kind === 'RESELLER'
    ? makeUser(F.s, { role: Role.RESELLER, reseller: F.reseller[s] })
    : makeUser(F.s, { role: Role.CUSTOMER, customer: F.customer[s] });
}

/** The id of a fresh user of the target side (for the user mutations: the fixture's users stay as they are). */
async function freshUser(kind: UserKind, target: string): Promise<string> {
  return (await freshTestUser(kind, target)).user.id;
}

/** Signs the user in and gives it an API token through that session: credentials a deactivation or suspension must end. */
async function giveCredentials(u: TestUser): Promise<void> {
  const token = await signIn(F.s, u);
  const res = await F.s.gql<Json>('mutation($n: String!) { createApiToken(name: $n) { apiToken { id } } }', { n: `t ${rand()}` }, token);
  expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
  expect(await liveCredentials(u.user.id)).to.deep.equal({ sessions: 1, apiTokens: 1 });
}

/** How many of the user's sessions and API tokens still work. */
async function liveCredentials(userId: string): Promise<{ sessions: number; apiTokens: number }> {
  return {
    sessions: (await ids('select id from session where user_id = ?', [userId])).length,
    apiTokens: (await ids('select id from api_token where user_id = ? and revoked_at is null', [userId])).length,
  };
}

/** Marks users deactivated directly through the ORM (the state a deactivation leaves), for rows that need one. */
async function deactivateDirectly(userIds: string[]): Promise<void> {
  await F.s.app.services.orm.em.fork().nativeUpdate(User, { id: { $in: userIds } }, { active: false, deactivatedAt: new Date() });
}

/**
 * Own-account rows act through a stand-in of the principal: a fresh user of the same role and scope, signed in
 * for the row. So the fixture's principals keep their names, locales and sessions whatever the server does (a
 * self-deactivation that went through would fail its row, not every row after it).
 */
async function standIn(p: Principal): Promise<{ id: string; token: string }> {
  const u =
    p === 'admin'
      ? await makeUser(F.s, { role: Role.ADMIN })
      : p === 'custA1'
        ? await makeUser(F.s, { role: Role.CUSTOMER, customer: F.customer.A })
        : await makeUser(F.s, { role: Role.RESELLER, reseller: F.reseller[p === 'resA' ? 'A' : 'B'] });
  return { id: u.user.id, token: await signIn(F.s, u) };
}

async function auditReasons(action: string, targetId: string): Promise<unknown[]> {
  return (await sql<{ reason: unknown }>('select reason from audit_event where action = ? and target_id = ?', [action, targetId])).map(
    (r) => r.reason,
  );
}

async function licenseStatusForAdmin(id: string): Promise<string> {
  const res = await F.s.gql<Json>('query($id: ID!) { license(id: $id) { status } }', { id }, F.token.admin);
  expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
  return res.data.license.status;
}

const resetOp = (kind: UserKind): Op => ({
  kind: 'mutation',
  query: 'mutation($id: ID!) { resetUserTwoFactor(userId: $id) { id twoFactorEnabled } }',
  prepare: async (row) => ({ vars: { id: await freshUser(kind, row.target) } }),
  pick: (data) => data.resetUserTwoFactor,
  async verify(user, _row, prep) {
    expect(user).to.deep.equal({ id: prep.vars.id, twoFactorEnabled: false });
    const [db] = await sql<{ two_factor_enabled: unknown; totp_secret_sealed: unknown }>(
      'select two_factor_enabled, totp_secret_sealed from app_user where id = ?',
      [prep.vars.id],
    );
    expect(Boolean(db!.two_factor_enabled)).to.equal(false);
    expect(db!.totp_secret_sealed).to.equal(null);
  },
});

const createUserOp = (role: 'ADMIN' | 'RESELLER' | 'CUSTOMER', withScope = true): Op => ({
  kind: 'mutation',
  query: 'mutation($input: CreateUserInput!) { createUser(input: $input) { id email role reseller { id } customer { id } } }',
  prepare: (row) => {
    const input: Record<string, unknown> = { email: `new-${rand()}@example.test`, name: `New ${role}`, role };
    if (withScope && role === 'RESELLER') input.resellerId = F.reseller[side(row.target)].id;
    if (withScope && role === 'CUSTOMER') input.customerId = F.customer[side(row.target)].id;
    return { vars: { input } };
  },
  pick: (data) => data.createUser,
  async verify(user, row, prep) {
    const input = prep.vars.input as Record<string, string>;
    expect(user.email).to.equal(input.email);
    expect(user.role).to.equal(role);
    const resellerId = role === 'RESELLER' ? (input.resellerId ?? resellerOf(row.principal)) : null;
    expect(user.reseller?.id ?? null).to.equal(resellerId);
    expect(user.customer?.id ?? null).to.equal(role === 'CUSTOMER' ? input.customerId : null);
    const [db] = await sql<{ role: string; reseller_id: string | null; customer_id: string | null }>(
      'select role, reseller_id, customer_id from app_user where id = ?',
      [user.id],
    );
    expect(db).to.deep.equal({ role, reseller_id: resellerId, customer_id: role === 'CUSTOMER' ? input.customerId : null });
  },
});

const DEACTIVATE = 'mutation($id: ID!, $reason: String) { deactivateUser(userId: $id, reason: $reason) { id active deactivatedAt } }';

const deactivateOp = (kind: UserKind): Op => ({
  kind: 'mutation',
  query: DEACTIVATE,
  // A fresh user with a session and an API token, both of which the deactivation must end.
  prepare: async (row) => {
    const u = await freshTestUser(kind, row.target);
    await giveCredentials(u);
    return { vars: { id: u.user.id, reason: `Left the company ${rand()}` } };
  },
  pick: (data) => data.deactivateUser,
  async verify(user, _row, prep) {
    const id = prep.vars.id as string;
    expect(user.id).to.equal(id);
    expect(user.active).to.equal(false);
    expect(user.deactivatedAt).to.be.a('string');
    const [db] = await sql<{ active: unknown; deactivated_at: unknown }>('select active, deactivated_at from app_user where id = ?', [id]);
    expect(Boolean(db!.active)).to.equal(false);
    expect(db!.deactivated_at).to.not.equal(null);
    expect(await liveCredentials(id)).to.deep.equal({ sessions: 0, apiTokens: 0 });
    expect(await auditReasons('USER_DEACTIVATED', id)).to.deep.equal([prep.vars.reason]);
  },
});

const reactivateOp = (kind: UserKind): Op => ({
  kind: 'mutation',
  query: 'mutation($id: ID!) { reactivateUser(userId: $id) { id active deactivatedAt twoFactorEnabled } }',
  // A fresh user, deactivated (with 2FA enabled, which reactivation leaves as it was).
  prepare: async (row) => {
    const id = await freshUser(kind, row.target);
    await deactivateDirectly([id]);
    return { vars: { id } };
  },
  pick: (data) => data.reactivateUser,
  async verify(user, _row, prep) {
    const id = prep.vars.id as string;
    expect(user).to.deep.equal({ id, active: true, deactivatedAt: null, twoFactorEnabled: true });
    const [db] = await sql<{ active: unknown; deactivated_at: unknown; two_factor_enabled: unknown }>(
      'select active, deactivated_at, two_factor_enabled from app_user where id = ?',
      [id],
    );
    expect(Boolean(db!.active)).to.equal(true);
    expect(db!.deactivated_at).to.equal(null);
    expect(Boolean(db!.two_factor_enabled)).to.equal(true);
    expect(await auditReasons('USER_REACTIVATED', id)).to.have.length(1);
  },
});

const UPDATE_USER =
  'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id name locale linkedToResellerPortal } }';

async function expectUserRow(id: string, expected: { name?: string; locale?: string; linkedToResellerPortal?: boolean }) {
  const [db] = await sql<{ name: string; locale: string; linked_to_reseller_portal: unknown }>(
    'select name, locale, linked_to_reseller_portal from app_user where id = ?',
    [id],
  );
  const got = { name: db!.name, locale: db!.locale, linkedToResellerPortal: Boolean(db!.linked_to_reseller_portal) };
  expect(got).to.deep.include(expected);
}

/** Another user's name or reseller-portal link (a fresh user of the target side; its link starts false). */
const updateOtherUserOp = (kind: 'RESELLER' | 'CUSTOMER', field: 'name' | 'linkedToResellerPortal'): Op => ({
  kind: 'mutation',
  query: UPDATE_USER,
  prepare: async (row) => ({
    vars: {
      id: await freshUser(kind, row.target),
      input: field === 'name' ? { name: `Renamed ${rand()}` } : { linkedToResellerPortal: true },
    },
  }),
  pick: (data) => data.updateUser,
  async verify(user, _row, prep) {
    const input = prep.vars.input as Record<string, unknown>;
    expect(user).to.deep.include({ id: prep.vars.id, ...input });
    await expectUserRow(prep.vars.id as string, input);
  },
});

/** A fresh reseller with a customer, a license, and a RESELLER user; for suspendReseller the user holds a session and an API token. */
async function freshReseller(suspended: boolean): Promise<{ resellerId: string; userId: string; licenseIds: string[] }> {
  const reseller = await makeReseller(F.s);
  const customer = await makeCustomer(F.s, reseller);
  const licenseIds = [(await makeLicense(F.s, customer)).id, (await makeLicense(F.s, customer)).id].sort();
  const u = await makeUser(F.s, { role: Role.RESELLER, reseller });
  if (suspended) {
    const em = F.s.app.services.orm.em.fork();
    const at = new Date();
    await em.nativeUpdate(Reseller, { id: reseller.id }, { suspendedAt: at, suspensionReason: 'Unpaid invoices' });
    await em.nativeUpdate(License, { reseller: reseller.id }, { resellerSuspendedAt: at });
  } else {
    await giveCredentials(u);
  }
  return { resellerId: reseller.id, userId: u.user.id, licenseIds };
}

async function resellerRows(resellerId: string) {
  const [reseller] = await sql<{ suspended_at: unknown; suspension_reason: unknown }>(
    'select suspended_at, suspension_reason from reseller where id = ?',
    [resellerId],
  );
  const licenses = await sql<{ id: string; reseller_suspended_at: unknown }>(
    'select id, reseller_suspended_at from license where reseller_id = ? order by id',
    [resellerId],
  );
  return { reseller: reseller!, licenses };
}

const LICENSE_FIELDS = 'id seats status customer { id } reseller { id }';

/** A fresh license of the target side's customer (or of `customer`): the fixture's licenses stay as they are. */
async function freshLicense(target: string, data: { kind?: LicenseKind } = {}, customer?: Customer): Promise<string> {
  return (await makeLicense(F.s, customer ?? F.customer[side(target)], data)).id;
}

async function licenseRow(id: string) {
  const [db] = await sql<{ kind: string; suspended_at: unknown; customer_id: string; reseller_id: string }>(
    'select kind, suspended_at, customer_id, reseller_id from license where id = ?',
    [id],
  );
  return db!;
}

/** The changes JSON of each `action` event about `targetId`, oldest first. */
async function auditChanges(action: string, targetId: string): Promise<unknown[]> {
  return (
    await sql<{ changes: string | null }>('select changes from audit_event where action = ? and target_id = ? order by at, id', [
      action,
      targetId,
    ])
  ).map((r) => (r.changes === null ? null : JSON.parse(r.changes)));
}

const MOVE = `mutation($id: ID!, $to: ID!) { moveLicense(id: $id, toCustomerId: $to) { ${LICENSE_FIELDS} } }`;

/** A fresh license of the target side and a fresh customer to move it to: of the same side, or of the other. */
const moveOp = (to: 'same side' | 'other side'): Op => ({
  kind: 'mutation',
  query: MOVE,
  prepare: async (row) => {
    const from = side(row.target);
    const toCustomer = await makeCustomer(F.s, F.reseller[to === 'same side' ? from : otherSide(from)]);
    return { vars: { id: await freshLicense(from), to: toCustomer.id }, state: { from: F.customer[from].id } };
  },
  pick: (data) => data.moveLicense,
  outcome(res) {
    if (!res.errors?.length) return res.data?.moveLicense ? 'data' : 'null';
    const code = codeOf(res) as Outcome;
    // Both visible, of two resellers: the input is wrong, and it names the target.
    if (code === 'BAD_USER_INPUT') expect(res.errors[0]!.extensions!.field).to.equal('toCustomerId');
    return code;
  },
  async verify(license, row, prep) {
    const id = prep.vars.id as string;
    const resellerId = F.reseller[side(row.target)].id;
    expect(license).to.deep.include({ id, customer: { id: prep.vars.to }, reseller: { id: resellerId } });
    expect(await licenseRow(id)).to.deep.include({ customer_id: prep.vars.to, reseller_id: resellerId });
    expect(await auditChanges('LICENSE_MOVED', id)).to.deep.equal([{ customerId: { from: prep.state.from, to: prep.vars.to } }]);
  },
});

const OPS = {
  // --- single reads: invisible is null, exactly like an unknown id
  'license(id)': {
    kind: 'read',
    query: `query($id: ID!) { license(id: $id) { ${LICENSE_FIELDS} } }`,
    prepare: (row) => ({ vars: { id: F.license[side(row.target)] } }),
    pick: (data) => data.license,
    verify: (license, row) => {
      expect(license.id).to.equal(F.license[side(row.target)]);
      expect(license.customer.id).to.equal(F.customer[side(row.target)].id);
      expect(license.reseller.id).to.equal(F.reseller[side(row.target)].id);
    },
  },
  'customer(id)': {
    kind: 'read',
    query: 'query($id: ID!) { customer(id: $id) { id name reseller { id } } }',
    prepare: (row) => ({ vars: { id: F.customer[side(row.target)].id } }),
    pick: (data) => data.customer,
    verify: (customer, row) => {
      expect(customer.id).to.equal(F.customer[side(row.target)].id);
      expect(customer.reseller.id).to.equal(F.reseller[side(row.target)].id);
    },
  },
  'node(Reseller)': nodeOp('Reseller', (t) => F.reseller[side(t)].id),
  'node(Customer)': nodeOp('Customer', (t) => F.customer[side(t)].id),
  'node(License)': nodeOp('License', (t) => F.license[side(t)]),
  'node(User)': nodeOp('User', userIdOf),
  'node(AuditEvent)': nodeOp('AuditEvent', (t) => F.audit[side(t)]),
  'node(ApiToken)': nodeOp('ApiToken', apiTokenOf),
  'node(unknown id)': nodeOp('-', () => `cus_${'0'.repeat(24)}`),

  // --- lists: exactly the visible rows, totalCount counts only them
  licenses: listOp('licenses', 'license', (t) => F.license[side(t)]),
  customers: listOp('customers', 'customer', (t) => F.customer[side(t)].id),
  resellers: listOp('resellers', 'reseller', (t) => F.reseller[side(t)].id),
  users: listOp('users', 'user', userIdOf),
  auditEvents: listOp('auditEvents', 'audit', (t) => F.audit[side(t)]),
  // A license's history (FLOWS.md section 10): exactly the visible events about it.
  'auditEvents(filter: { targetId: license })': {
    kind: 'list',
    query: `query($id: ID!) { auditEvents(first: 100, filter: { targetId: $id }) { ${connection('id targetId targetType')} } }`,
    prepare: (row) => ({ vars: { id: F.license[side(row.target)] } }),
    pick: (data, row) => data.auditEvents.edges.find((e: Json) => e.node.id === F.licenseAudit[side(row.target)])?.node ?? null,
    async always(data, row) {
      const licenseId = F.license[side(row.target)];
      const visible = new Set(await visibleIds('audit', row.principal));
      const expected = (await ids('select id from audit_event where target_id = ?', [licenseId])).filter((id) => visible.has(id));
      expect([...edgeIds(data.auditEvents)].sort(), `history of ${licenseId} for ${row.principal}`).to.deep.equal(expected);
      expect(data.auditEvents.totalCount).to.equal(expected.length);
      for (const { node } of data.auditEvents.edges) expect(node).to.deep.include({ targetId: licenseId, targetType: 'License' });
    },
  },
  apiTokens: {
    kind: 'list',
    query: '{ apiTokens { id name } }',
    prepare: () => ({ vars: {} }),
    pick: (data, row) => data.apiTokens.find((t: Json) => t.id === apiTokenOf(row.target)) ?? null,
    async always(data, row) {
      const own = await ids('select id from api_token where user_id = ? and revoked_at is null', [principalUser(row.principal).id]);
      expect(data.apiTokens.map((t: Json) => t.id).sort()).to.deep.equal(own);
    },
  },
  'Reseller.customers via node(id)': {
    kind: 'read',
    query: `query($id: ID!) { node(id: $id) { id ... on Reseller { customers(first: 100) { ${connection()} } } } }`,
    prepare: (row) => ({ vars: { id: F.reseller[side(row.target)].id } }),
    pick: (data) => data.node,
    verify: (node, row) => expectResellerCustomers(F.reseller[side(row.target)].id, node.customers),
  },
  'Reseller.customers via customer.reseller': {
    kind: 'read',
    query: `query($id: ID!) { customer(id: $id) { id reseller { id customers(first: 100) { ${connection()} } } } }`,
    prepare: (row) => ({ vars: { id: F.customer[side(row.target)].id } }),
    pick: (data) => data.customer,
    verify: (customer, row) => expectResellerCustomers(F.reseller[side(row.target)].id, customer.reseller.customers),
  },

  // --- mutations: invisible objects are NOT_FOUND, roles that may never do it FORBIDDEN
  createReseller: {
    kind: 'mutation',
    query: 'mutation($name: String!) { createReseller(input: { name: $name }) { id name } }',
    prepare: () => ({ vars: { name: `Reseller ${rand()}` } }),
    pick: (data) => data.createReseller,
    async verify(reseller, _row, prep) {
      expect(reseller.name).to.equal(prep.vars.name);
      expect(await ids('select id from reseller where id = ?', [reseller.id])).to.deep.equal([reseller.id]);
    },
  },
  createCustomer: {
    kind: 'mutation',
    query: 'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id name reseller { id } } }',
    prepare: (row) => ({ vars: { input: { name: `Customer ${rand()}`, resellerId: F.reseller[side(row.target)].id } } }),
    pick: (data) => data.createCustomer,
    async verify(customer, row) {
      expect(customer.reseller.id).to.equal(F.reseller[side(row.target)].id);
      expect(
        await ids('select id from customer where id = ? and reseller_id = ?', [customer.id, F.reseller[side(row.target)].id]),
      ).to.have.length(1);
    },
  },
  'createCustomer without resellerId': {
    kind: 'mutation',
    query: 'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id name reseller { id } } }',
    prepare: () => ({ vars: { input: { name: `Customer ${rand()}` } } }),
    pick: (data) => data.createCustomer,
    async verify(customer, row) {
      const own = resellerOf(row.principal)!;
      expect(customer.reseller.id).to.equal(own);
      expect(await ids('select id from customer where id = ? and reseller_id = ?', [customer.id, own])).to.have.length(1);
    },
  },
  updateCustomer: {
    kind: 'mutation',
    query: 'mutation($id: ID!, $name: String!) { updateCustomer(id: $id, input: { name: $name }) { id name } }',
    prepare: (row) => ({ vars: { id: F.customer[side(row.target)].id, name: `Renamed ${rand()}` } }),
    pick: (data) => data.updateCustomer,
    async verify(customer, _row, prep) {
      expect(customer).to.deep.equal({ id: prep.vars.id, name: prep.vars.name });
      expect(await sql('select name from customer where id = ?', [prep.vars.id])).to.deep.equal([{ name: prep.vars.name }]);
    },
  },
  createLicense: {
    kind: 'mutation',
    query: `mutation($input: CreateLicenseInput!) { createLicense(input: $input) { ${LICENSE_FIELDS} } }`,
    prepare: (row) => ({
      vars: { input: { customerId: F.customer[side(row.target)].id, kind: 'MDM', seats: 7, validUntil: futureIso() } },
    }),
    pick: (data) => data.createLicense,
    async verify(license, row) {
      expect(license).to.deep.include({ seats: 7, status: 'ACTIVE' });
      expect(license.customer.id).to.equal(F.customer[side(row.target)].id);
      expect(license.reseller.id).to.equal(F.reseller[side(row.target)].id);
      expect(await sql('select customer_id, reseller_id from license where id = ?', [license.id])).to.deep.equal([
        { customer_id: F.customer[side(row.target)].id, reseller_id: F.reseller[side(row.target)].id },
      ]);
    },
  },
  'createLicenses (one row)': {
    kind: 'mutation',
    query: `mutation($inputs: [CreateLicenseInput!]!) { createLicenses(inputs: $inputs) { license { ${LICENSE_FIELDS} } error { code message field } } }`,
    prepare: (row) => ({
      vars: { inputs: [{ customerId: F.customer[side(row.target)].id, kind: 'MOBILE_SECURITY', seats: 3, validUntil: futureIso() }] },
    }),
    pick: (data) => data.createLicenses[0].license,
    outcome(res) {
      if (res.errors) return codeOf(res) as Outcome;
      expect(res.data.createLicenses).to.have.length(1);
      const [result] = res.data.createLicenses;
      if (result.error) {
        expect(result.license).to.equal(null);
        return result.error.code;
      }
      return result.license ? 'data' : 'null';
    },
    async verify(license, row) {
      expect(license.customer.id).to.equal(F.customer[side(row.target)].id);
      expect(
        await ids('select id from license where id = ? and customer_id = ?', [license.id, F.customer[side(row.target)].id]),
      ).to.have.length(1);
    },
  },
  'createLicenses (mixed batch)': {
    kind: 'mutation',
    query: `mutation($inputs: [CreateLicenseInput!]!) { createLicenses(inputs: $inputs) { license { ${LICENSE_FIELDS} } error { code message field } } }`,
    prepare: (row) => {
      const own: Side = row.principal === 'resB' ? 'B' : 'A';
      const row_ = (customerId: string, extra: Record<string, unknown> = {}) => ({
        customerId,
        kind: 'MDM',
        seats: 2,
        validUntil: futureIso(),
        ...extra,
      });
      const inputs = [
        row_(F.customer[own].id),
        row_(F.customer[otherSide(own)].id),
        row_(F.customer[own].id, { seats: 0 }),
        row_(`cus_${'f'.repeat(24)}`),
        row_(F.customer[own].id, { validFrom: futureIso(10), validUntil: futureIso(5) }),
        row_(F.customer[own].id, { seats: 4 }),
      ];
      const foreignOk = row.principal === 'admin';
      const expected = ['data', foreignOk ? 'data' : 'NOT_FOUND', 'BAD_USER_INPUT', 'NOT_FOUND', 'BAD_USER_INPUT', 'data'];
      return { vars: { inputs }, state: { expected, own } };
    },
    pick: (data) => data.createLicenses,
    async verify(results, _row, prep) {
      const inputs = prep.vars.inputs as { customerId: string; seats: number }[];
      expect(results.map((r: Json) => (r.error ? r.error.code : 'data'))).to.deep.equal(prep.state.expected);
      expect(results[2].error.field).to.equal('seats');
      expect(results[4].error.field).to.equal('validUntil');
      for (const [i, r] of results.entries()) {
        if (r.error) {
          expect(r.license, `row ${i}`).to.equal(null);
          continue;
        }
        expect(r.license.customer.id, `row ${i}`).to.equal(inputs[i]!.customerId);
        expect(r.license.seats, `row ${i}`).to.equal(inputs[i]!.seats);
      }
      const created = results
        .filter((r: Json) => r.license)
        .map((r: Json) => r.license.id)
        .sort();
      expect(created).to.have.length(prep.state.expected.filter((e: string) => e === 'data').length);
      expect(prep.state.countBefore + created.length).to.equal(await count('license'));
    },
  },
  updateLicense: {
    kind: 'mutation',
    query: 'mutation($id: ID!, $seats: Int!) { updateLicense(id: $id, input: { seats: $seats }) { id seats } }',
    prepare: (row) => ({ vars: { id: F.license[side(row.target)], seats: 100 + Math.floor(Math.random() * 900) } }),
    pick: (data) => data.updateLicense,
    async verify(license, _row, prep) {
      expect(license).to.deep.equal({ id: prep.vars.id, seats: prep.vars.seats });
      expect(
        (await sql<{ seats: number }>('select seats from license where id = ?', [prep.vars.id])).map((r) => Number(r.seats)),
      ).to.deep.equal([prep.vars.seats]);
    },
  },
  revokeLicense: {
    kind: 'mutation',
    query: 'mutation($id: ID!) { revokeLicense(id: $id) { id status revokedAt } }',
    // A fresh license per row: revocation is final.
    prepare: async (row) => ({ vars: { id: (await makeLicense(F.s, F.customer[side(row.target)])).id } }),
    pick: (data) => data.revokeLicense,
    async verify(license, _row, prep) {
      expect(license.id).to.equal(prep.vars.id);
      expect(license.status).to.equal('REVOKED');
      expect(license.revokedAt).to.be.a('string');
      const [db] = await sql<{ revoked_at: unknown }>('select revoked_at from license where id = ?', [prep.vars.id]);
      expect(db!.revoked_at).to.not.equal(null);
    },
  },
  'createUser(ADMIN)': createUserOp('ADMIN'),
  'createUser(RESELLER)': createUserOp('RESELLER'),
  'createUser(RESELLER) without resellerId': createUserOp('RESELLER', false),
  'createUser(CUSTOMER)': createUserOp('CUSTOMER'),
  'resetUserTwoFactor(RESELLER user)': resetOp('RESELLER'),
  'resetUserTwoFactor(CUSTOMER user)': resetOp('CUSTOMER'),
  'resetUserTwoFactor(ADMIN user)': resetOp('ADMIN'),
  'deactivateUser(RESELLER user)': deactivateOp('RESELLER'),
  'deactivateUser(CUSTOMER user)': deactivateOp('CUSTOMER'),
  'deactivateUser(ADMIN user)': deactivateOp('ADMIN'),
  'deactivateUser(self)': {
    kind: 'mutation',
    query: DEACTIVATE,
    prepare: async (row) => {
      const me = await standIn(row.principal);
      return { vars: { id: me.id, reason: 'Leaving' }, token: me.token };
    },
    pick: (data) => data.deactivateUser,
    outcome(res) {
      if (!res.errors?.length) return res.data?.deactivateUser ? 'data' : 'null';
      const code = codeOf(res) as Outcome;
      // Refused as oneself (there are other admins, so never as the last one).
      if (code === 'CONFLICT') expect(res.errors[0]!.extensions!.reason).to.equal('SELF');
      return code;
    },
  },
  'reactivateUser(RESELLER user)': reactivateOp('RESELLER'),
  'reactivateUser(CUSTOMER user)': reactivateOp('CUSTOMER'),
  'reactivateUser(ADMIN user)': reactivateOp('ADMIN'),
  'updateUser(name of RESELLER user)': updateOtherUserOp('RESELLER', 'name'),
  'updateUser(name of CUSTOMER user)': updateOtherUserOp('CUSTOMER', 'name'),
  'updateUser(RSP link of CUSTOMER user)': updateOtherUserOp('CUSTOMER', 'linkedToResellerPortal'),
  'updateUser(own name and locale)': {
    kind: 'mutation',
    query: UPDATE_USER,
    prepare: async (row) => {
      const me = await standIn(row.principal);
      return { vars: { id: me.id, input: { name: `Me ${rand()}`, locale: 'de' } }, token: me.token };
    },
    pick: (data) => data.updateUser,
    async verify(user, _row, prep) {
      const input = prep.vars.input as { name: string; locale: string };
      expect(user).to.deep.equal({ id: prep.vars.id, ...input, linkedToResellerPortal: false });
      await expectUserRow(prep.vars.id as string, { ...input, linkedToResellerPortal: false });
    },
  },
  'updateUser(own RSP link, changed)': {
    kind: 'mutation',
    query: UPDATE_USER,
    // The link changes (the stand-in's is false); a new name travels with it, and the snapshot shows it was not applied either.
    prepare: async (row) => {
      const me = await standIn(row.principal);
      return { vars: { id: me.id, input: { name: `Me ${rand()}`, linkedToResellerPortal: true } }, token: me.token };
    },
    pick: (data) => data.updateUser,
  },
  suspendReseller: {
    kind: 'mutation',
    query: 'mutation($id: ID!, $reason: String!) { suspendReseller(id: $id, reason: $reason) { id suspendedAt suspensionReason } }',
    prepare: async () => {
      const fresh = await freshReseller(false);
      return { vars: { id: fresh.resellerId, reason: `Unpaid invoices ${rand()}` }, state: fresh };
    },
    pick: (data) => data.suspendReseller,
    async verify(reseller, _row, prep) {
      const { resellerId, userId, licenseIds } = prep.state as { resellerId: string; userId: string; licenseIds: string[] };
      expect(reseller.id).to.equal(resellerId);
      expect(reseller.suspendedAt).to.be.a('string');
      expect(reseller.suspensionReason).to.equal(prep.vars.reason);
      const db = await resellerRows(resellerId);
      expect(db.reseller.suspended_at).to.not.equal(null);
      expect(db.reseller.suspension_reason).to.equal(prep.vars.reason);
      expect(db.licenses.map((l) => l.id)).to.deep.equal(licenseIds);
      for (const l of db.licenses) {
        expect(l.reseller_suspended_at, l.id).to.not.equal(null);
        expect(await licenseStatusForAdmin(l.id)).to.equal('SUSPENDED');
      }
      expect(await liveCredentials(userId)).to.deep.equal({ sessions: 0, apiTokens: 0 });
      expect(await auditReasons('RESELLER_SUSPENDED', resellerId)).to.deep.equal([prep.vars.reason]);
    },
  },
  reinstateReseller: {
    kind: 'mutation',
    query: 'mutation($id: ID!) { reinstateReseller(id: $id) { id suspendedAt suspensionReason } }',
    // A fresh reseller, suspended through the ORM.
    prepare: async () => {
      const fresh = await freshReseller(true);
      return { vars: { id: fresh.resellerId }, state: fresh };
    },
    pick: (data) => data.reinstateReseller,
    async verify(reseller, _row, prep) {
      const { resellerId, licenseIds } = prep.state as { resellerId: string; licenseIds: string[] };
      expect(reseller).to.deep.equal({ id: resellerId, suspendedAt: null, suspensionReason: null });
      const db = await resellerRows(resellerId);
      expect(db.reseller).to.deep.equal({ suspended_at: null, suspension_reason: null });
      expect(db.licenses.map((l) => l.id)).to.deep.equal(licenseIds);
      for (const l of db.licenses) {
        expect(l.reseller_suspended_at, l.id).to.equal(null);
        expect(await licenseStatusForAdmin(l.id)).to.equal('ACTIVE');
      }
      expect(await auditReasons('RESELLER_REINSTATED', resellerId)).to.have.length(1);
    },
  },
  // --- the license lifecycle (FLOWS.md section 10): a fresh license or customer of the target side per row
  suspendLicense: {
    kind: 'mutation',
    query: 'mutation($id: ID!, $reason: String!) { suspendLicense(id: $id, reason: $reason) { id status suspendedAt } }',
    prepare: async (row) => ({ vars: { id: await freshLicense(row.target), reason: `Unpaid invoice ${rand()}` } }),
    pick: (data) => data.suspendLicense,
    async verify(license, _row, prep) {
      const id = prep.vars.id as string;
      expect(license).to.deep.include({ id, status: 'SUSPENDED' });
      expect(Date.parse(license.suspendedAt)).to.be.closeTo(Date.now(), 60_000);
      expect((await licenseRow(id)).suspended_at).to.not.equal(null);
      expect(await licenseStatusForAdmin(id)).to.equal('SUSPENDED');
      expect(await auditReasons('LICENSE_SUSPENDED', id)).to.deep.equal([prep.vars.reason]);
    },
  },
  reinstateLicense: {
    kind: 'mutation',
    query: 'mutation($id: ID!) { reinstateLicense(id: $id) { id status suspendedAt } }',
    // A fresh license, suspended through the ORM.
    prepare: async (row) => {
      const id = await freshLicense(row.target);
      await F.s.app.services.orm.em.fork().nativeUpdate(License, { id }, { suspendedAt: new Date(Date.now() - 60_000) });
      return { vars: { id } };
    },
    pick: (data) => data.reinstateLicense,
    async verify(license, _row, prep) {
      const id = prep.vars.id as string;
      expect(license).to.deep.equal({ id, status: 'ACTIVE', suspendedAt: null });
      expect((await licenseRow(id)).suspended_at).to.equal(null);
      expect(await licenseStatusForAdmin(id)).to.equal('ACTIVE');
      expect(await auditReasons('LICENSE_REINSTATED', id)).to.have.length(1);
    },
  },
  'updateLicense(kind upgrade)': {
    kind: 'mutation',
    query: 'mutation($id: ID!) { updateLicense(id: $id, input: { kind: MOBILE_SECURITY }) { id kind seats } }',
    prepare: async (row) => ({ vars: { id: await freshLicense(row.target, { kind: LicenseKind.MDM }) } }),
    pick: (data) => data.updateLicense,
    async verify(license, _row, prep) {
      const id = prep.vars.id as string;
      expect(license).to.deep.equal({ id, kind: 'MOBILE_SECURITY', seats: 10 });
      expect((await licenseRow(id)).kind).to.equal('MOBILE_SECURITY');
      expect(await auditChanges('LICENSE_UPGRADED', id)).to.deep.equal([{ kind: { from: 'MDM', to: 'MOBILE_SECURITY' } }]);
    },
  },
  'moveLicense(same reseller)': moveOp('same side'),
  "moveLicense(other side's customer)": moveOp('other side'),
  transferCustomer: {
    kind: 'mutation',
    query:
      'mutation($c: ID!, $to: ID!, $reason: String!) { transferCustomer(customerId: $c, toResellerId: $to, reason: $reason) { id reseller { id } } }',
    // A fresh customer of the target side with two licenses and a user, and a fresh reseller to take it.
    prepare: async (row) => {
      const customer = await makeCustomer(F.s, F.reseller[side(row.target)]);
      const licenseIds = [await freshLicense(row.target, {}, customer), await freshLicense(row.target, {}, customer)].sort();
      await makeUser(F.s, { role: Role.CUSTOMER, customer });
      const to = await makeReseller(F.s);
      return { vars: { c: customer.id, to: to.id, reason: `Reseller change ${rand()}` }, state: { licenseIds } };
    },
    pick: (data) => data.transferCustomer,
    async verify(customer, row, prep) {
      const { c, to, reason } = prep.vars as { c: string; to: string; reason: string };
      const from = F.reseller[side(row.target)].id;
      expect(customer).to.deep.equal({ id: c, reseller: { id: to } });
      expect(await sql('select reseller_id from customer where id = ?', [c])).to.deep.equal([{ reseller_id: to }]);
      const licenses = await sql<{ id: string; reseller_id: string }>(
        'select id, reseller_id from license where customer_id = ? order by id',
        [c],
      );
      expect(licenses).to.deep.equal(prep.state.licenseIds.map((id: string) => ({ id, reseller_id: to })));
      const changes = { resellerId: { from, to } };
      expect(await auditReasons('CUSTOMER_TRANSFERRED', c)).to.deep.equal([reason]);
      expect(await auditChanges('CUSTOMER_TRANSFERRED', c)).to.deep.equal([changes]);
      for (const id of prep.state.licenseIds) {
        expect(await auditReasons('LICENSE_TRANSFERRED', id), id).to.deep.equal([reason]);
        expect(await auditChanges('LICENSE_TRANSFERRED', id), id).to.deep.equal([changes]);
      }
      const events = await sql('select distinct reseller_id, former_reseller_id from audit_event where action like ? and customer_id = ?', [
        '%_TRANSFERRED',
        c,
      ]);
      expect(events).to.deep.equal([{ reseller_id: to, former_reseller_id: from }]);
    },
  },
  createApiToken: {
    kind: 'mutation',
    query: 'mutation($name: String!) { createApiToken(name: $name) { token apiToken { id name } } }',
    prepare: () => ({ vars: { name: `script ${rand()}` } }),
    pick: (data) => data.createApiToken,
    async verify(created, row, prep) {
      expect(created.apiToken.name).to.equal(prep.vars.name);
      expect(created.token).to.be.a('string').and.have.length.above(20);
      expect(await sql('select user_id from api_token where id = ?', [created.apiToken.id])).to.deep.equal([
        { user_id: principalUser(row.principal).id },
      ]);
    },
  },
  revokeApiToken: {
    kind: 'mutation',
    query: 'mutation($id: ID!) { revokeApiToken(id: $id) }',
    // A fresh token of the target principal per row, created through the API by its owner.
    prepare: async (row) => {
      const res = await F.s.gql<Json>(
        'mutation($n: String!) { createApiToken(name: $n) { apiToken { id } } }',
        { n: `t ${rand()}` },
        F.token[row.target as Principal],
      );
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      return { vars: { id: res.data.createApiToken.apiToken.id } };
    },
    pick: (data) => data.revokeApiToken,
    async verify(value, _row, prep) {
      expect(value).to.equal(true);
      const [db] = await sql<{ revoked_at: unknown }>('select revoked_at from api_token where id = ?', [prep.vars.id]);
      expect(db!.revoked_at).to.not.equal(null);
    },
  },
  // FLOWS.md section 12: staff, for their reseller's endpoints (admins: all).
  webhookEndpoints: {
    kind: 'list',
    query: '{ webhookEndpoints { id reseller { id } } }',
    prepare: () => ({ vars: {} }),
    pick: (data, row) => (data.webhookEndpoints.some((e: Json) => e.id === F.webhook[side(row.target)].endpoint) ? data : null),
    async always(data, row) {
      const r = resellerOf(row.principal);
      const expected =
        row.principal === 'admin'
          ? await ids('select id from webhook_endpoint where active = ?', [true])
          : r
            ? await ids('select id from webhook_endpoint where active = ? and reseller_id = ?', [true, r])
            : [];
      expect(data.webhookEndpoints.map((e: Json) => e.id).sort()).to.deep.equal(expected);
    },
  },
  webhookDeliveries: {
    kind: 'read',
    query: `query($id: ID!) { webhookDeliveries(endpointId: $id) { ${connection('id event state')} } }`,
    prepare: (row) => ({ vars: { id: F.webhook[side(row.target)].endpoint } }),
    pick: (data) => data.webhookDeliveries,
    verify: (conn, row) => {
      expect(edgeIds(conn)).to.deep.equal([F.webhook[side(row.target)].delivery]);
    },
  },
  'node(WebhookEndpoint)': nodeOp('WebhookEndpoint', (t) => F.webhook[side(t)].endpoint),
  'node(WebhookDelivery)': nodeOp('WebhookDelivery', (t) => F.webhook[side(t)].delivery),
  createWebhookEndpoint: {
    kind: 'mutation',
    query:
      'mutation($url: String!, $r: ID) { createWebhookEndpoint(url: $url, events: ["license.created"], resellerId: $r) { signingSecret endpoint { id reseller { id } } } }',
    prepare: (row) => ({ vars: { url: `https://erp.example.test/${rand()}`, r: F.reseller[side(row.target)].id } }),
    pick: (data) => data.createWebhookEndpoint,
    async verify(created, row) {
      expect(created.endpoint.reseller.id).to.equal(F.reseller[side(row.target)].id);
      expect(created.signingSecret).to.match(/^whsec_/);
      // Out of the way again, so that the rows stay under the 5-endpoint limit.
      await sql('update webhook_endpoint set active = ? where id = ?', [false, created.endpoint.id]);
    },
  },
  deleteWebhookEndpoint: {
    kind: 'mutation',
    query: 'mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }',
    prepare: async (row) => ({ vars: { id: (await insertEndpoint(side(row.target))).endpoint } }),
    pick: (data) => data.deleteWebhookEndpoint,
    async verify(value, _row, prep) {
      expect(value).to.equal(true);
      const [db] = await sql<{ active: unknown }>('select active from webhook_endpoint where id = ?', [prep.vars.id]);
      expect([false, 0]).to.include(db!.active);
      await sql('delete from webhook_delivery where endpoint_id = ?', [prep.vars.id]);
    },
  },
  redeliverWebhook: {
    kind: 'mutation',
    query: 'mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id event state attempts } }',
    prepare: (row) => ({ vars: { id: F.webhook[side(row.target)].delivery } }),
    pick: (data) => data.redeliverWebhook,
    async verify(again, row) {
      expect(again).to.include({ event: 'license.created', state: 'PENDING', attempts: 0 });
      const [db] = await sql<{ endpoint_id: string }>('select endpoint_id from webhook_delivery where id = ?', [again.id]);
      expect(db!.endpoint_id).to.equal(F.webhook[side(row.target)].endpoint);
      // Not to be sent (the worker is off in this test), and not in the next row's way.
      await sql('delete from webhook_delivery where id = ?', [again.id]);
    },
  },
} satisfies Record<string, Op>;
type OpName = keyof typeof OPS;

interface Row {
  op: OpName;
  principal: Principal;
  /**
   * 'A' / 'B' (the side's object), a user or API-token owner key, 'self' (the principal's own account, through
   * its stand-in), 'fresh' (an object made for the row on neither side), or '-' when the operation names no object.
   */
  target: string;
  expected: Outcome;
}

// ---------------------------------------------------------------------------------------------------
// The table: per operation, the targets and each principal's outcome per target (FLOWS.md section 5).

const D = 'data';
const N = 'null';
const NF = 'NOT_FOUND';
const FB = 'FORBIDDEN';
const BAD = 'BAD_USER_INPUT';
const CF = 'CONFLICT';

/** Visible to admins, each reseller on its own side, the customer user on side A (its customer's side). */
const SCOPED_READ: Record<Principal, Outcome[]> = { admin: [D, D], resA: [D, N], resB: [N, D], custA1: [D, N] };
/** Readable by admins and each reseller on its own side; a customer user sees nothing. */
const STAFF_READ: Record<Principal, Outcome[]> = { admin: [D, D], resA: [D, N], resB: [N, D], custA1: [N, N] };
/** Staff-only list: FORBIDDEN for a customer user. */
const STAFF_LIST: Record<Principal, Outcome[]> = { admin: [D, D], resA: [D, N], resB: [N, D], custA1: [FB, FB] };
/** Staff mutation on a side's object: foreign is NOT_FOUND, customer users FORBIDDEN. */
const STAFF_WRITE: Record<Principal, Outcome[]> = { admin: [D, D], resA: [D, NF], resB: [NF, D], custA1: [FB, FB] };
/** Own tokens only (targets: the owners admin, resA, resB, custA1). */
const OWN_ONLY = (miss: Outcome): Record<Principal, Outcome[]> => ({
  admin: [D, miss, miss, miss],
  resA: [miss, D, miss, miss],
  resB: [miss, miss, D, miss],
  custA1: [miss, miss, miss, D],
});
/** An ADMIN user as the target (target 'admin'): resellers cannot see it, customer users may not manage users. */
const ADMIN_USER_WRITE: Record<Principal, Outcome[]> = { admin: [D], resA: [NF], resB: [NF], custA1: [FB] };
/** Admins only, whatever the object. */
const ADMIN_ONLY: Record<Principal, Outcome[]> = { admin: [D], resA: [FB], resB: [FB], custA1: [FB] };
const EVERYONE = (outcome: Outcome): Record<Principal, Outcome[]> => ({
  admin: [outcome],
  resA: [outcome],
  resB: [outcome],
  custA1: [outcome],
});
/**
 * updateUser on another user of the side: staff within their scope. A customer user gets FORBIDDEN for a user
 * it can see (a user of its own customer, side A) and NOT_FOUND for any other (a reseller's user, side B).
 */
const OTHER_USER_UPDATE = (visibleToCustomerUser: boolean): Record<Principal, Outcome[]> => ({
  ...STAFF_WRITE,
  custA1: [visibleToCustomerUser ? FB : NF, NF],
});
/** Users (targets: admin, resA, resB, custA1, custB1 users). */
const USER_READ: Record<Principal, Outcome[]> = {
  admin: [D, D, D, D, D],
  resA: [N, D, N, D, N],
  resB: [N, N, D, N, D],
  custA1: [N, N, N, D, N],
};

const SPEC: [OpName, readonly string[], Record<Principal, Outcome[]>][] = [
  ['license(id)', SIDES, SCOPED_READ],
  ['customer(id)', SIDES, SCOPED_READ],
  ['node(Reseller)', SIDES, STAFF_READ],
  ['node(Customer)', SIDES, SCOPED_READ],
  ['node(License)', SIDES, SCOPED_READ],
  ['node(User)', USERS, USER_READ],
  ['node(AuditEvent)', SIDES, STAFF_READ],
  ['node(ApiToken)', PRINCIPALS, OWN_ONLY(N)],
  ['node(unknown id)', ['-'], { admin: [N], resA: [N], resB: [N], custA1: [N] }],
  ['licenses', SIDES, SCOPED_READ],
  ['customers', SIDES, SCOPED_READ],
  ['resellers', SIDES, STAFF_LIST],
  ['users', USERS, USER_READ],
  ['auditEvents', SIDES, STAFF_LIST],
  ['auditEvents(filter: { targetId: license })', SIDES, STAFF_LIST],
  ['apiTokens', PRINCIPALS, OWN_ONLY(N)],
  ['Reseller.customers via node(id)', SIDES, STAFF_READ],
  ['Reseller.customers via customer.reseller', SIDES, { admin: [D, D], resA: [D, N], resB: [N, D], custA1: [FB, N] }],
  ['createReseller', ['-'], { admin: [D], resA: [FB], resB: [FB], custA1: [FB] }],
  ['createCustomer', SIDES, STAFF_WRITE],
  ['createCustomer without resellerId', ['-'], { admin: [BAD], resA: [D], resB: [D], custA1: [FB] }],
  ['updateCustomer', SIDES, STAFF_WRITE],
  ['createLicense', SIDES, STAFF_WRITE],
  ['createLicenses (one row)', SIDES, STAFF_WRITE],
  ['createLicenses (mixed batch)', ['mixed'], { admin: [D], resA: [D], resB: [D], custA1: [FB] }],
  ['updateLicense', SIDES, STAFF_WRITE],
  ['revokeLicense', SIDES, STAFF_WRITE],
  ['createUser(ADMIN)', ['-'], { admin: [D], resA: [FB], resB: [FB], custA1: [FB] }],
  ['createUser(RESELLER)', SIDES, STAFF_WRITE],
  ['createUser(RESELLER) without resellerId', ['-'], { admin: [BAD], resA: [D], resB: [D], custA1: [FB] }],
  ['createUser(CUSTOMER)', SIDES, STAFF_WRITE],
  ['resetUserTwoFactor(RESELLER user)', SIDES, STAFF_WRITE],
  ['resetUserTwoFactor(CUSTOMER user)', SIDES, STAFF_WRITE],
  ['resetUserTwoFactor(ADMIN user)', ['admin'], ADMIN_USER_WRITE],
  // FLOWS.md section 9: deactivation and reactivation go as resetUserTwoFactor; never oneself.
  ['deactivateUser(RESELLER user)', SIDES, STAFF_WRITE],
  ['deactivateUser(CUSTOMER user)', SIDES, STAFF_WRITE],
  ['deactivateUser(ADMIN user)', ['admin'], ADMIN_USER_WRITE],
  ['deactivateUser(self)', ['self'], { admin: [CF], resA: [CF], resB: [CF], custA1: [FB] }],
  ['reactivateUser(RESELLER user)', SIDES, STAFF_WRITE],
  ['reactivateUser(CUSTOMER user)', SIDES, STAFF_WRITE],
  ['reactivateUser(ADMIN user)', ['admin'], ADMIN_USER_WRITE],
  // Staff for the users they may manage; everyone for their own name and locale, never their own RSP link.
  ['updateUser(name of RESELLER user)', SIDES, OTHER_USER_UPDATE(false)],
  ['updateUser(name of CUSTOMER user)', SIDES, OTHER_USER_UPDATE(true)],
  ['updateUser(RSP link of CUSTOMER user)', SIDES, OTHER_USER_UPDATE(true)],
  ['updateUser(own name and locale)', ['self'], EVERYONE(D)],
  ['updateUser(own RSP link, changed)', ['self'], EVERYONE(FB)],
  ['suspendReseller', ['fresh'], ADMIN_ONLY],
  ['reinstateReseller', ['fresh'], ADMIN_ONLY],
  // FLOWS.md section 10: staff within their scope; a move needs a visible target of the license's reseller.
  ['suspendLicense', SIDES, STAFF_WRITE],
  ['reinstateLicense', SIDES, STAFF_WRITE],
  ['updateLicense(kind upgrade)', SIDES, STAFF_WRITE],
  ['moveLicense(same reseller)', SIDES, STAFF_WRITE],
  // The admin sees both: BAD_USER_INPUT. A reseller sees one of them at most: NOT_FOUND.
  ["moveLicense(other side's customer)", SIDES, { admin: [BAD, BAD], resA: [NF, NF], resB: [NF, NF], custA1: [FB, FB] }],
  // Admins only, on either side.
  ['transferCustomer', SIDES, { admin: [D, D], resA: [FB, FB], resB: [FB, FB], custA1: [FB, FB] }],
  ['createApiToken', ['-'], { admin: [D], resA: [D], resB: [D], custA1: [D] }],
  ['revokeApiToken', PRINCIPALS, OWN_ONLY(NF)],
  // FLOWS.md section 12: staff, within their reseller; customers' users are refused.
  ['createWebhookEndpoint', SIDES, STAFF_WRITE],
  ['webhookEndpoints', SIDES, STAFF_LIST],
  ['webhookDeliveries', SIDES, STAFF_WRITE],
  ['node(WebhookEndpoint)', SIDES, STAFF_READ],
  ['node(WebhookDelivery)', SIDES, STAFF_READ],
  ['redeliverWebhook', SIDES, STAFF_WRITE],
  ['deleteWebhookEndpoint', SIDES, STAFF_WRITE],
];

const TABLE: Row[] = SPEC.flatMap(([op, targets, outcomes]) =>
  PRINCIPALS.flatMap((principal) => {
    const row = outcomes[principal];
    if (row.length !== targets.length)
      throw new Error(`table row ${op}/${principal}: ${row.length} outcomes for ${targets.length} targets`);
    return targets.map((target, i) => ({ op, principal, target, expected: row[i]! }));
  }),
);

function outcomeOf(op: Op, res: GqlResult<Json>, row: Row, prep: Prepared): Outcome {
  if (op.outcome) return op.outcome(res, row, prep);
  if (res.errors?.length) return (codeOf(res) ?? `no code: ${JSON.stringify(res.errors)}`) as Outcome;
  return op.pick(res.data, row, prep) === null || op.pick(res.data, row, prep) === undefined ? 'null' : 'data';
}

async function runRow(row: Row) {
  const op: Op = OPS[row.op];
  const prep = await op.prepare(row);
  const before = op.kind === 'mutation' ? await snapshot() : null;
  if (before) prep.state = { ...(prep.state ?? {}), countBefore: before.counts.license };
  const res = await F.s.gql<Json>(op.query, prep.vars, prep.token ?? F.token[row.principal]);
  const got = outcomeOf(op, res, row, prep);
  expect(got, `${row.op} by ${row.principal} on ${row.target}: ${JSON.stringify({ data: res.data, errors: res.errors })}`).to.equal(
    row.expected,
  );
  if (res.errors?.length) {
    // One error, for the one root field; no partial object leaks with it.
    expect(res.errors).to.have.length(1);
  } else if (op.always) {
    await op.always(res.data, row);
  }
  if (row.expected === 'data' && op.verify) await op.verify(op.pick(res.data, row, prep), row, prep, res.data);
  if (before && row.expected !== 'data') {
    // A denied mutation changes nothing (authorization happens before any write).
    expect(await snapshot(), `database changed by a refused ${row.op}`).to.deep.equal(before);
  }
}

// ---------------------------------------------------------------------------------------------------

describe('permissions: roles and visibility (FLOWS.md section 5)', function () {
  this.timeout(60000);

  before(async () => {
    const s = await startTestServer();
    const resellerA = await makeReseller(s, { name: 'Reseller A' });
    const resellerB = await makeReseller(s, { name: 'Reseller B' });
    const customerA = await makeCustomer(s, resellerA, { name: 'Customer A1' });
    const customerB = await makeCustomer(s, resellerB, { name: 'Customer B1' });
    const licenseA = await makeLicense(s, customerA);
    const licenseB = await makeLicense(s, customerB);
    const user: Record<UserKey, TestUser> = {
      admin: await makeUser(s, { role: Role.ADMIN }),
      resA: await makeUser(s, { role: Role.RESELLER, reseller: resellerA }),
      resB: await makeUser(s, { role: Role.RESELLER, reseller: resellerB }),
      custA1: await makeUser(s, { role: Role.CUSTOMER, customer: customerA }),
      custB1: await makeUser(s, { role: Role.CUSTOMER, customer: customerB }),
    };
    const token = {} as Record<Principal, string>;
    for (const p of PRINCIPALS) token[p] = await signIn(s, user[p]);
    F = {
      s,
      reseller: { A: resellerA, B: resellerB },
      customer: { A: customerA, B: customerB },
      license: { A: licenseA.id, B: licenseB.id },
      user,
      token,
      apiToken: {} as Record<Principal, string>,
      audit: {} as Record<Side, string>,
      licenseAudit: {} as Record<Side, string>,
      webhook: {} as Record<Side, { endpoint: string; delivery: string }>,
    };
    for (const p of PRINCIPALS) {
      const res = await s.gql<Json>('mutation { createApiToken(name: "fixture") { apiToken { id } } }', {}, token[p]);
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      F.apiToken[p] = res.data.createApiToken.apiToken.id;
    }
    // Audit events about each side, done by the admin (so a reseller sees them with a null actor).
    for (const sd of SIDES) {
      const c = F.customer[sd];
      const res = await s.gql<Json>(
        'mutation($id: ID!, $e: String) { updateCustomer(id: $id, input: { contactEmail: $e }) { id } }',
        { id: c.id, e: `it@${sd.toLowerCase()}1.example.test` },
        token.admin,
      );
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      const [event] = await sql<{ id: string }>(`select id from audit_event where action = 'CUSTOMER_UPDATED' and target_id = ?`, [c.id]);
      F.audit[sd] = event!.id;
      // And one about each side's license (its history, for auditEvents(filter: { targetId })).
      const upd = await s.gql<Json>(
        'mutation($id: ID!) { updateLicense(id: $id, input: { seats: 11 }) { id } }',
        { id: F.license[sd] },
        token.admin,
      );
      expect(upd.errors, JSON.stringify(upd.errors)).to.equal(undefined);
      const [licenseEvent] = await sql<{ id: string }>(`select id from audit_event where action = 'LICENSE_UPDATED' and target_id = ?`, [
        F.license[sd],
      ]);
      F.licenseAudit[sd] = licenseEvent!.id;
      F.webhook[sd] = await insertEndpoint(sd);
    }
  });

  after(async () => {
    await F?.s.stop();
  });

  // -------------------------------------------------------------------------------------------------
  describe('1. permission matrix: reads', () => {
    for (const row of TABLE.filter((r) => OPS[r.op].kind !== 'mutation')) {
      it(`${row.op} by ${row.principal} on ${row.target} -> ${row.expected}`, () => runRow(row));
    }
  });

  // -------------------------------------------------------------------------------------------------
  describe('2. nested traversal never reaches a foreign object', () => {
    const LICENSE_PATH = `query($id: ID!) { license(id: $id) { id customer { id name reseller { id customers(first: 100) { ${connection()} } } } reseller { id } } }`;

    it('license -> customer -> reseller -> customers, for reseller A: only A customers, totalCount counts them', async () => {
      const res = await F.s.gql<Json>(LICENSE_PATH, { id: F.license.A }, F.token.resA);
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      const license = res.data.license;
      expect(license.customer.id).to.equal(F.customer.A.id);
      expect(license.customer.reseller.id).to.equal(F.reseller.A.id);
      expect(license.reseller.id).to.equal(F.reseller.A.id);
      const expected = await visibleIds('customer', 'resA');
      expect([...edgeIds(license.customer.reseller.customers)].sort()).to.deep.equal(expected);
      expect(license.customer.reseller.customers.totalCount).to.equal(expected.length);
      await expectNoForeignIds('resA', res);
      // The foreign license's path is closed at its entry.
      const foreign = await F.s.gql<Json>(LICENSE_PATH, { id: F.license.B }, F.token.resA);
      expect(foreign.errors).to.equal(undefined);
      expect(foreign.data).to.deep.equal({ license: null });
    });

    it('license -> customer -> reseller -> customers, for the customer user of A1: FORBIDDEN at Reseller.customers, nothing foreign', async () => {
      const res = await F.s.gql<Json>(LICENSE_PATH, { id: F.license.A }, F.token.custA1);
      expect(codeOf(res)).to.equal('FORBIDDEN');
      expect(res.errors![0]!.path).to.deep.equal(['license', 'customer', 'reseller', 'customers']);
      await expectNoForeignIds('custA1', res);
      // Up to the reseller the path is the customer user's own.
      const upToReseller = await F.s.gql<Json>(
        'query($id: ID!) { license(id: $id) { id customer { id reseller { id name } } } }',
        { id: F.license.A },
        F.token.custA1,
      );
      expect(upToReseller.errors).to.equal(undefined);
      expect(upToReseller.data.license.customer.reseller.id).to.equal(F.reseller.A.id);
      const foreign = await F.s.gql<Json>(LICENSE_PATH, { id: F.license.B }, F.token.custA1);
      expect(foreign.data).to.deep.equal({ license: null });
    });

    for (const p of ['resA', 'custA1'] as const) {
      it(`customer(id) -> licenses, and the reseller's other paths, for ${p}`, async () => {
        const q = `query($id: ID!, $b: ID!) { customer(id: $id) { id reseller { id } licenses(first: 100) { ${connection('id customer { id } reseller { id }')} } foreign: licenses(first: 100, filter: { customerId: $b }) { ${connection()} } } }`;
        const res = await F.s.gql<Json>(q, { id: F.customer.A.id, b: F.customer.B.id }, F.token[p]);
        expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
        const expected = await ids('select id from license where customer_id = ?', [F.customer.A.id]);
        expect([...edgeIds(res.data.customer.licenses)].sort()).to.deep.equal(expected);
        expect(res.data.customer.licenses.totalCount).to.equal(expected.length);
        expect(res.data.customer.foreign).to.deep.equal({ totalCount: 0, edges: [] });
        await expectNoForeignIds(p, res);
        const foreign = await F.s.gql<Json>(q, { id: F.customer.B.id, b: F.customer.B.id }, F.token[p]);
        expect(foreign.data).to.deep.equal({ customer: null });
      });

      it(`node(id) -> ... on Customer / License, for ${p}`, async () => {
        const q = `query($c: ID!, $l: ID!) {
          c: node(id: $c) { id ... on Customer { reseller { id } licenses(first: 100) { ${connection('id customer { id }')} } } }
          l: node(id: $l) { id ... on License { reseller { id } customer { id licenses(first: 100) { ${connection()} } } } }
        }`;
        const own = await F.s.gql<Json>(q, { c: F.customer.A.id, l: F.license.A }, F.token[p]);
        expect(own.errors, JSON.stringify(own.errors)).to.equal(undefined);
        const expected = await ids('select id from license where customer_id = ?', [F.customer.A.id]);
        expect([...edgeIds(own.data.c.licenses)].sort()).to.deep.equal(expected);
        expect(own.data.c.licenses.totalCount).to.equal(expected.length);
        expect([...edgeIds(own.data.l.customer.licenses)].sort()).to.deep.equal(expected);
        expect(own.data.l.reseller.id).to.equal(F.reseller.A.id);
        await expectNoForeignIds(p, own);
        const foreign = await F.s.gql<Json>(q, { c: F.customer.B.id, l: F.license.B }, F.token[p]);
        expect(foreign.errors).to.equal(undefined);
        expect(foreign.data).to.deep.equal({ c: null, l: null });
      });

      it(`users -> reseller / customer, for ${p}`, async () => {
        const res = await F.s.gql<Json>(
          `{ users(first: 100) { ${connection('id role reseller { id name } customer { id name reseller { id } }')} } }`,
          {},
          F.token[p],
        );
        expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
        const expected = await visibleIds('user', p);
        expect([...edgeIds(res.data.users)].sort()).to.deep.equal(expected);
        expect(res.data.users.totalCount).to.equal(expected.length);
        for (const { node } of res.data.users.edges) {
          if (node.reseller) expect(node.reseller.id).to.equal(F.reseller.A.id);
          if (node.customer) expect(node.customer.reseller.id).to.equal(F.reseller.A.id);
        }
        await expectNoForeignIds(p, res);
      });
    }

    it('me -> reseller -> customers, for reseller A', async () => {
      const res = await F.s.gql<Json>(
        `{ me { id reseller { id customers(first: 100) { ${connection('id reseller { id }')} } } } }`,
        {},
        F.token.resA,
      );
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      expect(res.data.me.reseller.id).to.equal(F.reseller.A.id);
      await expectResellerCustomers(F.reseller.A.id, res.data.me.reseller.customers);
      await expectNoForeignIds('resA', res);
    });

    it('me -> customer -> reseller -> customers, for the customer user of A1: FORBIDDEN', async () => {
      const res = await F.s.gql<Json>(
        `{ me { id customer { id reseller { id customers(first: 100) { ${connection()} } } } } }`,
        {},
        F.token.custA1,
      );
      expect(codeOf(res)).to.equal('FORBIDDEN');
      await expectNoForeignIds('custA1', res);
    });

    it('resellers -> customers -> licenses, for reseller A', async () => {
      const res = await F.s.gql<Json>(
        // Pages sized to stay within the query cost limit (2 + 2 x 50 + 2 x 50 x 98 = 9,902, FLOWS.md
        // section 8); expectComplete checks that no page cut anything off.
        `{ resellers(first: 2) { totalCount edges { node { id customers(first: 50) { totalCount edges { node { id licenses(first: 98) { ${connection()} } } } } } } } }`,
        {},
        F.token.resA,
      );
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      expectComplete(res.data);
      expect(res.data.resellers.totalCount).to.equal(1);
      expect(edgeIds(res.data.resellers)).to.deep.equal([F.reseller.A.id]);
      await expectNoForeignIds('resA', res);
    });

    it('auditEvents -> actor: an ADMIN actor is null for a reseller, its own actor is visible', async () => {
      const res = await F.s.gql<Json>(
        `{ auditEvents(first: 100) { ${connection('id action targetType targetId actor { id role reseller { id } customer { id } }')} } }`,
        {},
        F.token.resA,
      );
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      const byId = new Map(res.data.auditEvents.edges.map((e: Json) => [e.node.id, e.node]));
      const adminEvent = byId.get(F.audit.A) as Json;
      expect(adminEvent, 'the admin-made event about A1').to.not.equal(undefined);
      expect(adminEvent.targetId).to.equal(F.customer.A.id);
      expect(adminEvent.actor).to.equal(null);
      expect(byId.has(F.audit.B)).to.equal(false);
      // Its own sign-in (and the API token it created) carry it as the actor.
      const ownActs = res.data.auditEvents.edges.filter((e: Json) => e.node.actor?.id === F.user.resA.user.id);
      expect(ownActs.length).to.be.greaterThan(0);
      await expectNoForeignIds('resA', res);
      // The admin sees the admin as the actor.
      const admin = await F.s.gql<Json>(
        `query($id: ID!) { node(id: $id) { id ... on AuditEvent { actor { id } } } }`,
        { id: F.audit.A },
        F.token.admin,
      );
      expect(admin.data.node.actor).to.deep.equal({ id: F.user.admin.user.id });
    });

    it('reseller B sees none of A either (the mirror image)', async () => {
      const res = await F.s.gql<Json>(
        `{ customers(first: 50) { ${connection('id reseller { id } licenses(first: 50) { totalCount edges { node { id } } }')} }
           licenses(first: 100) { ${connection('id customer { id reseller { id } }')} }
           users(first: 100) { ${connection('id reseller { id } customer { id }')} }
           auditEvents(first: 100) { ${connection('id targetId actor { id }')} } }`,
        {},
        F.token.resB,
      );
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      expectComplete(res.data);
      expect(JSON.stringify(res.data)).to.contain(F.customer.B.id);
      await expectNoForeignIds('resB', res);
    });
  });

  // -------------------------------------------------------------------------------------------------
  describe('3. filters obey visibility', () => {
    const CUSTOMERS = `query($f: CustomerFilter) { customers(first: 100, filter: $f) { ${connection('id name')} } }`;
    const LICENSES = `query($f: LicenseFilter) { licenses(first: 100, filter: $f) { ${connection()} } }`;
    const named: Record<string, string> = {};

    before(async () => {
      const now = Date.now();
      const day = 86_400_000;
      const add = async (key: string, sd: Side, name: string) => (named[key] = (await makeCustomer(F.s, F.reseller[sd], { name })).id);
      await add('percent', 'A', 'Zeta 100% Widgets');
      await add('percentDecoy', 'A', 'Zeta 1000 Widgets');
      await add('underscore', 'A', 'Zeta Snake_Case GmbH');
      await add('underscoreDecoy', 'A', 'Zeta SnakeXCase GmbH');
      await add('backslash', 'A', 'Zeta Back\\Slash');
      await add('percentB', 'B', 'Zeta 100% Widgets of B');
      // hasValidLicense: ACTIVE only counts.
      const active = await add('hvActive', 'A', 'HV active');
      const expired = await add('hvExpired', 'A', 'HV expired');
      const revoked = await add('hvRevoked', 'A', 'HV revoked');
      const pending = await add('hvPending', 'A', 'HV pending');
      await add('hvNone', 'A', 'HV none');
      const activeB = await add('hvActiveB', 'B', 'HV active B');
      const ref = (id: string, sd: Side) => ({ id, reseller: F.reseller[sd] }) as unknown as Customer;
      await makeLicense(F.s, ref(active, 'A'));
      await makeLicense(F.s, ref(active, 'A'), { revokedAt: new Date(now - day) });
      await makeLicense(F.s, ref(expired, 'A'), { validFrom: new Date(now - 10 * day), validUntil: new Date(now - day) });
      await makeLicense(F.s, ref(revoked, 'A'), { revokedAt: new Date(now - day) });
      await makeLicense(F.s, ref(pending, 'A'), { validFrom: new Date(now + day), validUntil: new Date(now + 10 * day) });
      await makeLicense(F.s, ref(activeB, 'B'));
    });

    it('customers(filter: { resellerId }) is for admins only: BAD_USER_INPUT for others, never B rows', async () => {
      for (const p of ['resA', 'custA1'] as const) {
        for (const resellerId of [F.reseller.B.id, F.reseller.A.id]) {
          const res = await F.s.gql<Json>(CUSTOMERS, { f: { resellerId } }, F.token[p]);
          expect(codeOf(res), `${p} filtering by ${resellerId}`).to.equal('BAD_USER_INPUT');
          expect(res.errors![0]!.extensions!.field).to.equal('resellerId');
          expect(res.data).to.equal(null);
          await expectNoForeignIds(p, res);
        }
      }
      const admin = await F.s.gql<Json>(CUSTOMERS, { f: { resellerId: F.reseller.B.id } }, F.token.admin);
      expect(admin.errors).to.equal(undefined);
      const expected = await ids('select id from customer where reseller_id = ?', [F.reseller.B.id]);
      expect([...edgeIds(admin.data.customers)].sort()).to.deep.equal(expected);
      expect(admin.data.customers.totalCount).to.equal(expected.length);
    });

    it('licenses(filter: { customerId: B1 }) is empty with totalCount 0 for A principals; the admin gets B1 licenses', async () => {
      for (const p of ['resA', 'custA1'] as const) {
        const res = await F.s.gql<Json>(LICENSES, { f: { customerId: F.customer.B.id } }, F.token[p]);
        expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
        expect(res.data.licenses).to.deep.equal({ totalCount: 0, edges: [] });
      }
      const own = await F.s.gql<Json>(LICENSES, { f: { customerId: F.customer.A.id } }, F.token.resA);
      const expectedA = await ids('select id from license where customer_id = ?', [F.customer.A.id]);
      expect([...edgeIds(own.data.licenses)].sort()).to.deep.equal(expectedA);
      const admin = await F.s.gql<Json>(LICENSES, { f: { customerId: F.customer.B.id } }, F.token.admin);
      const expectedB = await ids('select id from license where customer_id = ?', [F.customer.B.id]);
      expect([...edgeIds(admin.data.licenses)].sort()).to.deep.equal(expectedB);
      expect(admin.data.licenses.totalCount).to.equal(expectedB.length);
    });

    const searches: [string, Principal, string[]][] = [
      ['zeta 100%', 'resA', ['percent']],
      ['ZETA 100%', 'admin', ['percent', 'percentB']],
      ['100%', 'resB', ['percentB']],
      ['widgets', 'resA', ['percent', 'percentDecoy']],
      ['e_c', 'resA', ['underscore']],
      ['SNAKE_', 'admin', ['underscore']],
      ['k\\s', 'resA', ['backslash']],
      ['%', 'resA', ['percent']],
      ['_', 'resA', ['underscore']],
      ['zeta', 'custA1', []],
    ];
    for (const [search, p, keys] of searches) {
      it(`customers(filter: { search: ${JSON.stringify(search)} }) for ${p}: case-insensitive literal substring`, async () => {
        const res = await F.s.gql<Json>(CUSTOMERS, { f: { search } }, F.token[p]);
        expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
        const expected = keys.map((k) => named[k]!).sort();
        expect([...edgeIds(res.data.customers)].sort(), res.data.customers.edges.map((e: Json) => e.node.name).join(', ')).to.deep.equal(
          expected,
        );
        expect(res.data.customers.totalCount).to.equal(expected.length);
      });
    }

    it('customers(filter: { search: "Customer A1" }) for the customer user finds its own customer only', async () => {
      const res = await F.s.gql<Json>(CUSTOMERS, { f: { search: 'customer ' } }, F.token.custA1);
      expect(edgeIds(res.data.customers)).to.deep.equal([F.customer.A.id]);
    });

    it('customers(filter: { hasValidLicense }) counts ACTIVE licenses only, within visibility', async () => {
      const run = async (p: Principal, hasValidLicense: boolean) => {
        const res = await F.s.gql<Json>(CUSTOMERS, { f: { search: 'HV ', hasValidLicense } }, F.token[p]);
        expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
        expect(res.data.customers.totalCount).to.equal(res.data.customers.edges.length);
        return [...edgeIds(res.data.customers)].sort();
      };
      const sorted = (...keys: string[]) => keys.map((k) => named[k]!).sort();
      expect(await run('resA', true)).to.deep.equal(sorted('hvActive'));
      expect(await run('resA', false)).to.deep.equal(sorted('hvExpired', 'hvRevoked', 'hvPending', 'hvNone'));
      expect(await run('admin', true)).to.deep.equal(sorted('hvActive', 'hvActiveB'));
      expect(await run('resB', true)).to.deep.equal(sorted('hvActiveB'));
      expect(await run('resB', false)).to.deep.equal([]);
      // And the field agrees with the filter.
      const res = await F.s.gql<Json>(
        `{ customers(first: 100, filter: { search: "HV " }) { edges { node { id hasValidLicense } } } }`,
        {},
        F.token.resA,
      );
      const flags = Object.fromEntries(res.data.customers.edges.map((e: Json) => [e.node.id, e.node.hasValidLicense]));
      expect(flags).to.deep.equal(
        Object.fromEntries(['hvActive', 'hvExpired', 'hvRevoked', 'hvPending', 'hvNone'].map((k) => [named[k], k === 'hvActive'])),
      );
      const own = await F.s.gql<Json>(CUSTOMERS, { f: { hasValidLicense: true } }, F.token.custA1);
      expect(edgeIds(own.data.customers)).to.deep.equal([F.customer.A.id]);
    });

    it('users(filter: { active }) lists exactly the visible deactivated, or active, users', async () => {
      // Deactivated users on both sides and among the admins (fresh ones: the fixture's users stay active).
      await deactivateDirectly([
        await freshUser('RESELLER', 'A'),
        await freshUser('CUSTOMER', 'A'),
        await freshUser('RESELLER', 'B'),
        await freshUser('CUSTOMER', 'B'),
        await freshUser('ADMIN', '-'),
      ]);
      const USERS_Q = `query($f: UserFilter) { users(first: 100, filter: $f) { ${connection('id active')} } }`;
      for (const p of PRINCIPALS) {
        const visible = new Set(await visibleIds('user', p));
        for (const active of [false, true]) {
          const expected = (await ids(`select id from app_user where ${active ? '' : 'not '}active`)).filter((id) => visible.has(id));
          expect(expected, `visible users with active: ${active} for ${p}`).to.have.length.above(0);
          const res = await F.s.gql<Json>(USERS_Q, { f: { active } }, F.token[p]);
          expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
          expect([...edgeIds(res.data.users)].sort(), `users(filter: { active: ${active} }) for ${p}`).to.deep.equal(expected);
          expect(res.data.users.totalCount).to.equal(expected.length);
          expect(res.data.users.edges.filter((e: Json) => e.node.active !== active)).to.deep.equal([]);
          if (p !== 'admin') await expectNoForeignIds(p, res);
        }
      }
    });
  });

  // -------------------------------------------------------------------------------------------------
  describe('1. permission matrix: mutations', () => {
    for (const row of TABLE.filter((r) => OPS[r.op].kind === 'mutation')) {
      it(`${row.op} by ${row.principal} on ${row.target} -> ${row.expected}`, () => runRow(row));
    }
  });

  // -------------------------------------------------------------------------------------------------
  describe('4. audit log', () => {
    const AUDIT = `query($after: String) { auditEvents(first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id action targetType targetId at actor { id } } } } }`;

    async function allEvents(p: Principal): Promise<Json[]> {
      const events: Json[] = [];
      let after: string | null = null;
      for (;;) {
        const res: GqlResult<Json> = await F.s.gql<Json>(AUDIT, { after }, F.token[p]);
        expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
        events.push(...res.data.auditEvents.edges.map((e: Json) => e.node));
        if (!res.data.auditEvents.pageInfo.hasNextPage) {
          expect(res.data.auditEvents.totalCount).to.equal(events.length);
          return events;
        }
        after = res.data.auditEvents.pageInfo.endCursor;
      }
    }

    it('a mutation by reseller A appears first for A and the admin, never for B', async () => {
      await new Promise((r) => setTimeout(r, 20));
      const name = `Audited ${rand()}`;
      const upd = await F.s.gql<Json>(
        'mutation($id: ID!, $n: String!) { updateCustomer(id: $id, input: { name: $n }) { id } }',
        { id: F.customer.A.id, n: name },
        F.token.resA,
      );
      expect(upd.errors, JSON.stringify(upd.errors)).to.equal(undefined);
      const [event] = await sql<{ id: string }>(
        `select id from audit_event where action = 'CUSTOMER_UPDATED' and actor_id = ? order by at desc`,
        [F.user.resA.user.id],
      );

      for (const p of ['resA', 'admin'] as const) {
        const events = await allEvents(p);
        expect(events[0], `newest event for ${p}`).to.deep.include({
          id: event!.id,
          action: 'CUSTOMER_UPDATED',
          targetType: 'Customer',
          targetId: F.customer.A.id,
        });
        expect(events[0].actor).to.deep.equal({ id: F.user.resA.user.id });
        const times = events.map((e) => Date.parse(e.at));
        for (let i = 1; i < times.length; i++) expect(times[i - 1]!, `order at ${i}`).to.be.at.least(times[i]!);
        expect(events.map((e) => e.id).sort()).to.deep.equal(await visibleIds('audit', p));
      }
      const b = await allEvents('resB');
      expect(b.map((e) => e.id)).to.not.include(event!.id);
      expect(b.map((e) => e.id).sort()).to.deep.equal(await visibleIds('audit', 'resB'));
      expect(JSON.stringify(b)).to.not.contain(F.customer.A.id);
    });

    it('a customer user gets FORBIDDEN on auditEvents', async () => {
      const res = await F.s.gql<Json>(AUDIT, { after: null }, F.token.custA1);
      expect(codeOf(res)).to.equal('FORBIDDEN');
      expect(res.data).to.equal(null);
    });
  });
});
