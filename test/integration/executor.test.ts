// graphql-jit (GRAPHQL_EXECUTOR=jit, the default) must answer exactly as graphql-js: two servers in
// production mode on ONE database, one per executor, get the same requests and must give the same
// HTTP status, data and errors, byte for byte after JSON parsing. Covered: every root field for every
// kind of caller the gate and the permission map tell apart, refused mutations changing nothing, the
// measured license page and richer reads (fragments, directives, interfaces, nested rules), request
// refusals (limits, cost, introspection, variables) and internal errors, which never leak.
import { expect } from 'chai';
import { buildTypeSchema } from '../../src/graphql/schema';
import { startApp, type App } from '../../src/app';
import { loadConfig } from '../../src/config';
import { Role } from '../../src/common/enums';
import { directFieldResolvers } from '../../src/graphql/direct-resolvers';
import { JitExecutor } from '../../src/graphql/executor';
import { Lru } from '../../src/graphql/lru';
import { permissionMap } from '../../src/graphql/permissions';
import { parse } from 'graphql';
import { makeCustomer, makeLicense, makeReseller, makeUser, passwordOnly, signIn } from '../factories';
import { rootFields, snapshot, type RootField } from '../helpers/root-fields';
import { codeOf, gqlAt, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

const GATE_CODES = new Set(['UNAUTHENTICATED', 'TWO_FACTOR_REQUIRED', 'FORBIDDEN']);
const PUBLIC = new Set(['login', 'requestPasswordReset', 'resetPassword', 'beginTwoFactorSetup', 'activateTwoFactor']);
/** Mutations a limited session may call (its stage's own) besides the public ones: not swept, they act. */
const STAGE_MUTATIONS = new Set(['verifyTotp', 'verifyRecoveryCode', 'logout', 'requestTwoFactorActivation']);
const STAFF_RULE = permissionMap.Query.resellers;
const ADMIN_RULE = permissionMap.Mutation.createReseller;

const MEASURED_QUERY =
  '{ licenses(first: 50) { totalCount edges { node { id key kind seats status validUntil customer { id name } reseller { id name } } } pageInfo { endCursor hasNextPage } } }';

type Body = Pick<GqlResult<unknown>, 'status' | 'data' | 'errors'>;
const bodyOf = (r: GqlResult<unknown>): Body => ({ status: r.status, data: r.data, errors: r.errors });

describe('graphql-jit answers exactly as graphql-js (GRAPHQL_EXECUTOR)', function () {
  this.timeout(180000);

  let s: TestServer;
  let graphqlJs: App;
  let fields: RootField[];
  const tokens: Record<string, string | null> = {};
  let ownLicense: string;
  let foreignLicense: string;
  let ownCustomer: string;

  before(async () => {
    s = await startTestServer({ NODE_ENV: 'production', GRAPHQL_EXECUTOR: 'jit' });
    graphqlJs = await startApp(loadConfig({ ...s.env, GRAPHQL_EXECUTOR: 'graphql-js' }));
    expect(s.app.executor.name).to.equal('jit');
    expect(graphqlJs.executor.name).to.equal('graphql-js');

    const r1 = await makeReseller(s);
    const r2 = await makeReseller(s);
    const c1 = await makeCustomer(s, r1);
    const c2 = await makeCustomer(s, r2);
    for (let i = 0; i < 3; i++) await makeLicense(s, c1);
    ownLicense = (await makeLicense(s, c1)).id;
    foreignLicense = (await makeLicense(s, c2)).id;
    ownCustomer = c1.id;

    const admin = await makeUser(s, { role: Role.ADMIN });
    const reseller = await makeUser(s, { role: Role.RESELLER, reseller: r1 });
    const customer = await makeUser(s, { role: Role.CUSTOMER, customer: c1 });
    const totp = await makeUser(s, { role: Role.ADMIN, twoFactor: true });
    const setup = await makeUser(s, { role: Role.ADMIN, twoFactor: false });
    tokens.none = null;
    tokens.invalid = 'not-a-session-token';
    tokens.totpRequired = (await passwordOnly(s, totp)).token;
    tokens.setupRequired = (await passwordOnly(s, setup)).token;
    tokens.customer = await signIn(s, customer);
    tokens.reseller = await signIn(s, reseller);
    tokens.admin = await signIn(s, admin);

    // The gate sweep's documents, pointing at real objects of reseller 1.
    fields = rootFields(await buildTypeSchema(), {
      reseller: r1.id,
      customer: c1.id,
      license: ownLicense,
      user: customer.user.id,
      apiToken: 'tok_000000000000000000000000',
      webhookEndpoint: 'whe_000000000000000000000000',
      webhookDelivery: 'whd_000000000000000000000000',
    });
  });
  after(async () => {
    await graphqlJs?.stop();
    await s?.stop();
  });

  /** The same request to both servers; their answers must be equal. Returns graphql-jit's. */
  async function both(query: string, variables: Record<string, unknown> = {}, token: string | null = null, operationName?: string) {
    const viaJs = await gqlAt<Record<string, unknown>>(graphqlJs.url, query, variables, token, {}, operationName);
    const viaJit = await gqlAt<Record<string, unknown>>(s.url, query, variables, token, {}, operationName);
    expect(bodyOf(viaJit), `${query.slice(0, 120)}\ngraphql-js: ${JSON.stringify(bodyOf(viaJs))}`).to.deep.equal(bodyOf(viaJs));
    return viaJit;
  }

  /** Whether the permission map refuses this caller the mutation before its resolver runs. */
  function refusedMutation(caller: string, name: string): boolean {
    if (PUBLIC.has(name) || STAGE_MUTATIONS.has(name)) return false;
    const rule = (permissionMap.Mutation as Record<string, unknown>)[name];
    if (caller === 'customer') return rule === STAFF_RULE || rule === ADMIN_RULE;
    if (caller === 'reseller') return rule === ADMIN_RULE;
    return caller === 'none' || caller === 'invalid' || caller === 'totpRequired' || caller === 'setupRequired';
  }

  it('every root field answers every kind of caller alike, and a refused mutation changes nothing under either executor', async () => {
    const compiledBefore = s.app.executor.stats!.compiled;
    let queries = 0;
    let mutations = 0;
    for (const [caller, token] of Object.entries(tokens)) {
      for (const field of fields) {
        if (field.operation === 'query') {
          await both(field.document, {}, token);
          queries++;
          continue;
        }
        if (!refusedMutation(caller, field.name)) continue;
        const before = await snapshot(s);
        const res = await both(field.document, {}, token);
        expect(GATE_CODES.has(codeOf(res) ?? ''), `${caller} ${field.label}: ${JSON.stringify(res.errors)}`).to.equal(true);
        expect(res.data?.[field.name] ?? null).to.equal(null);
        expect(await snapshot(s), `${caller} ${field.label} changed rows`).to.deep.equal(before);
        mutations++;
      }
    }
    expect(queries).to.be.greaterThan(60);
    expect(mutations).to.be.greaterThan(100);
    // The documents really ran on graphql-jit: compiled once each, none left to graphql-js.
    expect(s.app.executor.stats!.compiled - compiledBefore).to.be.at.least(30);
    expect(s.app.executor.stats!.fallbacks).to.equal(0);
  });

  it('the license page, nested connections, fragments, directives and interfaces: the same data for each role', async () => {
    const reads: [string, Record<string, unknown>, string?][] = [
      [MEASURED_QUERY, {}],
      [
        'query Page($first: Int!, $after: String) { licenses(first: $first, after: $after) { totalCount edges { cursor node { id status customer { name } } } pageInfo { endCursor hasNextPage } } }',
        { first: 2, after: null },
      ],
      [
        '{ customers(first: 10) { totalCount edges { node { id name hasValidLicense licenses(first: 2) { totalCount edges { node { id seats } } } reseller { name } } } } }',
        {},
      ],
      [
        'query($id: ID!) { node(id: $id) { __typename id ... on License { key seats customer { id } ...R } } } fragment R on License { reseller { id name } }',
        { id: ownLicense },
      ],
      ['query($id: ID!) { license(id: $id) { id key } }', { id: foreignLicense }],
      ['query($id: ID!) { customer(id: $id) { name licenses(last: 2) { edges { node { id } } } } }', { id: ownCustomer }],
      [
        'query Me($full: Boolean!) { me { id ...U @include(if: $full) role @skip(if: $full) } } fragment U on User { email name locale }',
        { full: true },
      ],
      [
        'query Me($full: Boolean!) { me { id ...U @include(if: $full) role @skip(if: $full) } } fragment U on User { email name locale }',
        { full: false },
      ],
      ['query A { me { id } } query B { licenses(first: 1) { totalCount } }', {}, 'B'],
      ['{ __typename a: me { __typename } b: licenses(first: 1) { edges { node { __typename } } } }', {}],
      // A nested field with a rule of its own: FORBIDDEN for a customer user, with the rest of the data.
      ['{ licenses(first: 2) { edges { node { id reseller { id customers(first: 1) { totalCount } } } } } }', {}],
      ['query($f: LicenseFilter) { licenses(first: 5, filter: $f) { totalCount edges { node { id kind } } } }', { f: { kind: 'MDM' } }],
    ];
    for (const caller of ['customer', 'reseller', 'admin']) {
      for (const [query, variables, operationName] of reads) await both(query, variables, tokens[caller]!, operationName);
    }
    const page = await both(MEASURED_QUERY, {}, tokens.reseller!);
    expect((page.data as { licenses: { totalCount: number } }).licenses.totalCount).to.equal(4);
    const nested = await both(reads[10]![0], {}, tokens.customer!);
    expect(codeOf(nested)).to.equal('FORBIDDEN');
    expect(s.app.executor.stats!.fallbacks).to.equal(0);
  });

  it('refusals before execution (limits, cost, introspection, variables) are the same and name no schema detail', async () => {
    const refusals: [string, Record<string, unknown>][] = [
      [`{ ${Array.from({ length: 16 }, (_, i) => `a${i}: me { id }`).join(' ')} }`, {}],
      ['{ customers(first: 100) { edges { node { licenses(first: 100) { edges { node { id } } } } } } }', {}],
      ['{ __schema { types { name } } }', {}],
      ['{ __type(name: "License") { fields { name } } }', {}],
      ['query($first: Int!) { licenses(first: $first) { totalCount } }', { first: 'ten' }],
      ['query($first: Int!) { licenses(first: $first) { totalCount } }', {}],
      ['query($f: LicenseFilter) { licenses(filter: $f) { totalCount } }', { f: { kind: 'MDN' } }],
      ['query($f: LicenseFilter) { licenses(filter: $f) { totalCount } }', { f: { stat: ['ACTIVE'] } }],
      ['{ licenses(first: 500) { totalCount } }', {}],
      ['{ licenses(first: 5, after: "garbage") { totalCount } }', {}],
      ['{ licenses { edges { node { nope } } } }', {}],
      ['query($s: String) { customers(filter: { search: $s }) { totalCount } }', { s: 'x\u0000y' }],
    ];
    // Twice: the second time the cost of a document without variables comes from the plugin's cache.
    for (const [query, variables] of [...refusals, ...refusals]) {
      const res = await both(query, variables, tokens.admin!);
      expect(res.errors, query).to.not.equal(undefined);
      expect(codeOf(res), query).to.equal('BAD_USER_INPUT');
      expect(JSON.stringify(res.errors)).to.not.match(/did you mean|LicenseKind|LicenseFilter|stacktrace/i);
    }
  });

  it('an internal error is masked the same way under both executors and leaks nothing', async () => {
    const patch = (app: App) => {
      const customers = app.services.customers as unknown as Record<string, unknown>;
      customers.list = async () => {
        throw new Error('select * from secret_table where needle = 1');
      };
      return () => delete customers.list;
    };
    const restore = [patch(s.app), patch(graphqlJs)];
    try {
      const res = await both('{ me { id } customers(first: 1) { totalCount } }', {}, tokens.admin!);
      expect(codeOf(res)).to.equal('INTERNAL_SERVER_ERROR');
      expect(res.errors![0]!.message).to.equal('Internal server error.');
      expect(JSON.stringify(res.errors)).to.not.match(/needle|secret_table|select|stack/i);
    } finally {
      for (const undo of restore) undo();
    }
  });
});

describe('field resolvers called directly (direct-resolvers.ts)', () => {
  it("bypasses type-graphql's handler only for resolvers of root, context and info, such as the license page's", async () => {
    const replaced = directFieldResolvers(await buildTypeSchema());
    expect(replaced).to.include.members(['License.status', 'License.customer', 'License.reseller']);
    // Resolvers with arguments keep type-graphql's handler (conversion of args to their classes).
    expect(replaced).to.not.include.members(['Customer.licenses']);
    expect(replaced).to.not.include('Reseller.customers');
  });
});

describe('graphql-jit executor: compiled documents', () => {
  it('keeps at most its bound of compiled documents, dropping the least recently used', () => {
    const lru = new Lru<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).to.equal(1);
    lru.set('c', 3);
    expect(lru.get('b')).to.equal(undefined);
    expect(lru.get('a')).to.equal(1);
    expect(lru.get('c')).to.equal(3);
    expect(lru.size).to.equal(2);
  });

  it('compiles a document once per text and operation name, and within its bound', async () => {
    const jit = new JitExecutor(await buildTypeSchema(), 2);
    const document = parse('query A { me { id } } query B { me { name } }');
    const run = (key: string, operationName: string) =>
      jit.execute({
        key,
        document,
        operation: document.definitions.find((d) => d.kind === 'OperationDefinition' && d.name?.value === operationName) as never,
        operationName,
        variables: {},
        context: {} as never,
      });
    await run('k1', 'A');
    await run('k1', 'A');
    expect(jit.stats.compiled).to.equal(1);
    await run('k1', 'B');
    expect(jit.stats.compiled).to.equal(2);
    await run('k2', 'A');
    expect(jit.stats).to.deep.include({ compiled: 3, fallbacks: 0, cached: 2 });
  });
});
