// FLOWS.md section 8, the credential findings of the attack on the API: reseller-portal activation is
// redeemed only by the reseller portal, every revocation voids every outstanding token of the user, and a
// limited session is spent once. Driven over HTTP like the attacker and the reseller portal would.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Role } from '../../src/common/enums';
import { AccountToken, AccountTokenPurpose } from '../../src/modules/auth/account-token.entity';
import { Session } from '../../src/modules/auth/session.entity';
import { totpCode } from '../../src/modules/auth/totp';
import { ApiToken } from '../../src/modules/api-tokens/api-token.entity';
import { User } from '../../src/modules/users/user.entity';
import { makeReseller, makeUser, passwordOnly, resellerPortalToken, signIn, type TestUser } from '../factories';
import { parseMail } from '../helpers/mail';
import { codeOf, ok, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

const LOGIN = `mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage twoFactorActivation } }`;
const VERIFY = `mutation($c: String!) { verifyTotp(code: $c) { token stage } }`;
const REQUEST_ACTIVATION = `mutation { requestTwoFactorActivation { method redirectUrl } }`;
const BEGIN = `mutation($t: String!) { beginTwoFactorSetup(token: $t) { setupToken secret } }`;
const ACTIVATE = `mutation($t: String!, $c: String!) { activateTwoFactor(setupToken: $t, code: $c) }`;
const RESET = `mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken secret alreadyEnrolled } }`;
const REQUEST_RESET = `mutation($e: String!) { requestPasswordReset(email: $e) }`;
const RESET_2FA = `mutation($id: ID!) { resetUserTwoFactor(userId: $id) { id twoFactorEnabled } }`;
const CREATE_TOKEN = `mutation($n: String!, $p: ApiTokenPurpose) { createApiToken(name: $n, purpose: $p) { token apiToken { id purpose } } }`;
const ME = `{ me { id } }`;

const NEW_PASSWORD = 'a long and new password';
type Setup = { setupToken: string; secret: string; alreadyEnrolled?: boolean };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function refused(res: GqlResult<unknown>, code: string, note = '') {
  expect(codeOf(res), `${note} ${JSON.stringify(res.errors)}`).to.equal(code);
  expect(res.data, note).to.equal(null);
}

/** Codes of consecutive TOTP steps from now, for a secret whose steps the server has not seen. */
function steps(secret: string) {
  const base = Math.floor(Date.now() / 30_000);
  return (i: number) => totpCode(secret, (base + i) * 30_000);
}

/** The reset links e-mailed to `to` so far (the .eml outbox), oldest first. */
async function resetLinksTo(s: TestServer, to: string): Promise<string[]> {
  const dir = join(s.dir, 'outbox');
  let files: string[];
  try {
    files = readdirSync(dir).sort();
  } catch {
    return []; // nothing sent yet
  }
  const mails = await Promise.all(files.map((f) => parseMail(readFileSync(join(dir, f)))));
  return mails
    .filter((m) => m.to.includes(to))
    .flatMap((m) => /\/reset-password\?token=([A-Za-z0-9_%-]+)/.exec(m.text)?.[1] ?? [])
    .map(decodeURIComponent);
}

/** The token of the first reset link to `to` after the `seenBefore` ones, waiting for it to arrive. */
async function mailedToken(s: TestServer, to: string, seenBefore: number): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const links = await resetLinksTo(s, to);
    if (links.length > seenBefore) return links[seenBefore]!;
    if (Date.now() > deadline) throw new Error(`no reset link to ${to}`);
    await sleep(25);
  }
}

async function userState(s: TestServer, userId: string) {
  const user = await s.app.services.orm.em.fork().findOneOrFail(User, userId, { populate: ['totpSecretSealed'] });
  return { twoFactorEnabled: user.twoFactorEnabled, hasSecret: user.totpSecretSealed !== null };
}

/** The linked account's activation token, as the reseller portal receives it in the redirect. */
async function activationToken(s: TestServer, u: TestUser): Promise<{ token: string; limited: string }> {
  const limited = await passwordOnly(s, u);
  expect(limited).to.include({ stage: 'TWO_FACTOR_SETUP_REQUIRED', twoFactorActivation: 'RESELLER_PORTAL' });
  const activation = ok(
    await s.gql<{ requestTwoFactorActivation: { method: string; redirectUrl: string } }>(REQUEST_ACTIVATION, {}, limited.token),
  ).requestTwoFactorActivation;
  expect(activation.method).to.equal('RESELLER_PORTAL');
  return { token: new URL(activation.redirectUrl).searchParams.get('token')!, limited: limited.token };
}

