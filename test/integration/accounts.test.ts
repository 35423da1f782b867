// Taking access away from a user (FLOWS.md section 9): deactivateUser / reactivateUser, users(filter:
// {active}), updateUser, and the last active admin, as a client and the affected user observe them.
import { expect } from 'chai';
import { Role } from '../../src/common/enums';
import { AccountToken } from '../../src/modules/auth/account-token.entity';
import { OPERATOR } from '../../src/modules/auth/principal';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { User } from '../../src/modules/users/user.entity';
import { freshCode, makeCustomer, makeReseller, makeUser, passwordOnly, PASSWORD, signIn, type TestUser } from '../factories';
import { codeOf, ok, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

const LOGIN = `mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage } }`;
const DEACTIVATE = 'mutation($id: ID!, $r: String) { deactivateUser(userId: $id, reason: $r) { id active deactivatedAt } }';
const REACTIVATE = 'mutation($id: ID!) { reactivateUser(userId: $id) { id active deactivatedAt twoFactorEnabled } }';
const UPDATE =
  'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id name locale linkedToResellerPortal } }';
const ME = '{ me { id } }';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

describe('accounts: deactivation, reactivation and updates (FLOWS.md section 9)', function () {
  this.timeout(60_000);
  let s: TestServer;
  let admin: TestUser;
  let adminToken: string;

  before(async () => {
    s = await startTestServer();
    admin = await makeUser(s, { role: Role.ADMIN });
    adminToken = await signIn(s, admin);
  });
  after(() => s?.stop());

  const events = (targetId: string, action: string) => s.app.services.orm.em.fork().find(AuditEvent, { targetId, action });
  const dbUser = (id: string) => s.app.services.orm.em.fork().findOneOrFail(User, id);
  const mailsTo = async (email: string) => {
    await s.app.services.background.drain();
    return s.outbox().filter((mail) => mail.includes(email));
  };
  const login = (u: TestUser, password: string, code: string | null) =>
    s.gql<{ login: { token: string; stage: string } }>(LOGIN, { e: u.email, p: password, c: code });
  const deactivate = (id: string, reason: string | null = 'left the company', token = adminToken) =>
    s.gql<Json>(DEACTIVATE, { id, r: reason }, token);
  /** What a client sees of an error: code, message and HTTP status. */
  const seen = (res: GqlResult<unknown>) => ({ status: res.status, code: codeOf(res), message: res.errors?.[0]?.message });

  describe('deactivateUser', () => {
    it('ends every session (of every stage), API token and e-mailed link of the user in one step', async () => {
      const reseller = await makeReseller(s);
      const u = await makeUser(s, { role: Role.RESELLER, reseller });
      const session = await signIn(s, u);
      const apiToken = ok(await s.gql<Json>('mutation { createApiToken(name: "erp") { token } }', {}, session)).createApiToken.token;
      const limited = (await passwordOnly(s, u)).token;
      ok(await s.gql('mutation($e: String!) { requestPasswordReset(email: $e) }', { e: u.email }));
      await s.app.services.background.drain();
      const em = s.app.services.orm.em.fork();
      expect(await em.count(AccountToken, { user: u.user.id, usedAt: null })).to.equal(1);
      const link = (await mailsTo(u.email)).find((mail) => /reset-password\?token=/.test(mail))!;
      const resetToken = decodeURIComponent(/token=([A-Za-z0-9_%.-]+)/.exec(link.replace(/=\r?\n/g, ''))![1]!);

      const res = ok(await deactivate(u.user.id, 'left the company'));
      expect(res.deactivateUser.id).to.equal(u.user.id);
      expect(res.deactivateUser.active).to.equal(false);
      expect(Date.parse(res.deactivateUser.deactivatedAt)).to.be.closeTo(Date.now(), 60_000);

      for (const token of [session, apiToken, limited])
        expect(seen(await s.gql(ME, {}, token))).to.include({ status: 200, code: 'UNAUTHENTICATED' });
      expect(await s.app.services.orm.em.fork().count(AccountToken, { user: u.user.id, usedAt: null })).to.equal(0);
      const reset = await s.gql(
        'mutation($t: String!) { resetPassword(token: $t, newPassword: "another long password") { alreadyEnrolled } }',
        {
          t: resetToken,
        },
      );
      expect(codeOf(reset)).to.equal('BAD_USER_INPUT');
    });

    it('afterwards sign-in fails exactly like a wrong password, and a reset request sends nothing', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const other = await makeUser(s, { role: Role.ADMIN });
      ok(await deactivate(u.user.id));
      const deactivated = await login(u, PASSWORD, freshCode(u));
      const wrong = await login(other, 'not the password at all', null);
      expect(seen(deactivated)).to.deep.equal(seen(wrong));
      expect(seen(deactivated).code).to.equal('UNAUTHENTICATED');
      expect(deactivated.data).to.equal(null);

      const before = (await mailsTo(u.email)).length;
      ok(await s.gql('mutation($e: String!) { requestPasswordReset(email: $e) }', { e: u.email }));
      expect((await mailsTo(u.email)).length).to.equal(before);
      expect(await s.app.services.orm.em.fork().count(AccountToken, { user: u.user.id, usedAt: null })).to.equal(0);
    });

    it('the deactivated user gets no e-mail; the event carries changes and the reason', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      ok(await deactivate(u.user.id, 'contract ended'));
      expect(await mailsTo(u.email)).to.deep.equal([]);
      const [event, ...more] = await events(u.user.id, 'USER_DEACTIVATED');
      expect(more).to.deep.equal([]);
      expect(event!.actorId).to.equal(admin.user.id);
      expect(event!.reason).to.equal('contract ended');
      expect(JSON.parse(event!.changes!)).to.deep.equal({ active: { from: true, to: false } });
      const listed = ok(
        await s.gql<Json>('{ auditEvents(first: 5) { edges { node { action targetId reason changes } } } }', {}, adminToken),
      ).auditEvents.edges.map((e: Json) => e.node);
      expect(listed).to.deep.include({
        action: 'USER_DEACTIVATED',
        targetId: u.user.id,
        reason: 'contract ended',
        changes: JSON.stringify({ active: { from: true, to: false } }),
      });
    });

    it('a deactivated user is not e-mailed about later changes (a 2FA reset, a staff edit)', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      ok(await deactivate(u.user.id));
      ok(await s.gql('mutation($id: ID!) { resetUserTwoFactor(userId: $id) { id } }', { id: u.user.id }, adminToken));
      ok(await s.gql(UPDATE, { id: u.user.id, input: { name: 'Former Admin' } }, adminToken));
      expect(await mailsTo(u.email)).to.deep.equal([]);
      expect(await events(u.user.id, 'TWO_FACTOR_RESET')).to.have.length(1);
    });

    it('deactivating twice is idempotent: the same answer, no second event', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const first = ok(await deactivate(u.user.id)).deactivateUser;
      const second = ok(await deactivate(u.user.id, 'again')).deactivateUser;
      expect(second).to.deep.equal(first);
      expect(await events(u.user.id, 'USER_DEACTIVATED')).to.have.length(1);
    });

    it('bad input: unknown id NOT_FOUND, empty or over-long reason BAD_USER_INPUT, oneself CONFLICT; nothing changes', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      expect(codeOf(await deactivate(`usr_${'0'.repeat(24)}`))).to.equal('NOT_FOUND');
      expect(codeOf(await deactivate('not an id'))).to.equal('NOT_FOUND');
      for (const reason of ['', '   ', 'x'.repeat(501)]) {
        const res = await deactivate(u.user.id, reason);
        expect(codeOf(res), JSON.stringify(reason)).to.equal('BAD_USER_INPUT');
        expect(res.errors![0]!.extensions!.field).to.equal('reason');
      }
      const self = await deactivate(admin.user.id);
      expect(codeOf(self)).to.equal('CONFLICT');
      expect((await dbUser(u.user.id)).active).to.equal(true);
      expect((await dbUser(admin.user.id)).active).to.equal(true);
      expect(await events(u.user.id, 'USER_DEACTIVATED')).to.deep.equal([]);
      // 500 characters is a reason.
      expect(ok(await deactivate(u.user.id, 'y'.repeat(500))).deactivateUser.active).to.equal(false);
    });

    it('a reseller deactivates its own and its customers\u2019 users, never another reseller\u2019s (NOT_FOUND, unchanged)', async () => {
      const a = await makeReseller(s);
      const b = await makeReseller(s);
      const staff = await makeUser(s, { role: Role.RESELLER, reseller: a });
      const token = await signIn(s, staff);
      const ownCustomerUser = await makeUser(s, { role: Role.CUSTOMER, customer: await makeCustomer(s, a) });
      const foreign = await makeUser(s, { role: Role.RESELLER, reseller: b });
      expect(ok(await deactivate(ownCustomerUser.user.id, null, token)).deactivateUser.active).to.equal(false);
      expect(codeOf(await deactivate(foreign.user.id, null, token))).to.equal('NOT_FOUND');
      expect((await dbUser(foreign.user.id)).active).to.equal(true);
    });
  });

  describe('reactivateUser', () => {
    it('lets the user sign in again with the same password and 2FA, and tells the user', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      ok(await deactivate(u.user.id));
      const res = ok(await s.gql<Json>(REACTIVATE, { id: u.user.id }, adminToken)).reactivateUser;
      expect(res).to.deep.equal({ id: u.user.id, active: true, deactivatedAt: null, twoFactorEnabled: true });
      expect(ok(await login(u, PASSWORD, freshCode(u))).login.stage).to.equal('AUTHENTICATED');
      expect((await mailsTo(u.email)).some((mail) => /reactivated/i.test(mail))).to.equal(true);
      const [event] = await events(u.user.id, 'USER_REACTIVATED');
      expect(JSON.parse(event!.changes!)).to.deep.equal({ active: { from: false, to: true } });
      // Reactivating an active user changes nothing.
      ok(await s.gql(REACTIVATE, { id: u.user.id }, adminToken));
      expect(await events(u.user.id, 'USER_REACTIVATED')).to.have.length(1);
    });
  });

  describe('users(filter: {active})', () => {
    it('lists the active or the deactivated users, within the caller\u2019s scope', async () => {
      const reseller = await makeReseller(s);
      const staff = await makeUser(s, { role: Role.RESELLER, reseller });
      const gone = await makeUser(s, { role: Role.RESELLER, reseller });
      const stays = await makeUser(s, { role: Role.RESELLER, reseller });
      ok(await deactivate(gone.user.id));
      const token = await signIn(s, staff);
      const list = async (active: boolean) =>
        ok(
          await s.gql<Json>(
            'query($a: Boolean) { users(first: 100, filter: { active: $a }) { totalCount edges { node { id active } } } }',
            { a: active },
            token,
          ),
        ).users;
      const inactive = await list(false);
      expect(inactive.edges.map((e: Json) => e.node)).to.deep.equal([{ id: gone.user.id, active: false }]);
      expect(inactive.totalCount).to.equal(1);
      const active = await list(true);
      expect(active.edges.map((e: Json) => e.node.id).sort()).to.deep.equal([staff.user.id, stays.user.id].sort());
    });
  });

  describe('updateUser', () => {
    it('every user changes the own name and locale; the own RSP link is FORBIDDEN and unchanged', async () => {
      const customer = await makeCustomer(s, await makeReseller(s));
      const u = await makeUser(s, { role: Role.CUSTOMER, customer });
      const token = await signIn(s, u);
      const res = ok(await s.gql<Json>(UPDATE, { id: u.user.id, input: { name: '  Erika Muster ', locale: 'de' } }, token)).updateUser;
      expect(res).to.deep.equal({ id: u.user.id, name: 'Erika Muster', locale: 'de', linkedToResellerPortal: false });
      const link = await s.gql(UPDATE, { id: u.user.id, input: { linkedToResellerPortal: true } }, token);
      expect(codeOf(link)).to.equal('FORBIDDEN');
      expect((await dbUser(u.user.id)).linkedToResellerPortal).to.equal(false);
      // Sending the unchanged value with the form is no change.
      ok(await s.gql(UPDATE, { id: u.user.id, input: { name: 'Erika Muster', linkedToResellerPortal: false } }, token));
      const [event, ...more] = await events(u.user.id, 'USER_UPDATED');
      expect(more).to.deep.equal([]);
      expect(JSON.parse(event!.changes!)).to.deep.equal({
        name: { from: u.user.name, to: 'Erika Muster' },
        locale: { from: 'en', to: 'de' },
      });
    });

    it('staff change the RSP link of the users they manage; the user is told', async () => {
      const reseller = await makeReseller(s);
      const u = await makeUser(s, { role: Role.RESELLER, reseller });
      const res = ok(await s.gql<Json>(UPDATE, { id: u.user.id, input: { linkedToResellerPortal: true } }, adminToken)).updateUser;
      expect(res.linkedToResellerPortal).to.equal(true);
      expect((await dbUser(u.user.id)).linkedToResellerPortal).to.equal(true);
      expect((await mailsTo(u.email)).some((mail) => /account was changed/i.test(mail))).to.equal(true);
    });

    it('a customer user may not change a colleague (FORBIDDEN); bad input is BAD_USER_INPUT; nothing changes', async () => {
      const customer = await makeCustomer(s, await makeReseller(s));
      const u = await makeUser(s, { role: Role.CUSTOMER, customer });
      const colleague = await makeUser(s, { role: Role.CUSTOMER, customer });
      const token = await signIn(s, u);
      expect(codeOf(await s.gql(UPDATE, { id: colleague.user.id, input: { name: 'Renamed' } }, token))).to.equal('FORBIDDEN');
      for (const input of [{ locale: 'fr' }, { locale: '' }, { name: '' }, { name: 'x'.repeat(201) }]) {
        expect(codeOf(await s.gql(UPDATE, { id: u.user.id, input }, token)), JSON.stringify(input)).to.equal('BAD_USER_INPUT');
      }
      expect(codeOf(await s.gql(UPDATE, { id: `usr_${'0'.repeat(24)}`, input: { name: 'X' } }, adminToken))).to.equal('NOT_FOUND');
      const [a, b] = [await dbUser(u.user.id), await dbUser(colleague.user.id)];
      expect([a.name, a.locale, b.name]).to.deep.equal([u.user.name, 'en', colleague.user.name]);
      expect(await events(u.user.id, 'USER_UPDATED')).to.deep.equal([]);
    });
  });
});

