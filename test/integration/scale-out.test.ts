// Several server processes on one database (FLOWS.md section 4: "Counters live in the database, so
// they hold across several server processes"; sections 3 and 7: single-use tokens and TOTP steps).
// Two real `node dist/src/main.js` processes, A and B, share one PostgreSQL schema; the test seeds
// fixtures through an ORM of its own on that schema and talks to A and B over HTTP only. A smaller
// SQLite variant runs two processes on one database file (WAL).
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Role, SessionStage } from '../../src/common/enums';
import type { Config } from '../../src/config';
import { openOrm, type Orm } from '../../src/db/orm';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { AccountTokenPurpose } from '../../src/modules/auth/account-token.entity';
import { AccountTokenService } from '../../src/modules/auth/account-token.service';
import { Background } from '../../src/common/background';
import { createLogger } from '../../src/logger';
import { Mailer } from '../../src/modules/mail/mailer';
import { ExpiryReminderService } from '../../src/modules/reminders/expiry-reminder.service';
import { SessionService } from '../../src/modules/auth/session.service';
import { User } from '../../src/modules/users/user.entity';
import { totpCode } from '../../src/modules/auth/totp';
import type { Customer } from '../../src/modules/customers/customer.entity';
import { License } from '../../src/modules/licenses/license.entity';
import type { Reseller } from '../../src/modules/resellers/reseller.entity';
import { migrationsList } from '../../migrations';
import { freshCode, makeCustomer, makeLicense, makeReseller, makeUser, signIn, wrongCode, type TestUser } from '../factories';
import { runCli } from '../helpers/cli';
import { linkToken, startSmtpCapture, type SmtpCapture } from '../helpers/mail';
import { dropPgSchema, factoryTarget, openOrmFor, startServerProcess, type RunningServer } from '../helpers/process';
import { codeOf, ok, testEnv, usingPostgres, type GqlResult, type TestServer } from '../helpers/server';

const DAY = 86_400_000;
const KEY = /[2-9A-HJ-NP-Z]{5}(?:-[2-9A-HJ-NP-Z]{5}){4}/g;

const LOGIN = 'mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage } }';
const VERIFY = 'mutation($c: String!) { verifyTotp(code: $c) { token stage } }';
const ME = '{ me { id email } }';
const LOGOUT = 'mutation { logout }';
const RESET_REQUEST = 'mutation($e: String!) { requestPasswordReset(email: $e) }';
const RESET = 'mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken alreadyEnrolled } }';
const CREATE = 'mutation($input: CreateLicenseInput!) { createLicense(input: $input) { id key customer { id } } }';
const DEACTIVATE = 'mutation($id: ID!, $r: String) { deactivateUser(userId: $id, reason: $r) { id active } }';
const SUSPEND = 'mutation($id: ID!, $r: String!) { suspendReseller(id: $id, reason: $r) { id suspendedAt } }';
const CREATE_TOKEN = 'mutation($n: String!) { createApiToken(name: $n) { token } }';

type Login = { login: { token: string; stage: string } };

function login(server: RunningServer, u: TestUser, password = u.password, code: string | null = null) {
  return server.gql<Login>(LOGIN, { e: u.email, p: password, c: code });
}

/** Password only, on the given process: a TOTP_REQUIRED session token. */
async function limitedSession(server: RunningServer, u: TestUser): Promise<string> {
  const res = ok(await login(server, u));
  expect(res.login.stage).to.equal('TOTP_REQUIRED');
  return res.login.token;
}

/** Both processes at once, against one database that has not been migrated yet. */
async function startPair(env: Record<string, string>, dir: string): Promise<[RunningServer, RunningServer]> {
  const started = await Promise.allSettled([startServerProcess(env, dir), startServerProcess(env, dir)]);
  const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (running.length < 2) {
    await Promise.all(running.map((s) => s.stop()));
    const reasons = started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
    throw new Error(`not both processes started: ${reasons.join(' | ')}`);
  }
  return [running[0]!, running[1]!];
}

interface Cluster {
  a: RunningServer;
  b: RunningServer;
  orm: Orm;
  config: Config;
  /** For the factories: seeds through the test's ORM, signs in through A. */
  t: TestServer;
}

// The scenarios both engines share.