const unusedActivationTokens = (s: TestServer, userId: string) =>
  s.app.services.orm.em.fork().count(AccountToken, { user: userId, purpose: AccountTokenPurpose.TWO_FACTOR_ACTIVATION, usedAt: null });

describe('credential hardening (FLOWS.md section 8)', function () {
  this.timeout(60_000);
  let s: TestServer;
  let admin: TestUser;
  let adminToken: string;
  let portal: string;

  before(async () => {
    s = await startTestServer();
    admin = await makeUser(s, { role: Role.ADMIN });
    adminToken = await signIn(s, admin);
    portal = await resellerPortalToken(s);
  });
  after(() => s?.stop());

  const linkedUser = async () => {
    const reseller = await makeReseller(s, { linkedToResellerPortal: true });
    return makeUser(s, { role: Role.RESELLER, reseller, twoFactor: false, linkedToResellerPortal: true });
  };

  describe('reseller-portal activation is redeemed by the reseller portal', () => {
    it('a password alone never yields a session: beginTwoFactorSetup without the portal token is FORBIDDEN and the activation token stays unused', async () => {
      const u = await linkedUser();
      const { token, limited } = await activationToken(s, u);
      const ownerToken = ok(await s.gql<{ createApiToken: { token: string } }>(CREATE_TOKEN, { n: 'script', p: 'OWNER' }, adminToken))
        .createApiToken.token;
      const attempts: [string, string | null][] = [
        ['no credential', null],
        ["the account's own limited session", limited],
        ["an admin's session", adminToken],
        ["an admin's OWNER API token", ownerToken],
      ];
      for (const [note, credential] of attempts) {
        refused(await s.gql(BEGIN, { t: token }, credential), 'FORBIDDEN', note);
        expect(await unusedActivationTokens(s, u.user.id), note).to.equal(1);
      }
      expect(await userState(s, u.user.id)).to.deep.equal({ twoFactorEnabled: false, hasSecret: false });
      expect(await s.app.services.orm.em.fork().count(AccountToken, { user: u.user.id, purpose: AccountTokenPurpose.TOTP_SETUP })).to.equal(
        0,
      );

      // The same token still works for the reseller portal afterwards.
      const setup = ok(await s.gql<{ beginTwoFactorSetup: Setup }>(BEGIN, { t: token }, portal)).beginTwoFactorSetup;
      expect(ok(await s.gql(ACTIVATE, { t: setup.setupToken, c: steps(setup.secret)(0) }))).to.deep.equal({ activateTwoFactor: true });
      expect(await userState(s, u.user.id)).to.deep.equal({ twoFactorEnabled: true, hasSecret: true });
    });

    it("an admin's 2FA reset of a compromised linked account is not undone by whoever holds the password", async () => {
      const reseller = await makeReseller(s, { linkedToResellerPortal: true });
      const victim = await makeUser(s, { role: Role.RESELLER, reseller, linkedToResellerPortal: true });
      ok(await s.gql(RESET_2FA, { id: victim.user.id }, adminToken));
      // The attacker knows the password: login -> "Enable 2FA" -> redeem the token with their own authenticator.
      const { token, limited } = await activationToken(s, victim);
      refused(await s.gql(BEGIN, { t: token }, limited), 'FORBIDDEN');
      refused(await s.gql(BEGIN, { t: token }), 'FORBIDDEN');
      expect(await userState(s, victim.user.id)).to.deep.equal({ twoFactorEnabled: false, hasSecret: false });
      const login = await s.gql<{ login: { stage: string } }>(LOGIN, { e: victim.email, p: victim.password, c: null });
      expect(ok(login).login.stage).to.equal('TWO_FACTOR_SETUP_REQUIRED');
      expect(await s.app.services.orm.em.fork().count(Session, { user: victim.user.id, stage: 'AUTHENTICATED' as never })).to.equal(0);
    });

    it('only admins create RESELLER_PORTAL tokens; such a token can call nothing but beginTwoFactorSetup', async () => {
      const reseller = await makeReseller(s);
      const resellerUser = await makeUser(s, { role: Role.RESELLER, reseller });
      const resellerToken = await signIn(s, resellerUser);
      refused(await s.gql(CREATE_TOKEN, { n: 'portal', p: 'RESELLER_PORTAL' }, resellerToken), 'FORBIDDEN');
      expect(await s.app.services.orm.em.fork().count(ApiToken, { user: resellerUser.user.id })).to.equal(0);

      const created = ok(
        await s.gql<{ createApiToken: { token: string; apiToken: { purpose: string } } }>(
          CREATE_TOKEN,
          { n: 'portal', p: 'RESELLER_PORTAL' },
          adminToken,
        ),
      ).createApiToken;
      expect(created.apiToken.purpose).to.equal('RESELLER_PORTAL');
      for (const query of [ME, '{ licenses { totalCount } }', '{ users { totalCount } }', '{ apiTokens { id } }']) {
        refused(await s.gql(query, {}, created.token), 'FORBIDDEN', query);
      }
      refused(await s.gql('mutation { createReseller(input: { name: "Evil" }) { id } }', {}, created.token), 'FORBIDDEN');
      refused(await s.gql(RESET_2FA, { id: resellerUser.user.id }, created.token), 'FORBIDDEN');
      refused(await s.gql(CREATE_TOKEN, { n: 'more', p: 'OWNER' }, created.token), 'FORBIDDEN');
      expect(await s.app.services.orm.em.fork().count(ApiToken, { user: admin.user.id, name: 'more' })).to.equal(0);
    });
  });

  describe('revocation is complete', () => {
    it('resetUserTwoFactor voids the setup token of a password reset: the old secret cannot be activated', async () => {
      const u = await makeUser(s, { role: Role.ADMIN, twoFactor: false });
      const before = (await resetLinksTo(s, u.email)).length;
      ok(await s.gql(REQUEST_RESET, { e: u.email }));
      const link = await mailedToken(s, u.email, before);
      const setup = ok(await s.gql<{ resetPassword: Setup }>(RESET, { t: link, p: NEW_PASSWORD })).resetPassword;
      ok(await s.gql(RESET_2FA, { id: u.user.id }, adminToken));
      refused(await s.gql(ACTIVATE, { t: setup.setupToken, c: steps(setup.secret)(0) }), 'BAD_USER_INPUT', 'the old setup token');
      expect(await userState(s, u.user.id)).to.deep.equal({ twoFactorEnabled: false, hasSecret: false });
    });

    it('resetUserTwoFactor voids outstanding e-mailed links and reseller-portal activation tokens', async () => {
      const u = await linkedUser();
      const { token: activation } = await activationToken(s, u);
      const before = (await resetLinksTo(s, u.email)).length;
      ok(await s.gql(REQUEST_RESET, { e: u.email }));
      const link = await mailedToken(s, u.email, before);
      ok(await s.gql(RESET_2FA, { id: u.user.id }, adminToken));

      refused(await s.gql(BEGIN, { t: activation }, portal), 'BAD_USER_INPUT', 'the activation token');
      refused(await s.gql(RESET, { t: link, p: NEW_PASSWORD }), 'BAD_USER_INPUT', 'the reset link');
      expect(await s.app.services.orm.em.fork().count(AccountToken, { user: u.user.id, usedAt: null })).to.equal(0);
      expect(await userState(s, u.user.id)).to.deep.equal({ twoFactorEnabled: false, hasSecret: false });
    });

    it('resetUserTwoFactor ends sessions of every stage and API tokens', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const full = await signIn(s, u);
      const apiToken = ok(await s.gql<{ createApiToken: { token: string } }>(CREATE_TOKEN, { n: 'script', p: 'OWNER' }, full))
        .createApiToken.token;
      const limited = (await passwordOnly(s, u)).token;
      ok(await s.gql(RESET_2FA, { id: u.user.id }, adminToken));
      for (const [note, token] of [
        ['session', full],
        ['API token', apiToken],
        ['limited session', limited],
      ] as const) {
        const res = await s.gql(ME, {}, token);
        expect(res.status, note).to.equal(200);
        refused(res, 'UNAUTHENTICATED', note);
      }
      refused(await s.gql(VERIFY, { c: steps(u.secret!)(0) }, limited), 'UNAUTHENTICATED', 'verifyTotp on the limited session');
    });

    it('a password reset voids every other outstanding token of the user (here: a reseller-portal activation token)', async () => {
      const u = await linkedUser();
      const { token: activation } = await activationToken(s, u);
      const before = (await resetLinksTo(s, u.email)).length;
      ok(await s.gql(REQUEST_RESET, { e: u.email }));
      const link = await mailedToken(s, u.email, before);
      const setup = ok(await s.gql<{ resetPassword: Setup }>(RESET, { t: link, p: NEW_PASSWORD })).resetPassword;
      refused(await s.gql(BEGIN, { t: activation }, portal), 'BAD_USER_INPUT', 'the activation token after the reset');
      // The reset's own setup token is the one left, and it works.
      expect(ok(await s.gql(ACTIVATE, { t: setup.setupToken, c: steps(setup.secret)(0) }))).to.deep.equal({ activateTwoFactor: true });
    });
  });

  describe('a limited session is spent once', () => {
    it('of concurrent verifyTotp calls with two valid codes on one TOTP_REQUIRED session, exactly one returns a session', async () => {
      for (let round = 0; round < 3; round++) {
        const u = await makeUser(s, { role: Role.ADMIN });
        const limited = (await passwordOnly(s, u)).token;
        const code = steps(u.secret!);
        const results = await Promise.all([
          s.gql<{ verifyTotp: { token: string; stage: string } }>(VERIFY, { c: code(0) }, limited),
          s.gql<{ verifyTotp: { token: string; stage: string } }>(VERIFY, { c: code(1) }, limited),
        ]);
        const won = results.filter((r) => r.data?.verifyTotp?.stage === 'AUTHENTICATED');
        expect(won, `round ${round}: ${JSON.stringify(results.map((r) => r.errors))}`).to.have.length(1);
        const lost = results.find((r) => r !== won[0])!;
        expect(codeOf(lost), JSON.stringify(lost.errors)).to.equal('UNAUTHENTICATED');
        expect(await s.app.services.orm.em.fork().count(Session, { user: u.user.id, stage: 'AUTHENTICATED' as never })).to.equal(1);
        expect(await s.app.services.orm.em.fork().count(Session, { user: u.user.id, stage: 'TOTP_REQUIRED' as never })).to.equal(0);
      }
    });
  });
});

