// Hostile input of FLOWS.md section 8: no input reaches a 500. Over-long strings, NUL and other control
// characters, DateTimes outside 1970-9999, forged cursors, persisted-query hashes that are unknown or do
// not match, and documents nested too deeply to parse all answer BAD_USER_INPUT (naming the field where
// there is one) and change nothing. In production no message suggests or lists schema names, and a
// database error is logged by its driver code, never by its statement and values.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import {
  getNamedType,
  GraphQLEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
} from 'graphql';
import { Role } from '../../src/common/enums';
import { buildTypeSchema } from '../../src/graphql/schema';
import { createLogger } from '../../src/logger';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { AttemptCounter } from '../../src/modules/auth/attempt-counter.entity';
import { Customer } from '../../src/modules/customers/customer.entity';
import { License } from '../../src/modules/licenses/license.entity';
import { makeCustomer, makeLicense, makeReseller, makeUser, PASSWORD, signIn, type TestUser } from '../factories';
import { codeOf, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

const NUL = '\u0000';
const LICENSES_BY_FILTER = 'query($f: LicenseFilter) { licenses(filter: $f) { totalCount } }';
const CUSTOMERS_BY_FILTER = 'query($f: CustomerFilter) { customers(filter: $f) { totalCount } }';
const CREATE_LICENSE = 'mutation($i: CreateLicenseInput!) { createLicense(input: $i) { id } }';
const LOGIN = 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }';

/** A refusal of one field: HTTP 200 (like every argument error), BAD_USER_INPUT naming `field`, no data. */
function expectRefused(res: GqlResult, field: string) {
  expect(res.status, JSON.stringify(res.errors)).to.equal(200);
  expect(codeOf(res), JSON.stringify(res.errors)).to.equal('BAD_USER_INPUT');
  expect(res.errors![0]!.extensions?.field).to.equal(field);
  expect(
    Object.values(res.data ?? {}).every((value) => value === null),
    JSON.stringify(res.data),
  ).to.equal(true);
}

/** A refusal of the whole request before execution: HTTP 400, BAD_USER_INPUT, nothing internal said. */
function expectDocumentRefused(res: { status: number; errors?: GqlResult['errors'] }) {
  expect(res.status, JSON.stringify(res.errors)).to.equal(400);
  expect(res.errors?.map((e) => e.extensions?.code)).to.deep.equal(['BAD_USER_INPUT']);
  expect(res.errors![0]!.message).to.not.match(/stack|RangeError/i);
}