describe('accounts: the last active admin', function () {
  this.timeout(120_000);
  let s: TestServer;

  before(async () => (s = await startTestServer()));
  after(() => s?.stop());

  const activeAdmins = () => s.app.services.orm.em.fork().count(User, { role: Role.ADMIN, active: true });

  it('is never deactivated (CONFLICT), also not by an admin deactivated meanwhile', async () => {
    const [a, b] = [await makeUser(s, { role: Role.ADMIN }), await makeUser(s, { role: Role.ADMIN })];
    const tokenA = await signIn(s, a);
    ok(await s.gql(DEACTIVATE, { id: b.user.id, r: null }, tokenA));
    // a is the last active admin; b cannot sign in any more, so the operator (the CLI's actor) tries.
    const viaService = await s.app.services.users.deactivate(s.app.services.orm.em.fork(), OPERATOR, a.user.id, null).then(
      () => 'deactivated',
      (error: { extensions?: { code?: string; reason?: string } }) => `${error.extensions?.code} ${error.extensions?.reason}`,
    );
    expect(viaService).to.equal('CONFLICT LAST_ADMIN');
    expect(await activeAdmins()).to.equal(1);
  });

  it('of two admins deactivating each other at the same moment, exactly one succeeds (5 rounds)', async () => {
    const em = s.app.services.orm.em.fork();
    for (let round = 0; round < 5; round++) {
      // Each round: exactly two active admins, each signed in.
      await em.nativeUpdate(User, { role: Role.ADMIN }, { active: false });
      const pair = [await makeUser(s, { role: Role.ADMIN }), await makeUser(s, { role: Role.ADMIN })];
      const tokens = [await signIn(s, pair[0]!), await signIn(s, pair[1]!)];
      const results = await Promise.all([
        s.gql(DEACTIVATE, { id: pair[1]!.user.id, r: null }, tokens[0]),
        s.gql(DEACTIVATE, { id: pair[0]!.user.id, r: null }, tokens[1]),
      ]);
      const outcomes = results.map((res) => (res.errors ? codeOf(res) : 'ok'));
      // The loser gets CONFLICT (the last admin), or UNAUTHENTICATED when its own deactivation committed
      // before its request was authenticated.
      expect(
        outcomes.filter((o) => o === 'ok'),
        `round ${round}: ${JSON.stringify(outcomes)}`,
      ).to.have.length(1);
      expect(outcomes.find((o) => o !== 'ok')).to.be.oneOf(['CONFLICT', 'UNAUTHENTICATED']);
      expect(await activeAdmins(), `round ${round}`).to.equal(1);
    }
  });
});
