// API tokens for scripts (FLOWS.md sections 2, 5 and 7), as an integrator lives them: the secret is
// shown once, acts with the owner's role and scope, cannot mint further tokens, and dies when revoked,
// expired, or when the owner's 2FA or password is reset. Use is visible (lastUsedAt, audit log), the
// owner is told by e-mail, and the secret reaches neither the database nor the server's log.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Role } from '../../src/common/enums';
import { ApiToken } from '../../src/modules/api-tokens/api-token.entity';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { hashToken } from '../../src/modules/auth/secrets';
import { totpCode } from '../../src/modules/auth/totp';
import { License } from '../../src/modules/licenses/license.entity';
import { makeCustomer, makeLicense, makeReseller, makeUser, signIn, type TestUser } from '../factories';
import { runCli, ROOT } from '../helpers/cli';
import { linkToken, parseMail, startSmtpCapture, type SmtpCapture } from '../helpers/mail';
import { codeOf, dropPgSchema, ok, startTestServer, testEnv, type GqlResult, type TestServer } from '../helpers/server';
import type { Customer } from '../../src/modules/customers/customer.entity';
import type { Reseller } from '../../src/modules/resellers/reseller.entity';

const CREATE_TOKEN = `mutation($n: String!, $x: DateTime) { createApiToken(name: $n, expiresAt: $x) { token apiToken { id name createdAt expiresAt lastUsedAt } } }`;
const REVOKE_TOKEN = `mutation($id: ID!) { revokeApiToken(id: $id) }`;
const LIST_TOKENS = `{ apiTokens { id name createdAt expiresAt lastUsedAt } }`;
const ME = `{ me { id email role } }`;
const LICENSES = `{ licenses(first: 100) { totalCount edges { node { id reseller { id } } } } }`;
const LICENSE = `query($id: ID!) { license(id: $id) { id } }`;
const CREATE_LICENSE = `mutation($i: CreateLicenseInput!) { createLicense(input: $i) { id } }`;
const RESET_2FA = `mutation($id: ID!) { resetUserTwoFactor(userId: $id) { id twoFactorEnabled } }`;
const REQUEST_RESET = `mutation($e: String!) { requestPasswordReset(email: $e) }`;
const RESET = `mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken secret alreadyEnrolled } }`;
const TOKEN_SHAPE = /^lpt_[A-Za-z0-9_-]{43}$/;
const NEW_PASSWORD = 'a long and new password';
/** Every table that holds rows a token could leak into. */
const TABLES = [
  'app_user',
  'session',
  'account_token',
  'api_token',
  'audit_event',
  'license',
  'customer',
  'reseller',
  'attempt_counter',
  'license_reminder',
];

type TokenOut = { id: string; name: string; createdAt: string; expiresAt: string | null; lastUsedAt: string | null };
type Created = { createApiToken: { token: string; apiToken: TokenOut } };

const unique = () => randomBytes(4).toString('hex');

function refused(res: GqlResult<unknown>, code: string) {
  expect(codeOf(res), JSON.stringify(res.errors)).to.equal(code);
  expect(res.data).to.equal(null);
}

