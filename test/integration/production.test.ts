// Production behaviour (FLOWS.md sections 1 and 2: no introspection, no suggestions, no stack traces,
// generic internal errors, only the documented error codes) and the request limits of section 4
// (aliases, depth, one sensitive mutation per request, no batching, body size, CSRF prevention).
import { expect } from 'chai';
import { Role } from '../../src/common/enums';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { Reseller } from '../../src/modules/resellers/reseller.entity';
import { makeCustomer, makeLicense, makeReseller, makeUser, freshCode, passwordOnly, signIn, type TestUser } from '../factories';
import { linkToken, parseMail } from '../helpers/mail';
import { codeOf, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

const SECTION_2_CODES = [
  'UNAUTHENTICATED',
  'TWO_FACTOR_REQUIRED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'RATE_LIMITED',
  'CONFLICT',
  'INTERNAL_SERVER_ERROR',
];

type GqlError = NonNullable<GqlResult['errors']>[number];

/** Wraps a server so that every error it answers is kept for the checks spanning a whole describe. */
function recording(s: TestServer, errors: GqlError[]) {
  return {
    async gql<T = Record<string, unknown>>(
      query: string,
      variables?: Record<string, unknown>,
      token?: string | null,
      headers?: Record<string, string>,
    ) {
      const res = await s.gql<T>(query, variables, token, headers);
      errors.push(...(res.errors ?? []));
      return res;
    },
    /** A raw HTTP request to the server; the JSON body's errors are recorded too. */
    async raw(path: string, init: RequestInit) {
      const res = await fetch(`${s.url}${path}`, init);
      const text = await res.text();
      let body: { data?: unknown; errors?: GqlError[] } | null;
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
      errors.push(...(body?.errors ?? []));
      return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, body };
    },
  };
}

function expectOnlySection2Codes(errors: GqlError[]) {
  const odd = errors.filter((e) => !SECTION_2_CODES.includes(String(e.extensions?.code)));
  expect(odd, `errors with codes outside FLOWS.md section 2: ${JSON.stringify(odd)}`).to.deep.equal([]);
}

/**
 * The only way to make the real server fail without editing it: a service method that throws `message`
 * for the duration of `request`, then is restored.
 */
async function whileBroken<T>(service: object, method: string, message: string, request: () => Promise<T>): Promise<T> {
  const target = service as Record<string, unknown>;
  target[method] = async () => {
    throw new Error(message);
  };
  try {
    return await request();
  } finally {
    delete target[method];
  }
}

async function auditCount(s: TestServer, action: string): Promise<number> {
  return s.app.services.orm.em.fork().count(AuditEvent, { action });
}