async function postBody(s: TestServer, body: unknown, token: string): Promise<{ status: number; errors?: GqlResult['errors'] }> {
  const res = await fetch(`${s.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, errors: (JSON.parse(text) as { errors?: GqlResult['errors'] }).errors };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

// ---- every string, ID and DateTime the schema accepts, found from the schema itself ----

type Path = (string | number)[];
interface Leaf {
  path: Path;
  name: string;
  scalar: string;
}

const DUMMY_ID = 'lic_000000000000000000000000';

/** A valid value of the type: input objects with their required fields only. */
function dummy(type: GraphQLInputType): unknown {
  if (isNonNullType(type)) return dummy(type.ofType as GraphQLInputType);
  if (isListType(type)) return [dummy(type.ofType as GraphQLInputType)];
  if (type instanceof GraphQLEnumType) return type.getValues()[0]!.value;
  if (isInputObjectType(type)) {
    const value: Record<string, unknown> = {};
    for (const f of Object.values(type.getFields())) {
      if (isNonNullType(f.type) && f.defaultValue === undefined) value[f.name] = dummy(f.type);
    }
    return value;
  }
  switch (getNamedType(type).name) {
    case 'ID':
      return DUMMY_ID;
    case 'Int':
      return 1;
    case 'Boolean':
      return true;
    case 'DateTime':
      return '2031-01-01T00:00:00.000Z';
    default:
      return 'x';
  }
}

/** Every String, ID and DateTime position inside a value of the type (through input objects and lists). */
function leaves(type: GraphQLInputType, name: string, path: Path = [], depth = 0): Leaf[] {
  if (depth > 5) return [];
  if (isNonNullType(type)) return leaves(type.ofType as GraphQLInputType, name, path, depth);
  if (isListType(type)) return leaves(type.ofType as GraphQLInputType, name, [...path, 0], depth + 1);
  if (isInputObjectType(type)) return Object.values(type.getFields()).flatMap((f) => leaves(f.type, f.name, [...path, f.name], depth + 1));
  if (isScalarType(type) && ['String', 'ID', 'DateTime'].includes(type.name)) return [{ path, name, scalar: type.name }];
  return [];
}

/** `value` with `hostile` at `path`, creating the input objects and lists on the way (with their required fields). */
function withAt(type: GraphQLInputType, value: unknown, path: Path, hostile: unknown): unknown {
  if (isNonNullType(type)) return withAt(type.ofType as GraphQLInputType, value, path, hostile);
  if (path.length === 0) return hostile;
  const [step, ...rest] = path;
  if (isListType(type)) {
    const item = type.ofType as GraphQLInputType;
    const list = Array.isArray(value) && value.length ? [...value] : [dummy(item)];
    list[0] = withAt(item, list[0] ?? dummy(item), rest, hostile);
    return list;
  }
  if (!isInputObjectType(type)) throw new Error(`no input object at ${String(step)}`);
  const fieldType = type.getFields()[step as string]!.type;
  const object = { ...(((value as Record<string, unknown> | undefined) ?? dummy(type)) as Record<string, unknown>) };
  object[step as string] = withAt(fieldType, object[step as string] ?? dummy(fieldType), rest, hostile);
  return object;
}

interface Probe {
  label: string;
  query: string;
  variables: Record<string, unknown>;
  field: string;
}

/** One request per root field and String/ID/DateTime position: that position hostile, the rest valid. */
function probes(
  operation: 'query' | 'mutation',
  field: GraphQLField<unknown, unknown>,
  hostile: (leaf: Leaf) => unknown | undefined,
): Probe[] {
  const selection = isLeafType(getNamedType(field.type)) ? '' : ' { __typename }';
  const list: Probe[] = [];
  for (const target of field.args) {
    for (const leaf of leaves(target.type, target.name)) {
      const bad = hostile(leaf);
      if (bad === undefined) continue;
      const used = field.args.filter((a) => a === target || (isNonNullType(a.type) && a.defaultValue === undefined));
      const variables: Record<string, unknown> = {};
      for (const a of used) variables[a.name] = a === target ? withAt(a.type, dummy(a.type), leaf.path, bad) : dummy(a.type);
      const declarations = used.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
      const args = used.map((a) => `${a.name}: $${a.name}`).join(', ');
      list.push({
        label: `${field.name}(${target.name}${leaf.path.map((p) => `.${p}`).join('')})`,
        query: `${operation}(${declarations}) { ${field.name}(${args})${selection} }`,
        variables,
        field: leaf.name,
      });
    }
  }
  return list;
}

async function allProbes(hostile: (leaf: Leaf) => unknown | undefined): Promise<Probe[]> {
  const schema = await buildTypeSchema();
  return [
    ...Object.values(schema.getQueryType()!.getFields()).flatMap((f) => probes('query', f, hostile)),
    ...Object.values(schema.getMutationType()!.getFields()).flatMap((f) => probes('mutation', f, hostile)),
  ];
}

describe('hostile input (FLOWS.md section 8)', function () {
  this.timeout(120000);
  let s: TestServer;
  let admin: TestUser;
  let token: string;
  let customer: Customer;

  const licenseCount = () => s.app.services.orm.em.fork().count(License, {});

  before(async () => {
    s = await startTestServer();
    admin = await makeUser(s, { role: Role.ADMIN });
    token = await signIn(s, admin);
    const reseller = await makeReseller(s);
    customer = await makeCustomer(s, reseller, { name: 'Hostile Input GmbH' });
    await makeLicense(s, customer);
  });
  after(() => s?.stop());

  describe('strings', () => {
    it('a NUL in every String and ID argument and input field of the schema is BAD_USER_INPUT naming it, signed in or not', async () => {
      const list = await allProbes((leaf) => (leaf.scalar === 'DateTime' ? undefined : `a${NUL}b`));
      expect(list.length).to.be.greaterThan(30);
      const before = await licenseCount();
      for (const probe of list) {
        for (const who of [token, null]) {
          const res = await s.gql(probe.query, probe.variables, who);
          expect(res.status, `${probe.label}: ${JSON.stringify(res.errors)}`).to.equal(200);
          expect(codeOf(res), `${probe.label}: ${JSON.stringify(res.errors)}`).to.equal('BAD_USER_INPUT');
          expect(res.errors![0]!.extensions?.field, probe.label).to.equal(probe.field);
        }
      }
      expect(await licenseCount()).to.equal(before);
    });

    it('a NUL in customers(filter: {search}) is BAD_USER_INPUT naming search', async () => {
      expectRefused(await s.gql(CUSTOMERS_BY_FILTER, { f: { search: `Hostile${NUL}` } }, token), 'search');
    });

    it('a NUL in a search nested in a response (Reseller.customers) is BAD_USER_INPUT too', async () => {
      const res = await s.gql(`{ resellers { edges { node { customers(filter: { search: "a\\u0000" }) { totalCount } } } } }`, {}, token);
      expect(codeOf(res), JSON.stringify(res.errors)).to.equal('BAD_USER_INPUT');
      expect(res.errors![0]!.extensions?.field).to.equal('search');
    });

    it('a search of 200 characters is answered, one of 201 or a 50 KB one is BAD_USER_INPUT naming search', async () => {
      const fits = await s.gql(CUSTOMERS_BY_FILTER, { f: { search: 'h'.repeat(200) } }, token);
      expect(fits.errors).to.equal(undefined);
      expectRefused(await s.gql(CUSTOMERS_BY_FILTER, { f: { search: 'h'.repeat(201) } }, token), 'search');
      // 50 KB of LIKE wildcards: on SQLite "LIKE or GLOB pattern too complex" before this check.
      expectRefused(await s.gql(CUSTOMERS_BY_FILTER, { f: { search: '%_'.repeat(25_000) } }, token), 'search');
    });

    it('any string argument over 10,000 characters is BAD_USER_INPUT naming it (a 10,000-character one is answered)', async () => {
      const fits = await s.gql('query($id: ID!) { license(id: $id) { id } }', { id: 'x'.repeat(10_000) }, token);
      expect(fits.errors).to.equal(undefined);
      expect(fits.data).to.deep.equal({ license: null });
      expectRefused(await s.gql('query($id: ID!) { license(id: $id) { id } }', { id: 'x'.repeat(10_001) }, token), 'id');
      expectRefused(
        await s.gql('mutation($e: String!) { requestPasswordReset(email: $e) }', { e: `${'x'.repeat(10_000)}@example.com` }),
        'email',
      );
    });

    it('a NUL in createLicense idempotencyKey is BAD_USER_INPUT naming it and creates nothing', async () => {
      const before = await licenseCount();
      const input = { customerId: customer.id, kind: 'MDM', seats: 1, validUntil: '2031-01-01T00:00:00Z', idempotencyKey: `key${NUL}` };
      expectRefused(await s.gql(CREATE_LICENSE, { i: input }, token), 'idempotencyKey');
      expect(await licenseCount()).to.equal(before);
    });

    it('one hostile row in createLicenses refuses the call: no row is created, not even the valid ones', async () => {
      const before = await licenseCount();
      const row = { customerId: customer.id, kind: 'MDM', seats: 1, validUntil: '2031-01-01T00:00:00Z' };
      const res = await s.gql(
        'mutation($r: [CreateLicenseInput!]!) { createLicenses(inputs: $r) { license { id } } }',
        { r: [row, { ...row, idempotencyKey: `k${NUL}` }] },
        token,
      );
      expectRefused(res, 'idempotencyKey');
      expect(await licenseCount()).to.equal(before);
    });

    it('other control characters are refused as well: ESC in an e-mail, a newline in a search', async () => {
      expectRefused(await s.gql('mutation($e: String!) { requestPasswordReset(email: $e) }', { e: 'a\u001b@example.com' }), 'email');
      expectRefused(await s.gql(CUSTOMERS_BY_FILTER, { f: { search: 'Hostile\nInput' } }, token), 'search');
      expect(s.outbox()).to.deep.equal([]);
    });

    it('a tab in free text (a password) is allowed: such a login fails as a wrong password, not as bad input', async () => {
      const res = await s.gql(LOGIN, { e: 'nobody@example.com', p: 'correct\thorse battery' });
      expect(codeOf(res)).to.equal('UNAUTHENTICATED');
    });

    it('login with a NUL in the e-mail is BAD_USER_INPUT naming email and counts no failed attempt', async () => {
      const em = s.app.services.orm.em.fork();
      const [counters, failures] = [await em.count(AttemptCounter, {}), await em.count(AuditEvent, { action: 'LOGIN_FAILED' })];
      expectRefused(await s.gql(LOGIN, { e: `${admin.email}${NUL}`, p: PASSWORD }), 'email');
      expectRefused(await s.gql(LOGIN, { e: admin.email, p: `${PASSWORD}${NUL}` }), 'password');
      const after = s.app.services.orm.em.fork();
      expect(await after.count(AttemptCounter, {})).to.equal(counters);
      expect(await after.count(AuditEvent, { action: 'LOGIN_FAILED' })).to.equal(failures);
    });

    it('a well-formed unknown e-mail still fails like a wrong password (control)', async () => {
      expect(codeOf(await s.gql(LOGIN, { e: 'unknown@example.com', p: 'wrong password 123' }))).to.equal('UNAUTHENTICATED');
    });
  });

  describe('DateTimes', () => {
    it('every DateTime argument and input field of the schema in the year 0 is BAD_USER_INPUT naming it', async () => {
      const list = await allProbes((leaf) => (leaf.scalar === 'DateTime' ? '0000-01-01T00:00:00Z' : undefined));
      expect(list.length).to.be.greaterThan(3);
      const before = await licenseCount();
      for (const probe of list) {
        const res = await s.gql(probe.query, probe.variables, token);
        expect(codeOf(res), `${probe.label}: ${JSON.stringify(res.errors)}`).to.equal('BAD_USER_INPUT');
        expect(res.errors![0]!.extensions?.field, probe.label).to.equal(probe.field);
      }
      expect(await licenseCount()).to.equal(before);
    });

    it('createLicense with validFrom 0000-01-01 is BAD_USER_INPUT naming validFrom and creates nothing', async () => {
      const before = await licenseCount();
      const input = {
        customerId: customer.id,
        kind: 'MDM',
        seats: 1,
        validFrom: '0000-01-01T00:00:00Z',
        validUntil: '2031-01-01T00:00:00Z',
      };
      expectRefused(await s.gql(CREATE_LICENSE, { i: input }, token), 'validFrom');
      expect(await licenseCount()).to.equal(before);
    });

    it('a DateTime written in the document before 1970 is refused; 1970-01-01 and 9999-12-31 are answered', async () => {
      expectRefused(
        await s.gql('{ licenses(filter: { expiresBefore: "1969-12-31T23:59:59Z" }) { totalCount } }', {}, token),
        'expiresBefore',
      );
      for (const at of ['1970-01-01T00:00:00Z', '9999-12-31T23:59:59Z']) {
        const res = await s.gql(LICENSES_BY_FILTER, { f: { expiresBefore: at } }, token);
        expect(res.errors, at).to.equal(undefined);
      }
    });
  });

  describe('cursors', () => {
    const PAGE = 'query($a: String) { licenses(first: 1, after: $a) { edges { cursor } } }';

    it('a cursor of the right shape with an absurd timestamp is BAD_USER_INPUT naming after', async () => {
      const forged = Buffer.from(`999999999999999:lic_${'0'.repeat(24)}`).toString('base64url');
      expectRefused(await s.gql(PAGE, { a: forged }, token), 'after');
    });

    it('a cursor the server issued still pages (control)', async () => {
      await makeLicense(s, customer);
      const first = await s.gql<{ licenses: { edges: { cursor: string }[] } }>(PAGE, {}, token);
      const next = await s.gql(PAGE, { a: first.data!.licenses.edges[0]!.cursor }, token);
      expect(next.errors).to.equal(undefined);
    });
  });

  describe('persisted queries', () => {
    const query = '{ me { id } }';

    it('an unknown persisted-query hash is BAD_USER_INPUT', async () => {
      const res = await postBody(s, { extensions: { persistedQuery: { version: 1, sha256Hash: sha256('never sent') } } }, token);
      expect(res.errors?.map((e) => e.extensions?.code)).to.deep.equal(['BAD_USER_INPUT']);
    });

    it('a persisted-query hash that does not match the query is BAD_USER_INPUT (HTTP 400)', async () => {
      expectDocumentRefused(
        await postBody(s, { query, extensions: { persistedQuery: { version: 1, sha256Hash: sha256('something else') } } }, token),
      );
    });

    it('an unknown persisted-query version is BAD_USER_INPUT (HTTP 400)', async () => {
      expectDocumentRefused(await postBody(s, { query, extensions: { persistedQuery: { version: 2, sha256Hash: sha256(query) } } }, token));
    });

    it('a matching hash is answered (control)', async () => {
      const res = await postBody(s, { query, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } }, token);
      expect(res.status).to.equal(200);
      expect(res.errors).to.equal(undefined);
    });
  });

  describe('documents nested too deeply to parse', () => {
    it('a selection 100,000 levels deep (under the 1 MB body limit) is BAD_USER_INPUT without a word about the stack', async () => {
      const query = '{' + 'me{'.repeat(100_000) + 'id' + '}'.repeat(100_001);
      expect(query.length).to.be.lessThan(1_000_000);
      expectDocumentRefused(await postBody(s, { query }, token));
    });

    it('a chain of 10,000 fragment spreads is BAD_USER_INPUT, not an internal error', async () => {
      let query = '{ me { ...F0 } }';
      for (let i = 0; i < 10_000; i++) query += ` fragment F${i} on User { ...F${i + 1} }`;
      query += ' fragment F10000 on User { id }';
      expectDocumentRefused(await postBody(s, { query }, token));
    });

    it('lists and inline fragments nested thousands deep are BAD_USER_INPUT', async () => {
      const list = `query($x: [LicenseStatus!] = ${'['.repeat(100_000)}${']'.repeat(100_000)}) { licenses(filter: { status: $x }) { totalCount } }`;
      expectDocumentRefused(await postBody(s, { query: list }, token));
      const inline = `{ me { ${'... on User { '.repeat(1_500)}id${' }'.repeat(1_500)} } }`;
      expectDocumentRefused(await postBody(s, { query: inline }, token));
    });

    it('a large legitimate document is answered: 100 createLicenses rows written inline (control)', async () => {
      const row = `{ customerId: "${customer.id}", kind: MOBILE_SECURITY, seats: 3, validFrom: "2030-01-01T00:00:00Z", validUntil: "2031-01-01T00:00:00Z" }`;
      const res = await s.gql<{ createLicenses: { license: { id: string } | null }[] }>(
        `mutation { createLicenses(inputs: [${Array(100).fill(row).join(', ')}]) { license { id } error { code } } }`,
        {},
        token,
      );
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      expect(res.data!.createLicenses.filter((r) => r.license)).to.have.length(100);
    });
  });
});

describe('hostile input in production: no schema names in messages, no client data in logs', function () {
  this.timeout(60000);
  let s: TestServer;
  let token: string;
  const stream = new PassThrough();
  let logged = '';
  stream.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  const logLines = () =>
    logged
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  before(async () => {
    s = await startTestServer({ NODE_ENV: 'production' }, { log: createLogger('error', stream) });
    token = await signIn(s, await makeUser(s, { role: Role.ADMIN }));
  });
  after(() => s?.stop());

  const cases: [string, string, Record<string, unknown>, string[]][] = [
    [
      'a misspelt input field and enum value in variables',
      LICENSES_BY_FILTER,
      { f: { stat: ['ACTIV'], kind: 'MDN' } },
      ['status', 'MDM', 'LicenseFilter', 'LicenseKind', 'ACTIVE'],
    ],
    [
      'a misspelt enum value in a variable',
      'query($k: LicenseKind) { licenses(filter: { kind: $k }) { totalCount } }',
      { k: 'MDN' },
      ['MDM', 'MOBILE_SECURITY'],
    ],
    [
      'a misspelt input field in a variable, missing a required one',
      CREATE_LICENSE,
      { i: { customerID: 'cus_1', kind: 'MDM', seats: 1 } },
      ['customerId', 'validUntil', 'CreateLicenseInput'],
    ],
    [
      'a misspelt input field written in the document',
      'mutation { createLicense(input: { customerID: "x", kind: MDM, seats: 1 }) { id } }',
      {},
      ['customerId', 'validUntil', 'CreateLicenseInput.'],
    ],
    ['a missing required argument', '{ license { id } }', {}, ['"id"']],
  ];
  for (const [what, query, variables, secrets] of cases) {
    it(`${what}: BAD_USER_INPUT naming no schema element the client did not write`, async () => {
      const res = await s.gql(query, variables, token);
      expect(res.status).to.equal(400);
      expect(codeOf(res)).to.equal('BAD_USER_INPUT');
      for (const e of res.errors!) {
        expect(e.message).to.not.match(/did you mean/i);
        for (const secret of secrets) expect(e.message, `"${e.message}" names ${secret}`).to.not.contain(secret);
      }
    });
  }

  it('a database error is logged by its driver code, without the statement or the values', async () => {
    const value = `needle-${'v'.repeat(2_000)}`;
    const em = s.app.services.orm.em.fork();
    const dbError = await em
      .getConnection()
      .execute('select * from no_such_table where name = ?', [value])
      .then(
        () => null,
        (error: unknown) => error as Error,
      );
    expect(dbError, 'the statement should fail').to.be.instanceOf(Error);
    expect(dbError!.message).to.contain('needle');

    const customers = s.app.services.customers as unknown as Record<string, unknown>;
    customers.list = async () => {
      throw dbError;
    };
    try {
      const res = await s.gql('{ customers { totalCount } }', {}, token);
      expect(codeOf(res)).to.equal('INTERNAL_SERVER_ERROR');
    } finally {
      delete customers.list;
    }
    const line = logLines().find((l) => l.msg === 'internal error');
    expect(line, logged).to.not.equal(undefined);
    expect(line!.code).to.match(/^(SQLITE_ERROR|42P01)$/);
    expect(logged).to.not.contain('needle');
    expect(logged).to.not.contain('no_such_table');
  });

  it('any other error is logged with a short prefix of its message only', async () => {
    logged = '';
    const users = s.app.services.users as unknown as Record<string, unknown>;
    users.me = async () => {
      throw new Error(`client text ${'w'.repeat(900_000)}`);
    };
    try {
      expect(codeOf(await s.gql('{ me { id } }', {}, token))).to.equal('INTERNAL_SERVER_ERROR');
    } finally {
      delete users.me;
    }
    const line = logLines().find((l) => l.msg === 'internal error');
    expect(String(line!.message)).to.match(/^client text w+…$/);
    expect(logged.length).to.be.lessThan(1_000);
  });
});