async function lockoutHoldsAcrossProcesses(c: Cluster) {
  const u = await makeUser(c.t, { role: Role.ADMIN });
  for (let i = 0; i < 10; i++) {
    const res = await login(c.a, u, 'not the password');
    expect(codeOf(res), `attempt ${i + 1}`).to.equal('UNAUTHENTICATED');
  }
  // The account is locked on B too, even with the right password (and with a right code).
  expect(codeOf(await login(c.b, u))).to.equal('RATE_LIMITED');
  expect(codeOf(await login(c.b, u, u.password, freshCode(u)))).to.equal('RATE_LIMITED');
  expect(codeOf(await login(c.a, u))).to.equal('RATE_LIMITED');
  // Per account: another user signs in on B as usual.
  const other = await makeUser(c.t, { role: Role.ADMIN });
  expect(ok(await login(c.b, other)).login.stage).to.equal('TOTP_REQUIRED');
}

async function failuresAddUpAcrossProcesses(c: Cluster) {
  const u = await makeUser(c.t, { role: Role.ADMIN });
  for (let i = 0; i < 10; i++) {
    const server = i % 2 === 0 ? c.a : c.b;
    expect(codeOf(await login(server, u, `wrong password ${i}`)), `attempt ${i + 1}`).to.equal('UNAUTHENTICATED');
  }
  expect(codeOf(await login(c.a, u))).to.equal('RATE_LIMITED');
  expect(codeOf(await login(c.b, u))).to.equal('RATE_LIMITED');
}

async function idempotentAcrossProcesses(c: Cluster, customer: Customer, reseller: Reseller) {
  const u = await makeUser(c.t, { role: Role.RESELLER, reseller });
  const token = await signIn(c.t, u); // a session made on A works on B: sessions live in the database
  const idempotencyKey = `order-${randomBytes(4).toString('hex')}`;
  const input = {
    customerId: customer.id,
    kind: 'MDM',
    seats: 5,
    validUntil: new Date(Date.now() + 90 * DAY).toISOString(),
    idempotencyKey,
  };
  type Created = { createLicense: { id: string; key: string; customer: { id: string } } };
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? c.a : c.b).gql<Created>(CREATE, { input }, token)));
  for (const res of results) ok(res);
  const ids = new Set(results.map((r) => r.data!.createLicense.id));
  expect(ids.size, JSON.stringify([...ids])).to.equal(1);
  expect(new Set(results.map((r) => r.data!.createLicense.key)).size).to.equal(1);
  const id = [...ids][0]!;

  const em = c.orm.em.fork();
  expect(await em.count(License, { idempotencyKey })).to.equal(1);
  expect(await em.count(License, { customer: customer.id, idempotencyOwnerId: u.user.id })).to.equal(1);
  expect(await em.count(AuditEvent, { action: 'LICENSE_CREATED', targetId: id })).to.equal(1);

  // Later retries on either process answer with the same license.
  expect(ok(await c.b.gql<Created>(CREATE, { input }, token)).createLicense.id).to.equal(id);
  expect(ok(await c.a.gql<Created>(CREATE, { input: { ...input, seats: 7 } }, token)).createLicense.id).to.equal(id);
  expect(await c.orm.em.fork().count(License, { idempotencyKey })).to.equal(1);
}

