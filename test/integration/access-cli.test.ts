// Taking access away at the command line (FLOWS.md section 9), as an operator runs it: `deactivate-user`,
// `reactivate-user`, `suspend-reseller` and `reinstate-reseller` as real child processes against the test
// server's database. What the affected users then observe goes over HTTP to the running server: their
// sessions and API tokens answer UNAUTHENTICATED, a deactivated account's sign-in fails exactly like a
// wrong password, a suspended reseller's users are told RESELLER_SUSPENDED and its licenses show SUSPENDED.
// Exit code 0 when done (also when there was nothing to change), 1 with a one-line `error: ...` otherwise.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { Role } from '../../src/common/enums';
import type { Customer } from '../../src/modules/customers/customer.entity';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { Reseller } from '../../src/modules/resellers/reseller.entity';
import { User } from '../../src/modules/users/user.entity';
import { freshCode, makeCustomer, makeLicense, makeReseller, makeUser, passwordOnly, signIn, type TestUser } from '../factories';
import { runCli, type CliResult } from '../helpers/cli';
import { codeOf, ok, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

const LOGIN = 'mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage } }';
const ME = '{ me { id } }';
const CREATE_TOKEN = 'mutation($n: String!) { createApiToken(name: $n) { token } }';
const LICENSES = 'query($c: ID!) { licenses(first: 100, filter: { customerId: $c }) { edges { node { id status } } } }';

type Login = { login: { token: string; stage: string } };

const unique = () => randomBytes(4).toString('hex');

/** Exit 1 and exactly one line on stderr, `error: ...`; nothing on stdout. */
function failedWithOneLine(res: CliResult, pattern: RegExp): void {
  expect(res.code, `stdout: ${res.stdout} stderr: ${res.stderr}`).to.equal(1);
  expect(res.stderr).to.match(/^error: [^\n]+\n$/);
  expect(res.stderr).to.match(pattern);
  expect(res.stdout).to.equal('');
}

function succeeded(res: CliResult): void {
  expect(res.code, `stdout: ${res.stdout} stderr: ${res.stderr}`).to.equal(0);
  expect(res.stderr).to.equal('');
}

describe('operator CLI: taking access away (deactivate-user, reactivate-user, suspend-reseller, reinstate-reseller)', function () {
  this.timeout(120000);
  let s: TestServer;
  let reseller: Reseller;
  let admin: TestUser;
  let adminSession: string;

  const fork = () => s.app.services.orm.em.fork();
  const cli = (...args: string[]) => runCli(args, s.env);
  const me = (token: string) => s.gql<{ me: { id: string } }>(ME, {}, token);
  const login = (u: TestUser, password = u.password, code: string | null = null) =>
    s.gql<Login>(LOGIN, { e: u.email, p: password, c: code });
  const events = (action: string, targetId: string) => fork().find(AuditEvent, { action, targetId }, { orderBy: { at: 'asc' } });
  const auditCount = () => fork().count(AuditEvent, {});
  const userRow = (u: TestUser) => fork().findOneOrFail(User, u.user.id);
  const resellerRow = (r: Reseller) => fork().findOneOrFail(Reseller, r.id);

  async function expectActsAs(token: string, u: TestUser): Promise<void> {
    const res = await me(token);
    expect(res.status).to.equal(200);
    expect(ok(res).me.id).to.equal(u.user.id);
  }

  async function expectDead(token: string): Promise<void> {
    const res = await me(token);
    expect(res.status).to.equal(200);
    expect(codeOf(res), JSON.stringify(res.errors)).to.equal('UNAUTHENTICATED');
    expect(res.data).to.equal(null);
  }

  async function apiToken(session: string): Promise<string> {
    return ok(await s.gql<{ createApiToken: { token: string } }>(CREATE_TOKEN, { n: `script ${unique()}` }, session)).createApiToken.token;
  }

  async function statuses(customer: Customer): Promise<string[]> {
    const res = ok(await s.gql<{ licenses: { edges: { node: { status: string } }[] } }>(LICENSES, { c: customer.id }, adminSession));
    return res.licenses.edges.map((e) => e.node.status);
  }

  before(async () => {
    s = await startTestServer();
    reseller = await makeReseller(s);
    admin = await makeUser(s, { role: Role.ADMIN });
    adminSession = await signIn(s, admin);
  });

  after(async () => {
    await s?.stop();
  });

  describe('deactivate-user', () => {
    it('ends the session and the API token (UNAUTHENTICATED), sign-in then fails like a wrong password, audited with the reason and no actor', async () => {
      const u = await makeUser(s, { role: Role.RESELLER, reseller });
      const session = await signIn(s, u);
      const token = await apiToken(session);
      await expectActsAs(session, u);
      await expectActsAs(token, u);

      const res = await cli('deactivate-user', '--email', u.email, '--reason', 'left the company');
      succeeded(res);
      expect(res.stdout).to.contain(`Deactivated ${u.email}`);
      expect(res.stdout).to.contain(u.user.id);

      await expectDead(session);
      await expectDead(token);

      // The right password (with a right code, or alone) answers exactly as a wrong one does.
      const wrong = await login(u, 'not the password');
      expect(codeOf(wrong)).to.equal('UNAUTHENTICATED');
      for (const right of [await login(u, u.password, freshCode(u)), await login(u)]) {
        expect(codeOf(right), JSON.stringify(right.errors)).to.equal('UNAUTHENTICATED');
        expect(right.errors![0]!.message).to.equal(wrong.errors![0]!.message);
        expect(right.status).to.equal(wrong.status);
        expect(right.data).to.equal(null);
      }

      const row = await userRow(u);
      expect(row.active).to.equal(false);
      expect(row.deactivatedAt).to.be.instanceOf(Date);
      const recorded = await events('USER_DEACTIVATED', u.user.id);
      expect(recorded).to.have.length(1);
      expect(recorded[0]!.actorId).to.equal(null);
      expect(recorded[0]!.reason).to.equal('left the company');
      expect(JSON.parse(recorded[0]!.changes!)).to.deep.equal({ active: { from: true, to: false } });
    });

    it('run again: exit 0, "already deactivated", and no second USER_DEACTIVATED event', async () => {
      const u = await makeUser(s, { role: Role.CUSTOMER, customer: await makeCustomer(s, reseller) });
      succeeded(await cli('deactivate-user', '--email', u.email, '--reason', 'contract ended'));
      const again = await cli('deactivate-user', '--email', u.email, '--reason', 'contract ended');
      succeeded(again);
      expect(again.stdout).to.contain(u.email);
      expect(again.stdout).to.contain('already deactivated');
      expect(await events('USER_DEACTIVATED', u.user.id)).to.have.length(1);
      expect((await userRow(u)).active).to.equal(false);
    });

    it('an unknown e-mail address: exit 1 and one line naming the address; nothing changed', async () => {
      const before = await auditCount();
      const activeBefore = await fork().count(User, { active: true });
      const address = `nobody-${unique()}@example.test`;
      failedWithOneLine(await cli('deactivate-user', '--email', address, '--reason', 'typo'), new RegExp(address.replace(/\./g, '\\.')));
      expect(await auditCount()).to.equal(before);
      expect(await fork().count(User, { active: true })).to.equal(activeBefore);
    });

    it('without --email: exit 1 with the usage error', async () => {
      failedWithOneLine(await cli('deactivate-user', '--reason', 'no address'), /deactivate-user needs --email/);
    });

    it('the last active ADMIN: exit 1 (CONFLICT, last active admin), still active and signed in', async () => {
      // The test's admin is the only active one for this test; any others are parked and restored after.
      const others = (await fork().find(User, { role: Role.ADMIN, active: true, id: { $ne: admin.user.id } })).map((u) => u.id);
      await fork().nativeUpdate(User, { id: { $in: others } }, { active: false });
      try {
        const before = await auditCount();
        failedWithOneLine(await cli('deactivate-user', '--email', admin.email, '--reason', 'oops'), /last active admin/);
        expect((await userRow(admin)).active).to.equal(true);
        expect(await auditCount()).to.equal(before);
        await expectActsAs(adminSession, admin);
      } finally {
        await fork().nativeUpdate(User, { id: { $in: others } }, { active: true });
      }
    });

    it('a reason of 501 characters, or an empty one: exit 1, the user stays active and signed in', async () => {
      const u = await makeUser(s, { role: Role.RESELLER, reseller });
      const session = await signIn(s, u);
      const before = await auditCount();
      failedWithOneLine(await cli('deactivate-user', '--email', u.email, '--reason', 'x'.repeat(501)), /reason must have at most 500/);
      failedWithOneLine(await cli('deactivate-user', '--email', u.email, '--reason', ''), /reason must not be empty/);
      expect((await userRow(u)).active).to.equal(true);
      expect(await auditCount()).to.equal(before);
      await expectActsAs(session, u);
      // 500 characters are fine.
      succeeded(await cli('deactivate-user', '--email', u.email, '--reason', 'y'.repeat(500)));
      expect((await events('USER_DEACTIVATED', u.user.id))[0]!.reason).to.equal('y'.repeat(500));
      await expectDead(session);
    });
  });

  describe('reactivate-user', () => {
    it('the user signs in again with password and TOTP: 2FA is as it was; audited with no actor', async () => {
      const u = await makeUser(s, { role: Role.RESELLER, reseller });
      const session = await signIn(s, u);
      succeeded(await cli('deactivate-user', '--email', u.email));
      await expectDead(session);

      const res = await cli('reactivate-user', '--email', u.email);
      succeeded(res);
      expect(res.stdout).to.contain(`Reactivated ${u.email}`);
      // The old session stays ended; a new sign-in needs the password and the TOTP code as before.
      await expectDead(session);
      expect((await passwordOnly(s, u)).stage).to.equal('TOTP_REQUIRED');
      const again = await signIn(s, u);
      await expectActsAs(again, u);
      const row = await userRow(u);
      expect(row.active).to.equal(true);
      expect(row.twoFactorEnabled).to.equal(true);
      expect(row.deactivatedAt).to.equal(null);
      const recorded = await events('USER_REACTIVATED', u.user.id);
      expect(recorded).to.have.length(1);
      expect(recorded[0]!.actorId).to.equal(null);
      expect(JSON.parse(recorded[0]!.changes!)).to.deep.equal({ active: { from: false, to: true } });

      // An active user: nothing to do.
      const twice = await cli('reactivate-user', '--email', u.email);
      succeeded(twice);
      expect(twice.stdout).to.contain('nothing changed');
      expect(await events('USER_REACTIVATED', u.user.id)).to.have.length(1);
    });
  });

  describe('suspend-reseller and reinstate-reseller', () => {
    let suspended: Reseller;
    let customer: Customer;
    let users: Record<'first' | 'second' | 'third', TestUser>;
    let customerUser: TestUser;
    const sessions = {} as Record<'first' | 'second' | 'third' | 'customerUser', string>;
    let token: string;
    const REASON = 'unpaid invoices';

    before(async () => {
      suspended = await makeReseller(s);
      customer = await makeCustomer(s, suspended);
      await makeLicense(s, customer);
      await makeLicense(s, customer, { seats: 3 });
      users = {
        first: await makeUser(s, { role: Role.RESELLER, reseller: suspended }),
        second: await makeUser(s, { role: Role.RESELLER, reseller: suspended }),
        third: await makeUser(s, { role: Role.RESELLER, reseller: suspended }),
      };
      customerUser = await makeUser(s, { role: Role.CUSTOMER, customer });
      for (const key of ['first', 'second', 'third'] as const) sessions[key] = await signIn(s, users[key]);
      sessions.customerUser = await signIn(s, customerUser);
      token = await apiToken(sessions.first);
    });

    it('refused without --reason (usage), with an unknown id, or with an empty reason: exit 1, nothing suspended', async () => {
      const before = await auditCount();
      failedWithOneLine(await cli('suspend-reseller', '--id', suspended.id), /suspend-reseller needs --id <id> and --reason <r>/);
      const unknown = `unknown-${unique()}`;
      failedWithOneLine(
        await cli('suspend-reseller', '--id', unknown, '--reason', REASON),
        new RegExp(`^error: no reseller with the id ${unknown}`),
      );
      failedWithOneLine(await cli('suspend-reseller', '--id', suspended.id, '--reason', ''), /reason must not be empty/);
      expect((await resellerRow(suspended)).suspendedAt).to.equal(null);
      expect(await auditCount()).to.equal(before);
      expect(await statuses(customer)).to.deep.equal(['ACTIVE', 'ACTIVE']);
      await expectActsAs(sessions.first, users.first);
      await expectActsAs(token, users.first);
    });

    it("suspend-reseller: the reseller's users are signed out, their sign-in answers FORBIDDEN RESELLER_SUSPENDED, its licenses SUSPENDED", async () => {
      const res = await cli('suspend-reseller', '--id', suspended.id, '--reason', REASON);
      succeeded(res);
      expect(res.stdout).to.contain(`Suspended ${suspended.name} (${suspended.id})`);

      await expectDead(sessions.first);
      await expectDead(token);
      await expectDead(sessions.second);
      // Correct password and a correct code: told why, and no token of any stage.
      const refused: GqlResult<Login>[] = [
        await login(users.first, users.first.password, freshCode(users.first)),
        await login(users.second),
      ];
      for (const r of refused) {
        expect(codeOf(r), JSON.stringify(r.errors)).to.equal('FORBIDDEN');
        expect(r.errors![0]!.extensions!.reason).to.equal('RESELLER_SUSPENDED');
        expect(r.data).to.equal(null);
      }
      // A wrong password still answers as a wrong password: the suspension is no oracle for it.
      expect(codeOf(await login(users.second, 'not the password'))).to.equal('UNAUTHENTICATED');

      expect(await statuses(customer)).to.deep.equal(['SUSPENDED', 'SUSPENDED']);
      // Its customers' users keep read access.
      await expectActsAs(sessions.customerUser, customerUser);

      const row = await resellerRow(suspended);
      expect(row.suspendedAt).to.be.instanceOf(Date);
      expect(row.suspensionReason).to.equal(REASON);
      const recorded = await events('RESELLER_SUSPENDED', suspended.id);
      expect(recorded).to.have.length(1);
      expect(recorded[0]!.actorId).to.equal(null);
      expect(recorded[0]!.reason).to.equal(REASON);
    });

    it('suspend-reseller again: exit 0, "already suspended", still one RESELLER_SUSPENDED event', async () => {
      const suspendedAt = (await resellerRow(suspended)).suspendedAt!.getTime();
      const again = await cli('suspend-reseller', '--id', suspended.id, '--reason', 'another reason');
      succeeded(again);
      expect(again.stdout).to.contain('already suspended');
      expect(await events('RESELLER_SUSPENDED', suspended.id)).to.have.length(1);
      const row = await resellerRow(suspended);
      expect(row.suspendedAt!.getTime()).to.equal(suspendedAt);
      expect(row.suspensionReason).to.equal(REASON);
    });

    it('reinstate-reseller: licenses ACTIVE again, the users sign in again (old sessions stay ended)', async () => {
      const res = await cli('reinstate-reseller', '--id', suspended.id);
      succeeded(res);
      expect(res.stdout).to.contain(`Reinstated ${suspended.name} (${suspended.id})`);
      expect(await statuses(customer)).to.deep.equal(['ACTIVE', 'ACTIVE']);
      const row = await resellerRow(suspended);
      expect(row.suspendedAt).to.equal(null);
      expect(row.suspensionReason).to.equal(null);
      await expectDead(sessions.first);
      await expectDead(token);
      const again = await signIn(s, users.third);
      await expectActsAs(again, users.third);
      expect((await passwordOnly(s, users.second)).stage).to.equal('TOTP_REQUIRED');
      const recorded = await events('RESELLER_REINSTATED', suspended.id);
      expect(recorded).to.have.length(1);
      expect(recorded[0]!.actorId).to.equal(null);

      const twice = await cli('reinstate-reseller', '--id', suspended.id);
      succeeded(twice);
      expect(twice.stdout).to.contain('not suspended; nothing changed');
      expect(await events('RESELLER_REINSTATED', suspended.id)).to.have.length(1);
    });
  });
});