describe('API tokens', function () {
  this.timeout(60000);
  let smtp: SmtpCapture;
  let s: TestServer;
  let resellerA: Reseller;
  let resellerB: Reseller;
  let customerA: Customer;
  let customerB: Customer;
  const licensesA: string[] = [];
  const licensesB: string[] = [];
  const u = {} as Record<'admin' | 'resA' | 'resA2' | 'resB' | 'custA' | 'tfaVictim' | 'pwdOwner', TestUser>;
  const session = {} as Record<keyof typeof u, string>;
  /** Every secret and session token this file saw, for the leak scans at the end. */
  const secrets: string[] = [];

  async function create(token: string, name = `script ${unique()}`, expiresAt: Date | null = null) {
    const res = await s.gql<Created>(CREATE_TOKEN, { n: name, x: expiresAt?.toISOString() ?? null }, token);
    const created = ok(res).createApiToken;
    secrets.push(created.token);
    return created;
  }

  const me = (token: string) => s.gql<{ me: { id: string; email: string; role: string } }>(ME, {}, token);

  async function expectDead(token: string) {
    const res = await me(token);
    expect(res.status).to.equal(200);
    refused(res, 'UNAUTHENTICATED');
  }

  async function expectActsAs(token: string, user: TestUser) {
    const res = await me(token);
    expect(res.status).to.equal(200);
    expect(ok(res).me.id).to.equal(user.user.id);
  }

  const fork = () => s.app.services.orm.em.fork();

  before(async () => {
    smtp = await startSmtpCapture();
    s = await startTestServer({ SMTP_URL: smtp.url });
    resellerA = await makeReseller(s);
    resellerB = await makeReseller(s);
    customerA = await makeCustomer(s, resellerA);
    customerB = await makeCustomer(s, resellerB);
    for (let i = 0; i < 2; i++) licensesA.push((await makeLicense(s, customerA)).id);
    licensesB.push((await makeLicense(s, customerB)).id);
    u.admin = await makeUser(s, { role: Role.ADMIN });
    u.resA = await makeUser(s, { role: Role.RESELLER, reseller: resellerA });
    u.resA2 = await makeUser(s, { role: Role.RESELLER, reseller: resellerA });
    u.resB = await makeUser(s, { role: Role.RESELLER, reseller: resellerB });
    u.custA = await makeUser(s, { role: Role.CUSTOMER, customer: customerA });
    u.tfaVictim = await makeUser(s, { role: Role.RESELLER, reseller: resellerA });
    u.pwdOwner = await makeUser(s, { role: Role.RESELLER, reseller: resellerA });
    for (const key of Object.keys(u) as (keyof typeof u)[]) {
      session[key] = await signIn(s, u[key]);
      secrets.push(session[key]);
    }
  });

  after(async () => {
    await s.stop();
    await smtp.close();
  });

  it('createApiToken shows an lpt_ secret once; apiTokens lists the token without any secret', async () => {
    const name = `deploy ${unique()}`;
    const created = await create(session.resA, name);
    expect(created.token).to.match(TOKEN_SHAPE);
    expect(created.apiToken).to.include({ name, expiresAt: null, lastUsedAt: null });

    const listed = ok(await s.gql<{ apiTokens: TokenOut[] }>(LIST_TOKENS, {}, session.resA)).apiTokens;
    expect(listed.map((t) => t.id)).to.include(created.apiToken.id);
    expect(JSON.stringify(listed)).to.not.contain(created.token);

    // The type itself has no field that could carry the secret or its hash.
    const type = ok(
      await s.gql<{ __type: { fields: { name: string }[] } }>(`{ __type(name: "ApiToken") { fields { name } } }`, {}, session.resA),
    );
    expect(type.__type.fields.map((f) => f.name).sort()).to.deep.equal(['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'purpose']);

    // Other users do not see it.
    const others = ok(await s.gql<{ apiTokens: TokenOut[] }>(LIST_TOKENS, {}, session.resA2)).apiTokens;
    expect(others.map((t) => t.id)).to.not.include(created.apiToken.id);
  });

  it("a reseller's token sees exactly the reseller's licenses; an admin's token sees all", async () => {
    const resToken = (await create(session.resA)).token;
    await expectActsAs(resToken, u.resA);
    const mine = ok(
      await s.gql<{ licenses: { totalCount: number; edges: { node: { id: string; reseller: { id: string } } }[] } }>(
        LICENSES,
        {},
        resToken,
      ),
    ).licenses;
    expect(mine.edges.map((e) => e.node.id).sort()).to.deep.equal([...licensesA].sort());
    expect(mine.totalCount).to.equal(licensesA.length);
    expect(ok(await s.gql<{ license: unknown }>(LICENSE, { id: licensesB[0] }, resToken)).license).to.equal(null);
    expect(ok(await s.gql<{ license: { id: string } }>(LICENSE, { id: licensesA[0] }, resToken)).license).to.deep.equal({
      id: licensesA[0],
    });

    const otherToken = (await create(session.resB)).token;
    const theirs = ok(await s.gql<{ licenses: { edges: { node: { id: string } }[] } }>(LICENSES, {}, otherToken)).licenses;
    expect(theirs.edges.map((e) => e.node.id)).to.deep.equal(licensesB);

    const adminToken = (await create(session.admin)).token;
    await expectActsAs(adminToken, u.admin);
    const all = ok(await s.gql<{ licenses: { totalCount: number; edges: { node: { id: string } }[] } }>(LICENSES, {}, adminToken)).licenses;
    expect(all.totalCount).to.equal(await fork().count(License, {}));
    expect(all.edges.map((e) => e.node.id)).to.include.members([...licensesA, ...licensesB]);
  });

  it("a CUSTOMER user's token reads the customer's licenses but cannot create one (FORBIDDEN, nothing written)", async () => {
    const token = (await create(session.custA)).token;
    const seen = ok(await s.gql<{ licenses: { edges: { node: { id: string } }[] } }>(LICENSES, {}, token)).licenses;
    expect(seen.edges.map((e) => e.node.id).sort()).to.deep.equal([...licensesA].sort());

    const before = await fork().count(License, {});
    const res = await s.gql(
      CREATE_LICENSE,
      { i: { customerId: customerA.id, kind: 'MDM', seats: 5, validUntil: new Date(Date.now() + 86_400_000 * 30).toISOString() } },
      token,
    );
    refused(res, 'FORBIDDEN');
    expect(await fork().count(License, {})).to.equal(before);
  });

  it("an API token cannot create another token (FORBIDDEN, nothing written), the owner's session can", async () => {
    const token = (await create(session.resA)).token;
    const before = await fork().count(ApiToken, { user: u.resA.user.id });
    refused(await s.gql(CREATE_TOKEN, { n: 'minted by a token', x: null }, token), 'FORBIDDEN');
    expect(await fork().count(ApiToken, { user: u.resA.user.id })).to.equal(before);

    await create(session.resA, 'minted by the session');
    expect(await fork().count(ApiToken, { user: u.resA.user.id })).to.equal(before + 1);
  });

  it('refuses an expiresAt in the past with BAD_USER_INPUT and creates nothing', async () => {
    const before = await fork().count(ApiToken, {});
    const res = await s.gql(CREATE_TOKEN, { n: 'already expired', x: new Date(Date.now() - 60_000).toISOString() }, session.resA);
    refused(res, 'BAD_USER_INPUT');
    expect(await fork().count(ApiToken, {})).to.equal(before);
  });

  it('a revoked token answers UNAUTHENTICATED (invalid_token) and leaves the list', async () => {
    const created = await create(session.resA);
    await expectActsAs(created.token, u.resA);
    expect(ok(await s.gql<{ revokeApiToken: boolean }>(REVOKE_TOKEN, { id: created.apiToken.id }, session.resA)).revokeApiToken).to.equal(
      true,
    );
    await expectDead(created.token);
    refused(await s.gql(LICENSES, {}, created.token), 'UNAUTHENTICATED');
    const listed = ok(await s.gql<{ apiTokens: TokenOut[] }>(LIST_TOKENS, {}, session.resA)).apiTokens;
    expect(listed.map((t) => t.id)).to.not.include(created.apiToken.id);
    // Revoking twice: the token is gone.
    refused(await s.gql(REVOKE_TOKEN, { id: created.apiToken.id }, session.resA), 'NOT_FOUND');
  });

  it('an expired token answers UNAUTHENTICATED (invalid_token)', async () => {
    const expiresAt = new Date(Date.now() + 3_600_000);
    const created = await create(session.resA, 'short-lived', expiresAt);
    expect(new Date(created.apiToken.expiresAt!).getTime()).to.equal(expiresAt.getTime());
    await expectActsAs(created.token, u.resA);
    await fork().nativeUpdate(ApiToken, { id: created.apiToken.id }, { expiresAt: new Date(Date.now() - 1000) });
    await expectDead(created.token);
  });

  it("resetting the owner's 2FA (by an admin) kills the owner's tokens (UNAUTHENTICATED, invalid_token)", async () => {
    const created = await create(session.tfaVictim);
    await expectActsAs(created.token, u.tfaVictim);
    const reset = ok(
      await s.gql<{ resetUserTwoFactor: { id: string; twoFactorEnabled: boolean } }>(RESET_2FA, { id: u.tfaVictim.user.id }, session.admin),
    );
    expect(reset.resetUserTwoFactor.twoFactorEnabled).to.equal(false);
    await expectDead(created.token);
    const row = await fork().findOneOrFail(ApiToken, created.apiToken.id);
    expect(row.revokedAt).to.be.instanceOf(Date);
  });

  it("resetting the owner's password through the mailed link kills the owner's tokens (UNAUTHENTICATED, invalid_token)", async () => {
    const created = await create(session.pwdOwner);
    await expectActsAs(created.token, u.pwdOwner);
    ok(await s.gql(REQUEST_RESET, { e: u.pwdOwner.email }));
    const mail = await smtp.waitFor(u.pwdOwner.email, (m) => /reset/i.test(m.subject) && /reset-password\?token=/.test(m.text));
    const token = linkToken(mail);
    secrets.push(token);
    const setup = ok(
      await s.gql<{ resetPassword: { setupToken: string; alreadyEnrolled: boolean } }>(RESET, { t: token, p: NEW_PASSWORD }),
    );
    expect(setup.resetPassword.alreadyEnrolled).to.equal(true);
    secrets.push(setup.resetPassword.setupToken);
    await expectDead(created.token);
    // The session it was created from is gone as well.
    await expectDead(session.pwdOwner);
  });

  it("revoking another user's token answers NOT_FOUND and the token keeps working", async () => {
    const created = await create(session.resA);
    refused(await s.gql(REVOKE_TOKEN, { id: created.apiToken.id }, session.resA2), 'NOT_FOUND');
    refused(await s.gql(REVOKE_TOKEN, { id: created.apiToken.id }, session.admin), 'NOT_FOUND');
    await expectActsAs(created.token, u.resA);
    const row = await fork().findOneOrFail(ApiToken, created.apiToken.id);
    expect(row.revokedAt).to.equal(null);
  });

  it('sets lastUsedAt when the token is used, and records its use at most once a minute', async () => {
    const created = await create(session.resA);
    const unused = ok(await s.gql<{ apiTokens: TokenOut[] }>(LIST_TOKENS, {}, session.resA)).apiTokens.find(
      (t) => t.id === created.apiToken.id,
    )!;
    expect(unused.lastUsedAt).to.equal(null);

    const before = Date.now();
    // A script's burst: three calls at once, then two more.
    await Promise.all([1, 2, 3].map(() => expectActsAs(created.token, u.resA)));
    await expectActsAs(created.token, u.resA);
    await expectActsAs(created.token, u.resA);
    const after = Date.now();

    const used = ok(await s.gql<{ apiTokens: TokenOut[] }>(LIST_TOKENS, {}, session.resA)).apiTokens.find(
      (t) => t.id === created.apiToken.id,
    )!;
    expect(used.lastUsedAt).to.be.a('string');
    const at = new Date(used.lastUsedAt!).getTime();
    expect(at).to.be.within(before - 1000, after + 1000);
    const events = await fork().find(AuditEvent, { targetId: created.apiToken.id, action: 'API_TOKEN_USED' });
    expect(events).to.have.length(1);

    // Two minutes later (moved back in the database), the next use is recorded again, once.
    const earlier = new Date(Date.now() - 120_000);
    await fork().nativeUpdate(ApiToken, { id: created.apiToken.id }, { lastUsedAt: earlier });
    const again = Date.now();
    await Promise.all([1, 2].map(() => expectActsAs(created.token, u.resA)));
    const row = await fork().findOneOrFail(ApiToken, created.apiToken.id);
    expect(row.lastUsedAt!.getTime()).to.be.at.least(again - 1000);
    expect(await fork().count(AuditEvent, { targetId: created.apiToken.id, action: 'API_TOKEN_USED' })).to.equal(2);
  });

  it('the audit log holds API_TOKEN_CREATED, API_TOKEN_USED and API_TOKEN_REVOKED, with the owner as actor', async () => {
    const created = await create(session.resA);
    await expectActsAs(created.token, u.resA);
    ok(await s.gql(REVOKE_TOKEN, { id: created.apiToken.id }, session.resA));
    const events = await fork().find(AuditEvent, { targetId: created.apiToken.id }, { orderBy: { at: 'asc', id: 'asc' } });
    expect(events.map((e) => e.action).sort()).to.deep.equal(['API_TOKEN_CREATED', 'API_TOKEN_REVOKED', 'API_TOKEN_USED']);
    for (const e of events) {
      expect(e.actorId).to.equal(u.resA.user.id);
      expect(e.targetType).to.equal('ApiToken');
      expect(e.resellerId).to.equal(resellerA.id);
    }

    // The reseller's other users and the admin see them through the API too.
    const AUDIT = `{ auditEvents(first: 100) { edges { node { action targetId actor { id } } } } }`;
    const seen = ok(await s.gql<{ auditEvents: { edges: { node: { action: string; targetId: string } }[] } }>(AUDIT, {}, session.admin))
      .auditEvents.edges.map((e) => e.node)
      .filter((n) => n.targetId === created.apiToken.id)
      .map((n) => n.action)
      .sort();
    expect(seen).to.deep.equal(['API_TOKEN_CREATED', 'API_TOKEN_REVOKED', 'API_TOKEN_USED']);
    const other = ok(await s.gql<{ auditEvents: { edges: { node: { targetId: string } }[] } }>(AUDIT, {}, session.resB)).auditEvents.edges;
    expect(other.map((e) => e.node.targetId)).to.not.include(created.apiToken.id);
  });

  it('the owner receives an "API token created" e-mail naming the token, without the secret', async () => {
    const name = `mail check ${unique()}`;
    const created = await create(session.resA2, name);
    const mail = await smtp.waitFor(u.resA2.email, (m) => /API token/i.test(m.subject) && m.text.includes(name));
    expect(mail.subject).to.match(/API token was created/);
    expect(mail.text).to.not.contain(created.token);
    expect(mail.html).to.not.contain(created.token);
    // Only the owner is told.
    expect(smtp.mails.filter((m) => m.text.includes(name)).map((m) => m.to)).to.deep.equal([u.resA2.email]);
  });

  it('no secret or session token appears in any row of any table; only the SHA-256 of the secret is stored', async () => {
    const created = await create(session.resA, 'db scan');
    await expectActsAs(created.token, u.resA);
    const conn = fork().getConnection();
    let rows = 0;
    for (const table of TABLES) {
      const result = await conn.execute<Record<string, unknown>[]>(`select * from ${table}`);
      rows += result.length;
      for (const row of result) {
        const text = JSON.stringify(row);
        for (const secret of secrets) expect(text, `${table} holds a secret`).to.not.contain(secret);
        // Nor the random part alone (e.g. stored without its prefix).
        for (const secret of secrets) expect(text, `${table} holds a secret's body`).to.not.contain(secret.slice(4));
      }
    }
    expect(rows).to.be.greaterThan(20);
    const stored = await conn.execute<{ token_hash: string }[]>('select token_hash from api_token where id = ?', [created.apiToken.id]);
    expect(stored).to.deep.equal([{ token_hash: hashToken(created.token) }]);
    expect(secrets.length).to.be.greaterThan(15);
  });
});

describe('API tokens and the server log (node dist/src/main.js, LOG_LEVEL=debug)', function () {
  this.timeout(60000);
  let dir: string;
  let schema: string;
  let child: ChildProcess | undefined;
  let stderr = '';
  let stdout = '';

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lp-tokenlog-'));
    schema = `t_${randomBytes(6).toString('hex')}`;
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await dropPgSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  });

  async function waitForListening(): Promise<string> {
    const deadline = Date.now() + 30000;
    for (;;) {
      const line = stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; url?: string })
        .find((l) => l.msg === 'listening');
      if (line) return line.url!;
      if (child!.exitCode !== null) throw new Error(`the server exited: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`the server did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('after onboarding, sign-in, token creation and token use, no token or secret appears in the log', async () => {
    const env = testEnv(dir, schema, { LOG_LEVEL: 'debug', PORT: '0' });
    child = spawn(process.execPath, [join(ROOT, 'dist/src/main.js')], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = await waitForListening();
    const gql = async <T>(query: string, variables: Record<string, unknown> = {}, token: string | null = null) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, ...((await res.json()) as { data: T | null; errors?: { extensions?: { code?: string } }[] }) };
    };
    const leaks: string[] = [];

    // An admin is invited through the CLI (mail to the outbox) and onboards through the link.
    const email = `log-${unique()}@example.test`;
    const cli = await runCli(['create-admin', '--email', email, '--name', 'Log Admin'], env);
    expect(cli.code, cli.stderr).to.equal(0);
    const outbox = join(dir, 'outbox');
    const invitation = await parseMail(readFileSync(join(outbox, readdirSync(outbox)[0]!)));
    const invite = linkToken(invitation);
    leaks.push(invite);
    const reset = await gql<{ resetPassword: { setupToken: string; secret: string } }>(RESET, { t: invite, p: NEW_PASSWORD });
    expect(reset.errors, JSON.stringify(reset.errors)).to.equal(undefined);
    const { setupToken, secret } = reset.data!.resetPassword;
    leaks.push(setupToken, secret, NEW_PASSWORD);
    const now = Date.now();
    const activated = await gql(`mutation($t: String!, $c: String!) { activateTwoFactor(setupToken: $t, code: $c) }`, {
      t: setupToken,
      c: totpCode(secret, now),
    });
    expect(activated.errors, JSON.stringify(activated.errors)).to.equal(undefined);

    // Sign-in in two steps: the limited session token, then the AUTHENTICATED one.
    const login = await gql<{ login: { token: string; stage: string } }>(
      `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token stage } }`,
      { e: email, p: NEW_PASSWORD },
    );
    expect(login.data!.login.stage).to.equal('TOTP_REQUIRED');
    const limited = login.data!.login.token;
    leaks.push(limited);
    // A wrong code first (a failed attempt gets logged if anything does), then the right one.
    const wrong = totpCode(secret, now + 10 * 30_000);
    const failed = await gql(`mutation($c: String!) { verifyTotp(code: $c) { token } }`, { c: wrong }, limited);
    expect(failed.errors?.[0]?.extensions?.code).to.equal('UNAUTHENTICATED');
    const verified = await gql<{ verifyTotp: { token: string; stage: string } }>(
      `mutation($c: String!) { verifyTotp(code: $c) { token stage } }`,
      { c: totpCode(secret, now + 30_000) },
      limited,
    );
    expect(verified.errors, JSON.stringify(verified.errors)).to.equal(undefined);
    const sessionToken = verified.data!.verifyTotp.token;
    leaks.push(sessionToken);

    const created = await gql<Created>(CREATE_TOKEN, { n: 'log check', x: null }, sessionToken);
    expect(created.errors, JSON.stringify(created.errors)).to.equal(undefined);
    const apiToken = created.data!.createApiToken.token;
    expect(apiToken).to.match(TOKEN_SHAPE);
    leaks.push(apiToken);

    // Use: a read, a refused write, and a request with a revoked token.
    const used = await gql<{ me: { email: string } }>(ME, {}, apiToken);
    expect(used.data!.me.email).to.equal(email);
    const bad = await gql(
      CREATE_LICENSE,
      { i: { customerId: 'cus_000000000000000000000000', kind: 'MDM', seats: 0, validUntil: '2030-01-01T00:00:00Z' } },
      apiToken,
    );
    expect(bad.errors).to.not.equal(undefined);
    await gql(REVOKE_TOKEN, { id: created.data!.createApiToken.apiToken.id }, sessionToken);
    const dead = await gql(ME, {}, apiToken);
    expect(dead.status).to.equal(200);

    // Wait until the API-token mail has been written (and logged), then stop the server.
    const deadline = Date.now() + 10000;
    while (!readdirSync(outbox).some((f) => f.includes('api-token-created')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;

    // The log is there and describes what happened ...
    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length, stderr).to.be.greaterThan(2);
    expect(stderr).to.contain('"msg":"listening"');
    expect(stderr).to.match(/"template":"api-token-created"/);
    // ... and holds none of the tokens and secrets, nor their random parts.
    for (const leak of leaks) {
      expect(stderr, 'stderr').to.not.contain(leak);
      expect(stdout, 'stdout').to.not.contain(leak);
      if (/^lp[sat]_/.test(leak)) expect(stderr).to.not.contain(leak.slice(4));
    }
  });
});