describe('several server processes on one PostgreSQL database', function () {
  this.timeout(120000);
  let dir: string | undefined;
  let schema: string | undefined;
  let smtp: SmtpCapture | undefined;
  let servers: RunningServer[] = [];
  let c: Cluster;
  let reseller: Reseller;
  let customer: Customer;
  let env: Record<string, string>;

  before(async function () {
    // Needs a PostgreSQL server: skipped in the SQLite pass, always run when TEST_DATABASE_URL is set (CI).
    if (!usingPostgres()) this.skip();
    dir = mkdtempSync(join(tmpdir(), 'lp-scale-'));
    schema = `t_${randomBytes(6).toString('hex')}`;
    smtp = await startSmtpCapture();
    env = testEnv(dir, schema, { LOG_LEVEL: 'info', SMTP_URL: smtp.url });
    // The schema exists (as a database does in production) but is empty: both processes start at once
    // and race for the migrations.
    const admin = await openOrm({ engine: 'postgresql', url: process.env.TEST_DATABASE_URL! });
    try {
      await admin.em.getConnection().execute(`create schema "${schema}"`);
    } finally {
      await admin.close(true);
    }
    const [a, b] = await startPair(env, dir);
    servers = [a, b];
    const { orm, config } = await openOrmFor(env);
    c = { a, b, orm, config, t: factoryTarget(orm, config, a) };
    reseller = await makeReseller(c.t);
    customer = await makeCustomer(c.t, reseller);
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await c?.orm.close(true);
    await smtp?.close();
    if (schema && usingPostgres()) await dropPgSchema(schema);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('two processes started at once on an empty schema both come up; the migrations ran once', async () => {
    for (const s of [c.a, c.b]) {
      const health = await fetch(`${s.base}/healthz`);
      expect(health.status).to.equal(200);
    }
    const rows = await c.orm.em.getConnection().execute<{ name: string }[]>('select name from mikro_orm_migrations');
    expect(rows.map((r) => r.name).sort()).to.deep.equal(migrationsList.map((m) => m.name).sort());
    expect(await c.orm.getMigrator().getPendingMigrations()).to.deep.equal([]);
  });

  it('a session made on A works on B, and a logout on A ends it on B', async () => {
    const u = await makeUser(c.t, { role: Role.ADMIN });
    const token = await signIn(c.t, u);
    expect(ok(await c.b.gql<{ me: { id: string } }>(ME, {}, token)).me.id).to.equal(u.user.id);
    ok(await c.a.gql(LOGOUT, {}, token));
    expect(codeOf(await c.b.gql(ME, {}, token))).to.equal('UNAUTHENTICATED');
  });

  describe('login attempt limit (10 per account)', () => {
    it('10 wrong passwords on A lock the account on B, even for the right password', () => lockoutHoldsAcrossProcesses(c));
    it('failures on A and on B add up to one lockout', () => failuresAddUpAcrossProcesses(c));
  });

  describe('TOTP attempt limit (5 per user)', () => {
    it('5 wrong codes on A lock TOTP verification on B, even for a correct code', async () => {
      const u = await makeUser(c.t, { role: Role.ADMIN });
      const onA = await limitedSession(c.a, u);
      for (let i = 0; i < 5; i++) {
        expect(codeOf(await c.a.gql(VERIFY, { c: wrongCode(u.secret!) }, onA)), `attempt ${i + 1}`).to.equal('UNAUTHENTICATED');
      }
      // The password is still right: B hands out a limited session, but refuses every code.
      const onB = await limitedSession(c.b, u);
      expect(codeOf(await c.b.gql(VERIFY, { c: freshCode(u) }, onB))).to.equal('RATE_LIMITED');
      expect(codeOf(await login(c.b, u, u.password, freshCode(u)))).to.equal('RATE_LIMITED');
      expect(codeOf(await c.a.gql(VERIFY, { c: totpCode(u.secret!) }, onA))).to.equal('RATE_LIMITED');
    });

    it('wrong codes on A and on B add up (3 + 2) to one lockout', async () => {
      const u = await makeUser(c.t, { role: Role.ADMIN });
      const onA = await limitedSession(c.a, u);
      const onB = await limitedSession(c.b, u);
      for (let i = 0; i < 3; i++) expect(codeOf(await c.a.gql(VERIFY, { c: wrongCode(u.secret!) }, onA))).to.equal('UNAUTHENTICATED');
      for (let i = 0; i < 2; i++) expect(codeOf(await c.b.gql(VERIFY, { c: wrongCode(u.secret!) }, onB))).to.equal('UNAUTHENTICATED');
      expect(codeOf(await c.a.gql(VERIFY, { c: freshCode(u) }, onA))).to.equal('RATE_LIMITED');
    });
  });

  describe('TOTP replay', () => {
    it('a code accepted on A is refused on B', async () => {
      const u = await makeUser(c.t, { role: Role.ADMIN });
      const code = totpCode(u.secret!);
      expect(ok(await login(c.a, u, u.password, code)).login.stage).to.equal('AUTHENTICATED');
      const replay = await login(c.b, u, u.password, code);
      expect(codeOf(replay)).to.equal('UNAUTHENTICATED');
      expect(replay.data).to.equal(null);
      // Also through verifyTotp on a limited session made on B.
      const onB = await limitedSession(c.b, u);
      expect(codeOf(await c.b.gql(VERIFY, { c: code }, onB))).to.equal('UNAUTHENTICATED');
    });

    it('one code sent to A and B at the same moment signs in exactly once', async () => {
      const u = await makeUser(c.t, { role: Role.ADMIN });
      const [onA, onB] = await Promise.all([limitedSession(c.a, u), limitedSession(c.b, u)]);
      const code = totpCode(u.secret!);
      const results = await Promise.all([
        c.a.gql<{ verifyTotp: { stage: string } }>(VERIFY, { c: code }, onA),
        c.b.gql<{ verifyTotp: { stage: string } }>(VERIFY, { c: code }, onB),
      ]);
      const stages = results.map((r) => r.data?.verifyTotp.stage ?? codeOf(r)).sort();
      expect(stages).to.deep.equal(['AUTHENTICATED', 'UNAUTHENTICATED']);
    });
  });

  describe('single-use account tokens', () => {
    it('a mailed reset token used on A is refused on B', async () => {
      const u = await makeUser(c.t, { role: Role.ADMIN });
      expect(ok(await c.a.gql<{ requestPasswordReset: boolean }>(RESET_REQUEST, { e: u.email })).requestPasswordReset).to.equal(true);
      const token = linkToken(await smtp!.waitFor(u.email, (m) => /reset-password\?token=/.test(m.text)));
      const newPassword = `new passphrase ${randomBytes(6).toString('hex')}`;
      const used = ok(
        await c.a.gql<{ resetPassword: { setupToken: string; alreadyEnrolled: boolean } }>(RESET, { t: token, p: newPassword }),
      );
      expect(used.resetPassword.alreadyEnrolled).to.equal(true);

      const again = await c.b.gql(RESET, { t: token, p: `other passphrase ${randomBytes(6).toString('hex')}` });
      expect(codeOf(again)).to.equal('BAD_USER_INPUT');
      expect(again.data).to.equal(null);
      // The first reset stands: the new password signs in (on B), the refused one does not.
      expect(ok(await login(c.b, u, newPassword)).login.stage).to.equal('TOTP_REQUIRED');
    });

    it('one token sent to A and B at the same moment is used exactly once', async () => {
      const u = await makeUser(c.t, { role: Role.ADMIN });
      const em = c.orm.em.fork();
      const token = await new AccountTokenService().issue(em, u.user.id, AccountTokenPurpose.PASSWORD_RESET);
      await em.flush();
      const passwords = [`first passphrase ${randomBytes(6).toString('hex')}`, `second passphrase ${randomBytes(6).toString('hex')}`];
      const results = await Promise.all([c.a.gql(RESET, { t: token, p: passwords[0] }), c.b.gql(RESET, { t: token, p: passwords[1] })]);
      const outcomes = results.map((r) => codeOf(r) ?? 'ok');
      expect([...outcomes].sort(), JSON.stringify(results.map((r) => r.errors))).to.deep.equal(['BAD_USER_INPUT', 'ok']);
      const winner = passwords[outcomes.indexOf('ok')]!;
      const loser = passwords[outcomes.indexOf('BAD_USER_INPUT')]!;
      expect(ok(await login(c.a, u, winner)).login.stage).to.equal('TOTP_REQUIRED');
      expect(codeOf(await login(c.b, u, loser))).to.equal('UNAUTHENTICATED');
    });
  });

  describe('idempotent createLicense', () => {
    it('20 concurrent retries with one idempotencyKey, 10 on A and 10 on B, create one license', () =>
      idempotentAcrossProcesses(c, customer, reseller));
  });

  describe('expiry reminders', () => {
    it('two send-expiry-reminders CLI processes at the same moment send each reminder exactly once', async () => {
      const capture = await startSmtpCapture();
      try {
        const seeded = await seedReminders(c.t);
        const cliEnv = testEnv(dir!, schema!, { SMTP_URL: capture.url, LOG_LEVEL: 'error' });
        const runs = await Promise.all([runCli(['send-expiry-reminders'], cliEnv), runCli(['send-expiry-reminders'], cliEnv)]);
        let reminded = 0;
        let mails = 0;
        for (const run of runs) {
          expect(run.code, run.stderr).to.equal(0);
          const m = /^(\d+) license reminder\(s\) in (\d+) e-mail\(s\)\.$/m.exec(run.stdout);
          expect(m, run.stdout).to.not.equal(null);
          reminded += Number(m![1]);
          mails += Number(m![2]);
        }
        expect(reminded).to.equal(seeded.total);
        expect(capture.mails.length).to.equal(mails);
        expectEachReminderOnce(capture, seeded);

        // A third run finds nothing left to send.
        const third = await runCli(['send-expiry-reminders'], cliEnv);
        expect(third.code, third.stderr).to.equal(0);
        expect(third.stdout).to.contain('0 license reminder(s) in 0 e-mail(s).');
        expect(capture.mails.length).to.equal(mails);
      } finally {
        await capture.close();
      }
    });

    it('four runs started in the same tick, each on a connection pool of its own, send each reminder exactly once', async () => {
      // Process start-up times differ by far more than a run's claims take, so the CLI test above
      // rarely overlaps for real; these runs do.
      const capture = await startSmtpCapture();
      const orms: Orm[] = [];
      try {
        const seeded = await seedReminders(c.t);
        const log = createLogger('silent');
        const config = { ...c.config, smtpUrl: capture.url };
        const services: ExpiryReminderService[] = [];
        for (let i = 0; i < 4; i++) {
          orms.push(await openOrm(c.config.database));
          services.push(new ExpiryReminderService(new Mailer(config, log, new Background(log)), log, config));
        }
        // Connections open and warm, so that the runs reach their claims together.
        await Promise.all(orms.map((o) => o.em.getConnection().execute('select 1')));
        const now = new Date();
        const results = await Promise.all(services.map((svc, i) => svc.run(orms[i]!.em.fork(), now)));
        expect(results.reduce((n, r) => n + r.reminded, 0)).to.equal(seeded.total);
        expect(capture.mails.length).to.equal(results.reduce((n, r) => n + r.mails, 0));
        expectEachReminderOnce(capture, seeded);
      } finally {
        await Promise.all(orms.map((o) => o.close(true)));
        await capture.close();
      }
    });
  });

  describe('taking access away across processes', () => {
    let admin: TestUser;
    let adminSession: string;

    before(async () => {
      admin = await makeUser(c.t, { role: Role.ADMIN });
      adminSession = await signIn(c.t, admin); // on A
    });

    /** UNAUTHENTICATED on the given process, as for a credential that never existed. */
    async function expectDeadOn(server: RunningServer, token: string) {
      const res = await server.gql(ME, {}, token);
      expect(res.status).to.equal(200);
      expect(codeOf(res), JSON.stringify(res.errors)).to.equal('UNAUTHENTICATED');
      expect(res.data).to.equal(null);
    }

    async function expectActsOn(server: RunningServer, token: string, u: TestUser) {
      expect(ok(await server.gql<{ me: { id: string } }>(ME, {}, token)).me.id).to.equal(u.user.id);
    }

    it('deactivateUser on A: the next request on B with the user session answers UNAUTHENTICATED', async () => {
      const u = await makeUser(c.t, { role: Role.RESELLER, reseller });
      const session = await signIn(c.t, u); // made on A
      await expectActsOn(c.b, session, u);
      const done = ok(await c.a.gql<{ deactivateUser: { active: boolean } }>(DEACTIVATE, { id: u.user.id, r: 'left' }, adminSession));
      expect(done.deactivateUser.active).to.equal(false);
      await expectDeadOn(c.b, session);
      // On B the right password fails like a wrong one.
      const right = await login(c.b, u);
      const wrong = await login(c.b, u, 'not the password');
      expect(codeOf(right)).to.equal('UNAUTHENTICATED');
      expect(right.errors![0]!.message).to.equal(wrong.errors![0]!.message);
    });

    it("suspendReseller on A: the reseller user's session and API token answer UNAUTHENTICATED on B", async () => {
      const suspended = await makeReseller(c.t);
      const u = await makeUser(c.t, { role: Role.RESELLER, reseller: suspended });
      const session = await signIn(c.t, u); // made on A
      const token = ok(await c.b.gql<{ createApiToken: { token: string } }>(CREATE_TOKEN, { n: 'script' }, session)).createApiToken.token;
      await expectActsOn(c.b, session, u);
      await expectActsOn(c.b, token, u);
      const done = ok(
        await c.a.gql<{ suspendReseller: { suspendedAt: string | null } }>(SUSPEND, { id: suspended.id, r: 'unpaid' }, adminSession),
      );
      expect(done.suspendReseller.suspendedAt).to.be.a('string');
      await expectDeadOn(c.b, session);
      await expectDeadOn(c.b, token);
      const refused = await login(c.b, u);
      expect(codeOf(refused)).to.equal('FORBIDDEN');
      expect(refused.errors![0]!.extensions!.reason).to.equal('RESELLER_SUSPENDED');
    });

    it('the only two active admins deactivate each other at the same moment, one on A and one on B: one wins, the other gets CONFLICT (5 rounds)', async () => {
      // The schema holds the admins of the tests above: park them, so that these two are the only active ones.
      const em = c.orm.em.fork();
      const parked = (await em.find(User, { role: Role.ADMIN, active: true })).map((u) => u.id);
      await em.nativeUpdate(User, { id: { $in: parked } }, { active: false });
      const connection = c.orm.em.getConnection();
      const sessions = new SessionService(undefined as never);
      /** A fresh AUTHENTICATED session of the user (the previous one ended with its deactivation). */
      const sessionOf = async (u: TestUser) => {
        const fork = c.orm.em.fork();
        const token = sessions.create(fork, u.user.id, SessionStage.AUTHENTICATED);
        await fork.flush();
        return token;
      };
      try {
        const pair = [await makeUser(c.t, { role: Role.ADMIN }), await makeUser(c.t, { role: Role.ADMIN })] as const;
        const ids = pair.map((u) => u.user.id);
        const tokens = [await sessionOf(pair[0]), await sessionOf(pair[1])];
        type Deactivated = { deactivateUser: { id: string; active: boolean } };
        for (let round = 0; round < 5; round++) {
          // Both requests are held at the same point (the admins' rows, locked here) until both are there:
          // they are authenticated and inside their deactivation when they are let go together.
          const [first, second] = round % 2 === 0 ? [c.a, c.b] : [c.b, c.a];
          let requests!: Promise<[GqlResult<Deactivated>, GqlResult<Deactivated>]>;
          await c.orm.em.fork().transactional(async (tx) => {
            const gate = tx.getConnection();
            const ctx = tx.getTransactionContext();
            const [{ pid }] = (await gate.execute('select pg_backend_pid() as pid', [], 'all', ctx)) as [{ pid: number }];
            await gate.execute(`select id from app_user where role = 'ADMIN' and active = true for update`, [], 'all', ctx);
            requests = Promise.all([
              first.gql<Deactivated>(DEACTIVATE, { id: ids[1], r: `round ${round}` }, tokens[0]),
              second.gql<Deactivated>(DEACTIVATE, { id: ids[0], r: `round ${round}` }, tokens[1]),
            ]);
            const deadline = Date.now() + 20000;
            for (;;) {
              // Waiting for the gate, or for one that waits for it (a row's second waiter queues behind the first).
              const [{ n }] = await connection.execute<{ n: number }[]>(
                'with recursive held(pid) as (select ?::int union select a.pid from pg_stat_activity a join held h on h.pid = any(pg_blocking_pids(a.pid)))' +
                  ' select count(*)::int - 1 as n from held',
                [pid],
              );
              if (n >= 2) break;
              if (Date.now() > deadline) throw new Error(`round ${round}: only ${n} of the 2 deactivations reached the admins' rows`);
              await new Promise((r) => setTimeout(r, 20));
            }
          });
          const results = await requests;
          const outcomes = results.map((r) => (r.errors ? codeOf(r) : 'ok'));
          expect([...outcomes].sort(), `round ${round}: ${JSON.stringify(results.map((r) => r.errors ?? r.data))}`).to.deep.equal([
            'CONFLICT',
            'ok',
          ]);
          const winner = outcomes.indexOf('ok');
          const deactivated = ids[1 - winner]!;
          expect(results[winner]!.data!.deactivateUser).to.deep.equal({ id: deactivated, active: false });
          expect(results[1 - winner]!.errors![0]!.extensions!.reason).to.equal('LAST_ADMIN');
          // Exactly one active admin is left: the winner.
          const active = await c.orm.em.fork().find(User, { role: Role.ADMIN, active: true });
          expect(active.map((u) => u.id)).to.deep.equal([ids[winner]]);
          expect(
            await c.orm.em.fork().count(AuditEvent, { action: 'USER_DEACTIVATED', targetId: deactivated, reason: `round ${round}` }),
          ).to.equal(1);
          expect(
            await c.orm.em.fork().count(AuditEvent, { action: 'USER_DEACTIVATED', targetId: ids[winner], reason: `round ${round}` }),
          ).to.equal(0);
          // The winner still acts; the loser's session ended with its account.
          await expectActsOn(c.b, tokens[winner]!, pair[winner]!);
          await expectDeadOn(c.a, tokens[1 - winner]!);

          await connection.execute('update app_user set active = true, deactivated_at = null where id = ?', [deactivated]);
          tokens[1 - winner] = await sessionOf(pair[1 - winner]!);
        }
      } finally {
        await c.orm.em.fork().nativeUpdate(User, { id: { $in: parked } }, { active: true });
      }
    });
  });
});

interface SeededReminders {
  /** Per reseller with due licenses: its RESELLER users and the keys of its due licenses. */
  due: { users: TestUser[]; keys: string[] }[];
  /** Users who must get no reminder: customer users, users of a reseller with nothing due. */
  quiet: TestUser[];
  total: number;
}

/** Two resellers with 120 due licenses each (240 claims: more than one claim batch) and licenses that are not due. */
async function seedReminders(t: TestServer): Promise<SeededReminders> {
  const now = Date.now();
  const lifetimes = [0.5 * DAY, 3 * DAY, 20 * DAY];
  const due: SeededReminders['due'] = [];
  const quiet: TestUser[] = [];
  for (let r = 0; r < 2; r++) {
    const res = await makeReseller(t);
    const users = [await makeUser(t, { role: Role.RESELLER, reseller: res }), await makeUser(t, { role: Role.RESELLER, reseller: res })];
    const customers = [await makeCustomer(t, res), await makeCustomer(t, res)];
    quiet.push(await makeUser(t, { role: Role.CUSTOMER, customer: customers[0] }));
    const keys: string[] = [];
    for (let i = 0; i < 120; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          makeLicense(t, customers[(i + j) % 2]!, { validUntil: new Date(now + lifetimes[(i + j) % 3]!) }),
        ),
      );
      keys.push(...batch.map((l) => l.key));
    }
    // Not due: later, revoked, already expired.
    await makeLicense(t, customers[0]!, { validUntil: new Date(now + 45 * DAY) });
    await makeLicense(t, customers[0]!, { validUntil: new Date(now + 3 * DAY), revokedAt: new Date(now - DAY) });
    await makeLicense(t, customers[1]!, { validFrom: new Date(now - 10 * DAY), validUntil: new Date(now - DAY) });
    due.push({ users, keys });
  }
  const idle = await makeReseller(t);
  quiet.push(await makeUser(t, { role: Role.RESELLER, reseller: idle }));
  await makeLicense(t, await makeCustomer(t, idle), { validUntil: new Date(now + 60 * DAY) });
  return { due, quiet, total: due.reduce((n, d) => n + d.keys.length, 0) };
}