describe('reseller-portal activation in production', function () {
  this.timeout(60_000);

  it('without RESELLER_PORTAL_URL, a linked account activates by e-mail, and the built-in page does not stand in for the portal', async () => {
    const s = await startTestServer({ NODE_ENV: 'production', RESELLER_PORTAL_URL: '' });
    try {
      const reseller = await makeReseller(s, { linkedToResellerPortal: true });
      const u = await makeUser(s, { role: Role.RESELLER, reseller, twoFactor: false, linkedToResellerPortal: true });
      const limited = await passwordOnly(s, u);
      expect(limited).to.include({ stage: 'TWO_FACTOR_SETUP_REQUIRED', twoFactorActivation: 'EMAIL' });
      const activation = ok(
        await s.gql<{ requestTwoFactorActivation: { method: string; redirectUrl: string | null } }>(REQUEST_ACTIVATION, {}, limited.token),
      );
      expect(activation.requestTwoFactorActivation).to.deep.equal({ method: 'EMAIL', redirectUrl: null });
      const link = await mailedToken(s, u.email, 0);
      const setup = ok(await s.gql<{ resetPassword: Setup }>(RESET, { t: link, p: NEW_PASSWORD })).resetPassword;
      expect(ok(await s.gql(ACTIVATE, { t: setup.setupToken, c: steps(setup.secret)(0) }))).to.deep.equal({ activateTwoFactor: true });

      const page = await fetch(`${s.url}/two-factor-setup?token=x`, { redirect: 'manual' });
      expect(page.status).to.equal(404);
    } finally {
      await s.stop();
    }
  });

  it('with RESELLER_PORTAL_URL, the built-in page refuses to redeem activation tokens', async () => {
    const s = await startTestServer({ NODE_ENV: 'production' });
    try {
      const u = await (async () => {
        const reseller = await makeReseller(s, { linkedToResellerPortal: true });
        return makeUser(s, { role: Role.RESELLER, reseller, twoFactor: false, linkedToResellerPortal: true });
      })();
      const { token } = await activationToken(s, u);
      const page = await fetch(`${s.url}/two-factor-setup?token=${encodeURIComponent(token)}`, { redirect: 'manual' });
      expect(page.status).to.equal(404);
      expect(await unusedActivationTokens(s, u.user.id)).to.equal(1);
      refused(await s.gql(BEGIN, { t: token }), 'FORBIDDEN');
    } finally {
      await s.stop();
    }
  });
});
