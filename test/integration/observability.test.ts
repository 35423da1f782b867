// What an operator sees: the JSON log lines of a real server process (one line per GraphQL request with
// request id, operation, principal, duration and outcome; never a password, code, secret or token) and
// the Prometheus metrics at GET /metrics (labels bounded by the schema, never by the client; closed in
// production unless METRICS_TOKEN is set, and then only for that bearer token).
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Role } from '../../src/common/enums';
import type { Orm } from '../../src/db/orm';
import { freshCode, makeCustomer, makeReseller, makeUser, wrongCode, type TestUser } from '../factories';
import { linkToken, startSmtpCapture, type SmtpCapture } from '../helpers/mail';
import { dropPgSchema, factoryTarget, logLines, openOrmFor, startServerProcess, type RunningServer } from '../helpers/process';
import { codeOf, ok, testEnv, type GqlResult } from '../helpers/server';

const LOGIN = 'mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage } }';
const VERIFY = 'mutation($c: String!) { verifyTotp(code: $c) { token stage } }';
const ME = '{ me { id email } }';
const CREATE_API_TOKEN = 'mutation($n: String!) { createApiToken(name: $n) { token apiToken { id } } }';
const RESET_REQUEST = 'mutation($e: String!) { requestPasswordReset(email: $e) }';
const RESET = 'mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken secret alreadyEnrolled } }';
const ACTIVATE = 'mutation($t: String!, $c: String!) { activateTwoFactor(setupToken: $t, code: $c) }';
const EVIL = 'query evil_label_123 { me { id } }';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Sent {
  what: string;
  requestId: string;
  operation: string;
  principal: string | null;
  outcome: string;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format: one sample per line, `name{a="x",b="y"} value`. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) throw new Error(`not a metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the sample with exactly these labels (among others), or undefined. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length === 0) return undefined;
  return found.reduce((sum, s) => sum + s.value, 0);
}

async function metricsAt(base: string, authorization?: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`${base}/metrics`, { headers: authorization ? { authorization } : {} });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

for (const level of ['info', 'debug'] as const) {
  describe(`observability of a server process at LOG_LEVEL=${level}`, function () {
    this.timeout(120000);
    let dir: string | undefined;
    const schema = `t_${randomBytes(6).toString('hex')}`;
    let smtp: SmtpCapture | undefined;
    let server: RunningServer | undefined;
    let orm: Orm | undefined;
    let u: TestUser;
    const sent: Sent[] = [];
    /** Every secret value the flow used, by what it is: none may appear in the log. */
    const secrets: Record<string, string> = {};
    let stderr = '';
    let stdout = '';
    let lines: Record<string, unknown>[] = [];
    let metricsText = '';
    let saneId = '';
    let insaneId = '';
    let insaneAnswer: string | null = null;

    async function call<T>(
      what: string,
      expected: { operation: string; principal: string | null; outcome?: string },
      query: string,
      variables: Record<string, unknown> = {},
      token: string | null = null,
      headers: Record<string, string> = {},
      operationName?: string,
    ): Promise<GqlResult<T>> {
      const res = await server!.gql<T>(query, variables, token, headers, operationName);
      const requestId = res.headers.get('x-request-id');
      expect(requestId, `${what}: X-Request-Id`).to.be.a('string');
      sent.push({
        what,
        requestId: requestId!,
        operation: expected.operation,
        principal: expected.principal,
        outcome: expected.outcome ?? 'ok',
      });
      expect(codeOf(res) ?? 'ok', `${what}: ${JSON.stringify(res.errors)}`).to.equal(expected.outcome ?? 'ok');
      return res;
    }

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'lp-obs-'));
      smtp = await startSmtpCapture();
      const env = testEnv(dir, schema, { LOG_LEVEL: level, SMTP_URL: smtp.url });
      server = await startServerProcess(env, dir);
      const opened = await openOrmFor(env);
      orm = opened.orm;
      const t = factoryTarget(opened.orm, opened.config, server);
      const reseller = await makeReseller(t);
      await makeCustomer(t, reseller);
      u = await makeUser(t, { role: Role.RESELLER, reseller });
      const id = u.user.id;
      secrets.password = u.password;
      secrets.totpSecret = u.secret!;

      // Sign-in: password, then a TOTP code on the limited session.
      const first = ok(
        await call<{ login: { token: string; stage: string } }>('login', { operation: 'mutation:login', principal: null }, LOGIN, {
          e: u.email,
          p: u.password,
        }),
      );
      expect(first.login.stage).to.equal('TOTP_REQUIRED');
      secrets.limitedSession = first.login.token;
      const code = freshCode(u);
      secrets.code = code;
      const verified = ok(
        await call<{ verifyTotp: { token: string; stage: string } }>(
          'verifyTotp',
          { operation: 'mutation:verifyTotp', principal: id },
          VERIFY,
          { c: code },
          first.login.token,
        ),
      );
      expect(verified.verifyTotp.stage).to.equal('AUTHENTICATED');
      const session = verified.verifyTotp.token;
      secrets.session = session;

      expect(ok(await call<{ me: { id: string } }>('me', { operation: 'query:me', principal: id }, ME, {}, session)).me.id).to.equal(id);
      const apiToken = ok(
        await call<{ createApiToken: { token: string } }>(
          'createApiToken',
          { operation: 'mutation:createApiToken', principal: id },
          CREATE_API_TOKEN,
          { n: 'observability' },
          session,
        ),
      ).createApiToken.token;
      expect(apiToken).to.match(/^lpt_/);
      secrets.apiToken = apiToken;

      // The API token, with a client-chosen (sane) request id.
      saneId = `obs-${randomBytes(6).toString('hex')}`;
      const viaApiToken = await call<{ me: { id: string } }>('me (API token)', { operation: 'query:me', principal: id }, ME, {}, apiToken, {
        'x-request-id': saneId,
      });
      expect(ok(viaApiToken).me.id).to.equal(id);
      expect(viaApiToken.headers.get('x-request-id')).to.equal(saneId);

      // A client-chosen operation name, which must not become a metric label.
      ok(await call('evil operation name', { operation: 'query:me', principal: id }, EVIL, {}, session, {}, 'evil_label_123'));

      // Failures: a wrong password, a wrong TOTP code, a protected field without a token (and an
      // unusable request id), a request that does not parse.
      const wrongPassword = `wrong password ${randomBytes(6).toString('hex')}`;
      secrets.wrongPassword = wrongPassword;
      await call('wrong password', { operation: 'mutation:login', principal: null, outcome: 'UNAUTHENTICATED' }, LOGIN, {
        e: u.email,
        p: wrongPassword,
      });
      const limited = ok(
        await call<{ login: { token: string } }>('login again', { operation: 'mutation:login', principal: null }, LOGIN, {
          e: u.email,
          p: u.password,
        }),
      ).login.token;
      secrets.limitedSession2 = limited;
      const wrong = wrongCode(u.secret!);
      secrets.wrongCode = wrong;
      await call(
        'wrong code',
        { operation: 'mutation:verifyTotp', principal: id, outcome: 'UNAUTHENTICATED' },
        VERIFY,
        { c: wrong },
        limited,
      );
      insaneId = 'not a sane id <script>';
      const anonymous = await call(
        'me without a token',
        { operation: 'query:me', principal: null, outcome: 'UNAUTHENTICATED' },
        ME,
        {},
        null,
        { 'x-request-id': insaneId },
      );
      insaneAnswer = anonymous.headers.get('x-request-id');
      await call('unparsable', { operation: 'invalid', principal: null, outcome: 'BAD_USER_INPUT' }, '{ me { id ');

      // Password reset through the mailed link, then the (already enrolled) secret confirmed again.
      expect(
        ok(
          await call<{ requestPasswordReset: boolean }>(
            'requestPasswordReset',
            { operation: 'mutation:requestPasswordReset', principal: null },
            RESET_REQUEST,
            { e: u.email },
          ),
        ).requestPasswordReset,
      ).to.equal(true);
      const resetToken = linkToken(await smtp.waitFor(u.email, (m) => /reset-password\?token=/.test(m.text)));
      expect(resetToken).to.match(/^lpa_/);
      secrets.resetToken = resetToken;
      const newPassword = `new passphrase ${randomBytes(6).toString('hex')}`;
      secrets.newPassword = newPassword;
      const reset = ok(
        await call<{ resetPassword: { setupToken: string; secret: string; alreadyEnrolled: boolean } }>(
          'resetPassword',
          { operation: 'mutation:resetPassword', principal: null },
          RESET,
          { t: resetToken, p: newPassword },
        ),
      ).resetPassword;
      expect(reset.alreadyEnrolled).to.equal(true);
      expect(reset.secret).to.equal(u.secret);
      secrets.setupToken = reset.setupToken;
      const code2 = freshCode(u);
      secrets.code2 = code2;
      expect(
        ok(
          await call<{ activateTwoFactor: boolean }>(
            'activateTwoFactor',
            { operation: 'mutation:activateTwoFactor', principal: null },
            ACTIVATE,
            { t: reset.setupToken, c: code2 },
          ),
        ).activateTwoFactor,
      ).to.equal(true);
      const after = ok(
        await call<{ login: { token: string; stage: string } }>(
          'login with the new password',
          { operation: 'mutation:login', principal: null },
          LOGIN,
          { e: u.email, p: newPassword },
        ),
      );
      expect(after.login.stage).to.equal('TOTP_REQUIRED');
      secrets.limitedSession3 = after.login.token;
      // The old session ended with the password change.
      await call('me with an ended session', { operation: 'query:me', principal: null, outcome: 'UNAUTHENTICATED' }, ME, {}, session);

      const metrics = await metricsAt(server.base);
      expect(metrics.status).to.equal(200);
      metricsText = metrics.body;

      // Stop the process: afterwards its whole stderr has been read.
      const exit = await server.stop();
      expect(exit.code, server.proc.stderr()).to.equal(0);
      stderr = server.proc.stderr();
      stdout = server.proc.stdout();
      lines = logLines(server.proc);
    });

    after(async () => {
      await server?.stop();
      await orm?.close(true);
      await smtp?.close();
      await dropPgSchema(schema);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('writes only JSON lines to stderr and nothing to stdout', () => {
      expect(stdout).to.equal('');
      const all = stderr.split('\n').filter((l) => l !== '');
      expect(all.length).to.be.greaterThan(0);
      for (const line of all) expect(() => JSON.parse(line), line).to.not.throw();
      expect(lines.length).to.equal(all.length);
    });

    it('never logs a password, TOTP code, TOTP secret, session, API or account token', () => {
      for (const [what, value] of Object.entries(secrets)) {
        expect(value.length, what).to.be.greaterThan(5);
        expect(stderr.includes(value), `the log contains the ${what} (${value})`).to.equal(false);
      }
      // Nothing token-shaped at all, and no query text or variables.
      expect(stderr).to.not.match(/lp[sat]_[A-Za-z0-9_-]{8,}/);
      expect(stderr).to.not.contain('mutation(');
      expect(stderr).to.not.contain('newPassword');
      expect(stderr).to.not.contain('[redacted]');
    });

    it('logs one "graphql" line per GraphQL request, with request id, operation, principal, duration and outcome', () => {
      const graphql = lines.filter((l) => l.msg === 'graphql');
      expect(graphql.length, JSON.stringify(graphql, null, 1)).to.equal(sent.length);
      for (const s of sent) {
        const mine = graphql.filter((l) => l.requestId === s.requestId);
        expect(mine, `${s.what}: one line with requestId ${s.requestId}`).to.have.length(1);
        const line = mine[0]!;
        expect(line.level, s.what).to.equal('info');
        expect(line.operation, s.what).to.equal(s.operation);
        expect(line.principal, s.what).to.equal(s.principal);
        expect(line.outcome, s.what).to.equal(s.outcome);
        expect(line.durationMs, s.what).to.be.a('number');
        expect(line.durationMs as number, s.what).to.be.at.least(0);
        expect(line.durationMs as number, s.what).to.be.below(60_000);
        if (s.outcome === 'ok') expect(line.errorCodes, s.what).to.equal(undefined);
        else expect(line.errorCodes, s.what).to.deep.equal([s.outcome]);
      }
      // Request ids are unique per request.
      expect(new Set(sent.map((s) => s.requestId)).size).to.equal(sent.length);
    });

    it('uses a sane client X-Request-Id (echoed and logged) and replaces an unusable one', () => {
      expect(sent.find((s) => s.what === 'me (API token)')!.requestId).to.equal(saneId);
      expect(lines.filter((l) => l.requestId === saneId)).to.have.length(1);
      expect(insaneAnswer).to.be.a('string');
      expect(insaneAnswer).to.not.equal(insaneId);
      expect(insaneAnswer).to.match(UUID);
      expect(stderr).to.not.contain('<script>');
      // Server-made ids are UUIDs.
      for (const s of sent.filter((x) => x.requestId !== saneId)) expect(s.requestId, s.what).to.match(UUID);
    });

    it('logs the client operation name only as operationName, never as the operation', () => {
      const evil = lines.filter((l) => l.msg === 'graphql' && l.operationName === 'evil_label_123');
      expect(evil).to.have.length(1);
      expect(evil[0]!.operation).to.equal('query:me');
      for (const l of lines.filter((x) => x.msg === 'graphql')) expect(String(l.operation)).to.not.contain('evil');
    });

    it('serves Prometheus metrics outside production: requests by operation and outcome, errors, failed logins and codes, the pool', () => {
      const samples = parseMetrics(metricsText);
      expect(valueOf(samples, 'portal_graphql_requests_total', { operation: 'mutation:login', outcome: 'ok' })).to.equal(3);
      expect(valueOf(samples, 'portal_graphql_requests_total', { operation: 'mutation:login', outcome: 'UNAUTHENTICATED' })).to.equal(1);
      expect(valueOf(samples, 'portal_graphql_requests_total', { operation: 'mutation:verifyTotp', outcome: 'ok' })).to.equal(1);
      expect(valueOf(samples, 'portal_graphql_requests_total', { operation: 'mutation:verifyTotp', outcome: 'UNAUTHENTICATED' })).to.equal(
        1,
      );
      expect(valueOf(samples, 'portal_graphql_requests_total', { operation: 'query:me', outcome: 'ok' })).to.equal(3);
      expect(valueOf(samples, 'portal_graphql_requests_total', { operation: 'query:me', outcome: 'UNAUTHENTICATED' })).to.equal(2);
      expect(valueOf(samples, 'portal_graphql_requests_total', { operation: 'invalid', outcome: 'BAD_USER_INPUT' })).to.equal(1);
      expect(valueOf(samples, 'portal_graphql_requests_total')).to.equal(sent.length);
      // Every sent request is counted under its operation and outcome.
      const expected = new Map<string, number>();
      for (const s of sent) expected.set(`${s.operation} ${s.outcome}`, (expected.get(`${s.operation} ${s.outcome}`) ?? 0) + 1);
      for (const [key, n] of expected) {
        const [operation, outcome] = key.split(' ');
        expect(valueOf(samples, 'portal_graphql_requests_total', { operation: operation!, outcome: outcome! }), key).to.equal(n);
      }

      expect(valueOf(samples, 'portal_graphql_errors_total', { code: 'UNAUTHENTICATED' })).to.equal(4);
      expect(valueOf(samples, 'portal_graphql_errors_total', { code: 'BAD_USER_INPUT' })).to.equal(1);
      expect(valueOf(samples, 'portal_login_failures_total')).to.equal(1);
      expect(valueOf(samples, 'portal_totp_failures_total')).to.equal(1);
      expect(valueOf(samples, 'portal_graphql_request_duration_seconds_count', { operation: 'mutation:login' })).to.equal(4);
      for (const state of ['used', 'free', 'pending']) {
        expect(valueOf(samples, 'portal_db_pool_connections', { state }), state).to.be.a('number');
      }

      // Labels come from the schema, never from the client.
      expect(metricsText).to.not.contain('evil_label_123');
      for (const s of samples.filter((x) => x.labels.operation !== undefined)) {
        expect(s.labels.operation).to.match(/^(invalid|(query|mutation|subscription):[A-Za-z_(),.]+)$/);
      }
    });
  });
}

describe('GET /metrics access', function () {
  this.timeout(60000);
  let dir: string;
  let schema: string;
  let server: RunningServer | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lp-metrics-'));
    schema = `t_${randomBytes(6).toString('hex')}`;
    server = undefined;
  });

  afterEach(async () => {
    await server?.stop();
    await dropPgSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  });

  const TOKEN = `metrics-${randomBytes(16).toString('hex')}`;

  it('in production without METRICS_TOKEN: 404, with or without a bearer token', async () => {
    server = await startServerProcess(testEnv(dir, schema, { NODE_ENV: 'production', LOG_LEVEL: 'info' }), dir);
    for (const auth of [undefined, `Bearer ${TOKEN}`, 'Bearer ']) {
      const res = await metricsAt(server.base, auth);
      expect(res.status, String(auth)).to.equal(404);
      expect(res.body).to.not.contain('portal_');
    }
    // The API itself works.
    expect((await server.gql('{ __typename }')).status).to.equal(200);
  });

  it('in production with METRICS_TOKEN: 401 without or with a wrong bearer token, 200 with the right one', async () => {
    server = await startServerProcess(testEnv(dir, schema, { NODE_ENV: 'production', LOG_LEVEL: 'info', METRICS_TOKEN: TOKEN }), dir);
    for (const auth of [
      undefined,
      'Bearer ',
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Basic ${TOKEN}`,
      TOKEN,
      `Bearer wrong-${TOKEN}`,
    ]) {
      const res = await metricsAt(server.base, auth);
      expect(res.status, String(auth)).to.equal(401);
      expect(res.body).to.not.contain('portal_');
    }
    await server.gql('{ __typename }');
    // Combinations of root fields share one label: an anonymous client cannot grow the series.
    await server.gql('{ me { id } __typename }');
    await server.gql('{ __typename me { id } license(id: "x") { id } }');
    const res = await metricsAt(server.base, `Bearer ${TOKEN}`);
    expect(res.status).to.equal(200);
    expect(res.type).to.match(/^text\/plain/);
    const samples = parseMetrics(res.body);
    expect(valueOf(samples, 'portal_graphql_requests_total', { operation: 'query:__typename', outcome: 'ok' })).to.equal(1);
    expect(valueOf(samples, 'portal_graphql_requests_total', { operation: 'query:(several)', outcome: 'UNAUTHENTICATED' })).to.equal(2);
    const labels = samples.filter((s) => s.name === 'portal_graphql_requests_total').map((s) => s.labels.operation);
    expect(labels.filter((l) => l?.includes(','))).to.deep.equal([]);
    expect(res.body).to.contain('portal_db_pool_connections');
    // The token never reaches the log.
    const exit = await server.stop();
    expect(exit, server.proc.stderr()).to.deep.equal({ code: 0, signal: null });
    expect(server.proc.stderr()).to.not.contain(TOKEN);
  });

  it('outside production with METRICS_TOKEN: the token is required too', async () => {
    server = await startServerProcess(testEnv(dir, schema, { LOG_LEVEL: 'info', METRICS_TOKEN: TOKEN }), dir);
    expect((await metricsAt(server.base)).status).to.equal(401);
    expect((await metricsAt(server.base, `Bearer ${TOKEN}x`)).status).to.equal(401);
    expect((await metricsAt(server.base, `Bearer ${TOKEN}`)).status).to.equal(200);
  });
});