/** Every reseller user got every due license of its reseller exactly once (over one or more digests), nobody else got any. */
function expectEachReminderOnce(capture: SmtpCapture, seeded: SeededReminders): void {
  for (const { users, keys } of seeded.due) {
    for (const u of users) {
      const received = capture.mails.filter((m) => m.to.includes(u.email)).flatMap((m) => m.text.match(KEY) ?? []);
      expect(received.length, u.email).to.equal(keys.length);
      expect([...received].sort()).to.deep.equal([...keys].sort());
    }
  }
  for (const u of seeded.quiet)
    expect(
      capture.mails.filter((m) => m.to.includes(u.email)),
      u.email,
    ).to.have.length(0);
}

describe('two server processes on one SQLite file', function () {
  this.timeout(120000);
  let dir: string | undefined;
  let servers: RunningServer[] = [];
  let c: Cluster;
  let reseller: Reseller;
  let customer: Customer;

  before(async function () {
    // The PostgreSQL pass covers several processes on PostgreSQL above; this is the SQLite pass's share.
    if (usingPostgres()) this.skip();
    dir = mkdtempSync(join(tmpdir(), 'lp-scale-sqlite-'));
    const env = testEnv(dir, 'unused', { LOG_LEVEL: 'info' });
    expect(env.DATABASE_URL).to.match(/^sqlite:/);
    const [a, b] = await startPair(env, dir);
    servers = [a, b];
    const { orm, config } = await openOrmFor(env);
    c = { a, b, orm, config, t: factoryTarget(orm, config, a) };
    reseller = await makeReseller(c.t);
    customer = await makeCustomer(c.t, reseller);
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await c?.orm.close(true);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('10 wrong passwords on A lock the account on B, even for the right password', () => lockoutHoldsAcrossProcesses(c));
  it('failures on A and on B add up to one lockout', () => failuresAddUpAcrossProcesses(c));
  it('20 concurrent retries with one idempotencyKey, 10 on A and 10 on B, create one license', () =>
    idempotentAcrossProcesses(c, customer, reseller));
});