describe('production mode', function () {
  this.timeout(60000);
  let s: TestServer;
  let api: ReturnType<typeof recording>;
  let admin: TestUser;
  let adminToken: string;
  const errors: GqlError[] = [];

  before(async () => {
    s = await startTestServer({ NODE_ENV: 'production' });
    api = recording(s, errors);
    admin = await makeUser(s, { role: Role.ADMIN });
    adminToken = await signIn(s, admin);
  });
  after(() => s?.stop());

  it('runs with production settings', () => {
    expect(s.config.production).to.equal(true);
  });

  it('refuses introspection: an error and no data', async () => {
    for (const query of ['{ __schema { types { name } } }', '{ __type(name: "User") { name fields { name } } }']) {
      const res = await api.gql(query);
      expect(res.status, query).to.equal(400);
      expect(res.data, query).to.equal(null);
      expect(codeOf(res), query).to.equal('BAD_USER_INPUT');
      expect(JSON.stringify(res.errors)).to.not.match(/"(Reseller|License|Customer)"/);
    }
  });

  it('refuses introspection also for a signed-in admin', async () => {
    const res = await api.gql('{ __schema { queryType { name } } }', {}, adminToken);
    expect(res.status).to.equal(400);
    expect(res.data).to.equal(null);
    expect(codeOf(res)).to.equal('BAD_USER_INPUT');
  });

  it('does not suggest field, argument or enum names for a misspelling', async () => {
    const cases = [
      '{ mee { id } }',
      '{ me { emial } }',
      '{ licenses(frist: 5) { totalCount } }',
      '{ licenses(filter: { kind: MDN }) { totalCount } }',
    ];
    for (const query of cases) {
      const res = await api.gql(query);
      expect(res.status, query).to.equal(400);
      expect(res.errors, query).to.have.length.greaterThan(0);
      expect(codeOf(res), query).to.equal('BAD_USER_INPUT');
      for (const e of res.errors!) expect(e.message, query).to.not.match(/did you mean/i);
    }
  });

  it('answers a syntax error with BAD_USER_INPUT', async () => {
    const res = await api.gql('{ me { id ');
    expect(res.status).to.equal(400);
    expect(res.data).to.equal(null);
    expect(codeOf(res)).to.equal('BAD_USER_INPUT');
  });

  it('answers a variable of the wrong type with BAD_USER_INPUT', async () => {
    const res = await api.gql('query($id: ID!) { license(id: $id) { id } }', { id: { not: 'an id' } });
    expect(res.status).to.equal(400);
    expect(codeOf(res)).to.equal('BAD_USER_INPUT');
  });

  it('hides an internal error in a resolver behind a generic INTERNAL_SERVER_ERROR', async () => {
    const token = adminToken;
    const res = await whileBroken(
      s.app.services.users,
      'me',
      'SQLITE_CORRUPT: relation app_user at /srv/secret/path.db password=hunter2',
      () => api.gql('{ me { id } }', {}, token),
    );
    expect(res.status).to.be.lessThan(600);
    expect(res.data).to.equal(null);
    expect(res.errors).to.have.length(1);
    expect(codeOf(res)).to.equal('INTERNAL_SERVER_ERROR');
    expect(res.errors![0]!.message).to.equal('Internal server error.');
    expect(JSON.stringify(res.errors)).to.not.match(/SQLITE|app_user|secret|hunter2|\bat \//);
    // The server is still fine afterwards.
    const again = await api.gql<{ me: { id: string } }>('{ me { id } }', {}, token);
    expect(again.errors).to.equal(undefined);
    expect(again.data!.me.id).to.equal(admin.user.id);
  });

  it('hides an internal error while reading the session behind a generic INTERNAL_SERVER_ERROR (HTTP 500)', async () => {
    const res = await whileBroken(
      s.app.services.sessions,
      'authenticate',
      'connect ECONNREFUSED 10.1.2.3:5432 user=portal password=hunter2',
      () => api.gql('{ me { id } }', {}, adminToken),
    );
    expect(res.status).to.equal(500);
    expect(res.data).to.equal(null);
    expect(codeOf(res)).to.equal('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(res.errors)).to.not.match(/ECONNREFUSED|10\.1\.2\.3|hunter2|portal|Context creation/);
  });

  it('still answers client errors with their own code and message', async () => {
    const res = await api.gql('mutation { login(email: "nobody@example.test", password: "wrong password") { token } }');
    expect(codeOf(res)).to.equal('UNAUTHENTICATED');
    expect(res.errors![0]!.message).to.not.equal('Internal server error.');
  });

  it('a bad token gets UNAUTHENTICATED (HTTP 200, invalid_token challenge)', async () => {
    const res = await api.gql('{ me { id } }', {}, 'garbage');
    expect(res.status).to.equal(200);
    expect(codeOf(res)).to.equal('UNAUTHENTICATED');
  });

  it('never sends a stack trace, and every error code is one of FLOWS.md section 2', () => {
    expect(errors.length).to.be.greaterThan(8);
    const traced = errors.filter((e) => e.extensions && 'stacktrace' in e.extensions);
    expect(traced, JSON.stringify(traced)).to.deep.equal([]);
    expect(JSON.stringify(errors)).to.not.match(/\.(js|ts):\d+/);
    expectOnlySection2Codes(errors);
  });
});

/** A query `levels` fields deep (the root field counts as 1), along licenses -> customer -> reseller -> customers -> ... */
function nested(levels: number): string {
  const path = [
    'licenses',
    'edges',
    'node',
    'customer',
    'reseller',
    'customers',
    'edges',
    'node',
    'licenses',
    'edges',
    'node',
    'customer',
    'reseller',
  ];
  if (levels - 1 > path.length) throw new Error('extend the path');
  // The last level is a leaf: __typename.
  const fields = path.slice(0, levels - 1);
  return `{ ${fields.map((f) => `${f} {`).join(' ')} __typename ${' }'.repeat(fields.length)} }`;
}

describe('request limits (FLOWS.md section 4)', function () {
  this.timeout(60000);
  let s: TestServer;
  let api: ReturnType<typeof recording>;
  let admin: TestUser;
  let adminToken: string;
  const errors: GqlError[] = [];

  before(async () => {
    s = await startTestServer();
    api = recording(s, errors);
    admin = await makeUser(s, { role: Role.ADMIN });
    adminToken = await signIn(s, admin);
    const reseller = await makeReseller(s);
    const customer = await makeCustomer(s, reseller);
    await makeLicense(s, customer);
  });
  after(() => s?.stop());

  const resellerCount = () => s.app.services.orm.em.fork().count(Reseller, {});
  const aliasedCreates = (n: number, tag: string) =>
    `mutation { ${Array.from({ length: n }, (_, i) => `r${i}: createReseller(input: { name: "${tag} ${i}" }) { id }`).join(' ')} }`;

  describe('aliases', () => {
    it('refuses 16 aliases with BAD_USER_INPUT and executes none of them', async () => {
      const before = await resellerCount();
      const res = await api.gql(aliasedCreates(16, 'sixteen'), {}, adminToken);
      expect(res.status).to.equal(400);
      expect(res.data).to.equal(null);
      expect(codeOf(res)).to.equal('BAD_USER_INPUT');
      expect(await resellerCount()).to.equal(before);
    });

    it('counts aliases inside fragments too', async () => {
      const before = await resellerCount();
      const inFragment = Array.from({ length: 6 }, (_, i) => `f${i}: createReseller(input: { name: "frag ${i}" }) { id }`).join(' ');
      const query = `${aliasedCreates(10, 'outer').replace(/ }$/, '')} ...More } fragment More on Mutation { ${inFragment} }`;
      const res = await api.gql(query, {}, adminToken);
      expect(res.status).to.equal(400);
      expect(codeOf(res)).to.equal('BAD_USER_INPUT');
      expect(await resellerCount()).to.equal(before);
    });

    it('counts aliases of nested fields as well', async () => {
      const inner = Array.from({ length: 16 }, (_, i) => `a${i}: id`).join(' ');
      const res = await api.gql(`{ me { ${inner} } }`, {}, adminToken);
      expect(res.status).to.equal(400);
      expect(codeOf(res)).to.equal('BAD_USER_INPUT');
    });

    it('accepts exactly 15 aliases and executes all of them', async () => {
      const before = await resellerCount();
      const res = await api.gql<Record<string, { id: string }>>(aliasedCreates(15, 'fifteen'), {}, adminToken);
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      expect(Object.keys(res.data!)).to.have.length(15);
      expect(await resellerCount()).to.equal(before + 15);
    });
  });

  describe('depth', () => {
    it('executes a query 10 levels deep', async () => {
      const res = await api.gql<{ licenses: { edges: unknown[] } }>(nested(10), {}, adminToken);
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      expect(res.status).to.equal(200);
      expect(res.data!.licenses.edges).to.have.length.greaterThan(0);
    });

    it('refuses a query 11 levels deep with BAD_USER_INPUT before execution', async () => {
      const res = await api.gql(nested(11), {}, adminToken);
      expect(res.status).to.equal(400);
      expect(res.data).to.equal(null);
      expect(codeOf(res)).to.equal('BAD_USER_INPUT');
    });

    it('counts depth through fragments and inline fragments', async () => {
      const viaFragment = `{ licenses { edges { node { ...Deep } } } }
        fragment Deep on License { customer { reseller { customers { edges { node { ... on Customer { licenses { edges { cursor } } } } } } } } }`;
      const res = await api.gql(viaFragment, {}, adminToken);
      expect(res.status).to.equal(400);
      expect(codeOf(res)).to.equal('BAD_USER_INPUT');
    });

    it('refuses a too-deep query without a token with BAD_USER_INPUT too (validation comes first)', async () => {
      const res = await api.gql(nested(11));
      expect(res.status).to.equal(400);
      expect(codeOf(res)).to.equal('BAD_USER_INPUT');
    });
  });

  describe('at most one sensitive mutation per request', () => {
    let victim: TestUser;
    const wrongLogin = (alias = '') => `${alias}login(email: "${victim.email}", password: "not the password") { token }`;
    before(async () => {
      victim = await makeUser(s, { role: Role.RESELLER, reseller: await makeReseller(s) });
    });

    it('a single login with a wrong password is attempted and audited (control)', async () => {
      const before = await auditCount(s, 'LOGIN_FAILED');
      const res = await api.gql(`mutation { ${wrongLogin()} }`);
      expect(codeOf(res)).to.equal('UNAUTHENTICATED');
      expect(await auditCount(s, 'LOGIN_FAILED')).to.equal(before + 1);
    });

    const twoLogins: [string, () => string][] = [
      ['two aliased logins', () => `mutation { ${wrongLogin('a: ')} ${wrongLogin('b: ')} }`],
      ['the same login field twice without aliases', () => `mutation { ${wrongLogin()} ${wrongLogin()} }`],
      [
        'a login plus one in a fragment spread on Mutation',
        () => `mutation { ${wrongLogin()} ...Again } fragment Again on Mutation { ${wrongLogin('again: ')} }`,
      ],
      ['a login plus one in an inline fragment', () => `mutation { ${wrongLogin()} ... on Mutation { ${wrongLogin('again: ')} } }`],
    ];
    for (const [what, query] of twoLogins) {
      it(`refuses ${what} with BAD_USER_INPUT before any login is attempted`, async () => {
        const before = await auditCount(s, 'LOGIN_FAILED');
        const res = await api.gql(query());
        expect(res.status).to.equal(400);
        expect(res.data).to.equal(null);
        expect(codeOf(res), JSON.stringify(res.errors)).to.equal('BAD_USER_INPUT');
        expect(await auditCount(s, 'LOGIN_FAILED')).to.equal(before);
      });
    }

    it('refuses login + verifyTotp: neither the login nor the TOTP code is used', async () => {
      const totpUser = await makeUser(s, { role: Role.ADMIN });
      const session = await passwordOnly(s, totpUser);
      const code = freshCode(totpUser);
      const loginsBefore = await auditCount(s, 'LOGIN_FAILED');
      const res = await api.gql(`mutation { ${wrongLogin()} verifyTotp(code: "${code}") { token stage } }`, {}, session.token);
      expect(res.status).to.equal(400);
      expect(res.data).to.equal(null);
      expect(codeOf(res)).to.equal('BAD_USER_INPUT');
      expect(await auditCount(s, 'LOGIN_FAILED')).to.equal(loginsBefore);
      // The code was not consumed: it still completes the sign-in on its own.
      const verified = await api.gql<{ verifyTotp: { stage: string } }>(
        `mutation { verifyTotp(code: "${code}") { stage } }`,
        {},
        session.token,
      );
      expect(verified.errors, JSON.stringify(verified.errors)).to.equal(undefined);
      expect(verified.data!.verifyTotp.stage).to.equal('AUTHENTICATED');
    });

    it('refuses activateTwoFactor + resetPassword: the reset token is not consumed', async () => {
      const newcomer = await makeUser(s, { role: Role.ADMIN, twoFactor: false });
      const requested = await api.gql('mutation($e: String!) { requestPasswordReset(email: $e) }', { e: newcomer.email });
      expect(requested.errors).to.equal(undefined);
      await s.app.services.background.drain();
      const mails = await Promise.all(s.outbox().map((raw) => parseMail(raw)));
      const mail = mails.find((m) => m.to.includes(newcomer.email));
      expect(mail, 'reset e-mail').to.not.equal(undefined);
      const token = linkToken(mail!);

      const res = await api.gql(
        `mutation($t: String!) { activateTwoFactor(setupToken: "x", code: "123456") resetPassword(token: $t, newPassword: "a brand new long password") { setupToken } }`,
        { t: token },
      );
      expect(res.status).to.equal(400);
      expect(res.data).to.equal(null);
      expect(codeOf(res)).to.equal('BAD_USER_INPUT');

      const alone = await api.gql<{ resetPassword: { setupToken: string } }>(
        'mutation($t: String!) { resetPassword(token: $t, newPassword: "a brand new long password") { setupToken } }',
        { t: token },
      );
      expect(alone.errors, JSON.stringify(alone.errors)).to.equal(undefined);
      expect(alone.data!.resetPassword.setupToken).to.be.a('string');
    });
  });

  describe('HTTP', () => {
    it('refuses a batched JSON array body', async () => {
      const res = await api.raw('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
      });
      expect(res.status).to.be.within(400, 499);
      expect(res.text).to.not.contain('"__typename":"Query"');
    });

    it('refuses a batched array of two logins without attempting either', async () => {
      const victim = await makeUser(s, { role: Role.CUSTOMER, customer: await makeCustomer(s, await makeReseller(s)) });
      const before = await auditCount(s, 'LOGIN_FAILED');
      const login = { query: `mutation { login(email: "${victim.email}", password: "nope nope nope") { token } }` };
      const res = await api.raw('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([login, login]),
      });
      expect(res.status).to.be.within(400, 499);
      expect(await auditCount(s, 'LOGIN_FAILED')).to.equal(before);
    });

    it('answers a body over 1 MB with HTTP 413', async () => {
      const res = await api.raw('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(1024 * 1024 + 10) } }),
      });
      expect(res.status).to.equal(413);
      expect(res.body?.errors?.[0]?.extensions?.code).to.equal('BAD_USER_INPUT');
    });

    it('accepts a body just under 1 MB (control)', async () => {
      const res = await api.raw('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(1000 * 1000) } }),
      });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ data: { __typename: 'Query' } });
    });

    it('answers malformed JSON with a 400 and BAD_USER_INPUT, not a 500', async () => {
      const res = await api.raw('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query": "{ __typename }"',
      });
      expect(res.status).to.equal(400);
      expect(res.body?.errors?.[0]?.extensions?.code).to.equal('BAD_USER_INPUT');
    });

    it('does not execute a simple GET query without a token or preflight header: UNAUTHENTICATED (FLOWS.md section 13)', async () => {
      const res = await api.raw(`/graphql?query=${encodeURIComponent('{__typename}')}`, { method: 'GET' });
      expect(res.status).to.equal(200);
      expect(JSON.parse(res.text)).to.deep.equal({
        errors: [{ message: 'Not signed in, or the session has ended.', extensions: { code: 'UNAUTHENTICATED' } }],
      });
      expect(res.text).to.not.contain('"__typename":"Query"');
    });

    it('refuses a simple form POST (text/plain) without a preflight header', async () => {
      const res = await api.raw('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect(res.status).to.be.within(400, 499);
      expect(res.text).to.not.contain('"__typename":"Query"');
    });

    it('answers the same GET with apollo-require-preflight (control)', async () => {
      const res = await api.raw(`/graphql?query=${encodeURIComponent('{__typename}')}`, {
        method: 'GET',
        headers: { 'apollo-require-preflight': 'true' },
      });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ data: { __typename: 'Query' } });
    });

    it('GET /healthz answers 200 with JSON', async () => {
      const res = await api.raw('/healthz', { method: 'GET' });
      expect(res.status).to.equal(200);
      expect(res.contentType).to.match(/^application\/json/);
      expect(res.body).to.be.an('object');
    });

    it('an unknown path answers 404 with JSON', async () => {
      const res = await api.raw('/nope', { method: 'GET' });
      expect(res.status).to.equal(404);
      expect(res.contentType).to.match(/^application\/json/);
    });
  });

  // Runs last (mocha runs nested describes in order, after the parent's own tests).
  describe('across all of the above', () => {
    it('outside production, a misspelling does get a suggestion (so the production check can fail)', async () => {
      const res = await api.gql('{ mee { id } }');
      expect(res.status).to.equal(400);
      expect(res.errors![0]!.message).to.match(/did you mean/i);
    });

    it('every error code answered is one of FLOWS.md section 2', () => {
      expect(errors.length).to.be.greaterThan(15);
      expectOnlySection2Codes(errors);
    });
  });
});
