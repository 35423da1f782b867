// changePassword (FLOWS.md section 9): a signed-in user changes the own password with the current one
// and a fresh TOTP code; failures count like failed sign-ins; the other sessions end, API tokens stay.
import { expect } from 'chai';
import { Role } from '../../src/common/enums';
import { AccountToken } from '../../src/modules/auth/account-token.entity';
import { freshCode, makeUser, passwordOnly, PASSWORD, signIn, wrongCode, type TestUser } from '../factories';
import { codeOf, ok, startTestServer, type TestServer } from '../helpers/server';

const CHANGE = `mutation($c: String!, $n: String!, $t: String!) { changePassword(currentPassword: $c, newPassword: $n, totpCode: $t) }`;
const LOGIN = `mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage } }`;
const ME = '{ me { id } }';
const NEW_PASSWORD = 'a brand new long password';

describe('changePassword', function () {
  this.timeout(60_000);
  let s: TestServer;

  before(async () => (s = await startTestServer()));
  after(() => s?.stop());

  const change = (token: string, current: string, next: string, code: string) => s.gql(CHANGE, { c: current, n: next, t: code }, token);
  const login = (u: TestUser, password: string, code: string | null) =>
    s.gql<{ login: { token: string; stage: string } }>(LOGIN, { e: u.email, p: password, c: code });

  it('changes the password: the old one stops working, the new one signs in; other sessions end, this one and API tokens stay', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const here = await signIn(s, u);
    // A second session of the account (at the TOTP stage: one user has two fresh codes per 30 seconds).
    const elsewhere = (await passwordOnly(s, u)).token;
    expect(codeOf(await s.gql(ME, {}, elsewhere))).to.equal('TWO_FACTOR_REQUIRED');
    const apiToken = ok(
      await s.gql<{ createApiToken: { token: string } }>('mutation { createApiToken(name: "script") { token } }', {}, here),
    ).createApiToken.token;

    expect(ok(await change(here, PASSWORD, NEW_PASSWORD, freshCode(u)))).to.deep.equal({ changePassword: true });

    expect(ok(await s.gql(ME, {}, here))).to.have.nested.property('me.id', u.user.id);
    expect(ok(await s.gql(ME, {}, apiToken))).to.have.nested.property('me.id', u.user.id);
    // Before the change this limited session answered TWO_FACTOR_REQUIRED; now it is gone.
    expect(codeOf(await s.gql(ME, {}, elsewhere))).to.equal('UNAUTHENTICATED');
    expect(codeOf(await login(u, PASSWORD, null))).to.equal('UNAUTHENTICATED');
    expect(ok(await login(u, NEW_PASSWORD, null)).login.stage).to.equal('TOTP_REQUIRED');
    expect(s.outbox().some((mail) => mail.includes(u.email) && /password was changed/i.test(mail))).to.equal(true);
  });

  it('voids outstanding e-mailed links of the account', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const token = await signIn(s, u);
    ok(await s.gql('mutation($e: String!) { requestPasswordReset(email: $e) }', { e: u.email }));
    const em = s.app.services.orm.em.fork();
    for (let i = 0; i < 200 && (await em.count(AccountToken, { user: u.user.id, usedAt: null })) === 0; i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(await em.count(AccountToken, { user: u.user.id, usedAt: null })).to.equal(1);
    ok(await change(token, PASSWORD, NEW_PASSWORD, freshCode(u)));
    expect(await s.app.services.orm.em.fork().count(AccountToken, { user: u.user.id, usedAt: null })).to.equal(0);
  });

  it('a wrong current password or code changes nothing', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const token = await signIn(s, u);
    expect(codeOf(await change(token, 'not the password at all', NEW_PASSWORD, '000000'))).to.equal('UNAUTHENTICATED');
    expect(codeOf(await change(token, PASSWORD, NEW_PASSWORD, wrongCode(u.secret!)))).to.equal('UNAUTHENTICATED');
    expect(codeOf(await change(token, PASSWORD, NEW_PASSWORD, '12345x'))).to.equal('BAD_USER_INPUT');
    expect(codeOf(await change(token, PASSWORD, 'short', '000000'))).to.equal('BAD_USER_INPUT');
    expect(codeOf(await login(u, NEW_PASSWORD, null))).to.equal('UNAUTHENTICATED');
    expect(ok(await login(u, PASSWORD, null)).login.stage).to.equal('TOTP_REQUIRED');
  });

  it('wrong current passwords count like failed sign-ins: after ten the account is RATE_LIMITED, also for login', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const token = await signIn(s, u);
    for (let i = 0; i < 10; i++)
      expect(codeOf(await change(token, `wrong ${i} password`, NEW_PASSWORD, '000000')), `attempt ${i}`).to.equal('UNAUTHENTICATED');
    expect(codeOf(await change(token, PASSWORD, NEW_PASSWORD, freshCode(u)))).to.equal('RATE_LIMITED');
    expect(codeOf(await login(u, PASSWORD, null))).to.equal('RATE_LIMITED');
  });

  it('wrong codes count in the per-user TOTP lockout', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const token = await signIn(s, u);
    for (let i = 0; i < 5; i++)
      expect(codeOf(await change(token, PASSWORD, NEW_PASSWORD, wrongCode(u.secret!)))).to.equal('UNAUTHENTICATED');
    expect(codeOf(await change(token, PASSWORD, NEW_PASSWORD, freshCode(u)))).to.equal('RATE_LIMITED');
  });

  it('an API token or a limited session may not change the password', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const session = await signIn(s, u);
    const apiToken = ok(
      await s.gql<{ createApiToken: { token: string } }>('mutation { createApiToken(name: "script") { token } }', {}, session),
    ).createApiToken.token;
    expect(codeOf(await change(apiToken, PASSWORD, NEW_PASSWORD, '000000'))).to.equal('FORBIDDEN');
    const limited = await passwordOnly(s, u);
    expect(codeOf(await change(limited.token, PASSWORD, NEW_PASSWORD, '000000'))).to.equal('TWO_FACTOR_REQUIRED');
    expect(codeOf(await s.gql(CHANGE, { c: PASSWORD, n: NEW_PASSWORD, t: '123456' }))).to.equal('UNAUTHENTICATED');
    expect(ok(await login(u, PASSWORD, null)).login.stage).to.equal('TOTP_REQUIRED');
  });
});
