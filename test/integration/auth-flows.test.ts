// Sign-in, mandatory 2FA, account activation, password reset, sessions and attempt limits
// (FLOWS.md sections 3 and 4), driven over HTTP the way a client and a mail reader live them.
import { expect } from 'chai';
import { randomBytes, scryptSync } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Role } from '../../src/common/enums';
import { AccountToken, AccountTokenPurpose } from '../../src/modules/auth/account-token.entity';
import { hashToken } from '../../src/modules/auth/secrets';
import { Session } from '../../src/modules/auth/session.entity';
import { totpCode } from '../../src/modules/auth/totp';
import { User } from '../../src/modules/users/user.entity';
import {
  freshCode,
  makeReseller,
  makeUser,
  passwordOnly,
  PASSWORD,
  resellerPortalToken,
  signIn,
  wrongCode,
  type TestUser,
} from '../factories';
import { linkToken, resetLink, startSmtpCapture, type CapturedMail, type SmtpCapture } from '../helpers/mail';
import { codeOf, ok, startTestServer, type GqlResult, type TestServer } from '../helpers/server';

const LOGIN = `mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage twoFactorActivation } }`;
const VERIFY = `mutation($c: String!) { verifyTotp(code: $c) { token stage twoFactorActivation } }`;
const ME = `{ me { id email twoFactorEnabled } }`;
const REQUEST_ACTIVATION = `mutation { requestTwoFactorActivation { method redirectUrl } }`;
const REQUEST_RESET = `mutation($e: String!) { requestPasswordReset(email: $e) }`;
const RESET = `mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken secret otpauthUrl alreadyEnrolled } }`;
const BEGIN = `mutation($t: String!) { beginTwoFactorSetup(token: $t) { setupToken secret otpauthUrl alreadyEnrolled } }`;
const ACTIVATE = `mutation($t: String!, $c: String!) { activateTwoFactor(setupToken: $t, code: $c) }`;
const LOGOUT = `mutation { logout }`;
const CREATE_USER = `mutation($i: CreateUserInput!) { createUser(input: $i) { id email linkedToResellerPortal twoFactorEnabled } }`;
const RESET_2FA = `mutation($id: ID!) { resetUserTwoFactor(userId: $id) { id twoFactorEnabled } }`;
const CREATE_API_TOKEN = `mutation($n: String!) { createApiToken(name: $n) { token apiToken { id } } }`;
const AUDIT = `{ auditEvents(first: 100) { edges { node { action targetType targetId actor { id } } } } }`;

const NEW_PASSWORD = 'a long and new password';
const OTHER_PASSWORD = 'yet another long password';
const MALFORMED_CODES = ['12345', '1234567', '12345x', ' 123456', 'abcdef'];

type LoginPayload = { token: string; stage: string; twoFactorActivation: string | null };
type Setup = { setupToken: string; secret: string; otpauthUrl: string; alreadyEnrolled: boolean };

const unique = () => randomBytes(4).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A refused operation: the code, no data. */
function refused(res: GqlResult<unknown>, code: string, note = '') {
  expect(codeOf(res), `${note} ${JSON.stringify(res.errors)}`).to.equal(code);
  expect(res.data, note).to.equal(null);
}

const login = (s: TestServer, email: string, password: string, code: string | null = null, headers: Record<string, string> = {}) =>
  s.gql<{ login: LoginPayload }>(LOGIN, { e: email, p: password, c: code }, null, headers);
const verify = (s: TestServer, token: string, code: string) => s.gql<{ verifyTotp: LoginPayload }>(VERIFY, { c: code }, token);
const me = (s: TestServer, token: string) => s.gql<{ me: { id: string; email: string; twoFactorEnabled: boolean } }>(ME, {}, token);

/** The token no longer opens anything: UNAUTHENTICATED (HTTP 200, invalid_token challenge). */
async function expectDead(s: TestServer, token: string, note = '') {
  const res = await me(s, token);
  expect(res.status, note).to.equal(200);
  refused(res, 'UNAUTHENTICATED', note);
}

async function expectAlive(s: TestServer, token: string, userId: string) {
  const res = await me(s, token);
  expect(res.status).to.equal(200);
  expect(ok(res).me.id).to.equal(userId);
}

/**
 * Codes of consecutive TOTP steps, step 0 being the current one, for a secret whose steps the server
 * has not seen: step(0) and step(1) stay within the server's window for at least 30 seconds.
 */
function steps(secret: string) {
  const base = Math.floor(Date.now() / 30_000);
  return (i: number) => totpCode(secret, (base + i) * 30_000);
}

/** A well-formed code that matches no step the server could accept now or in the next minute. */

async function sessionsOf(s: TestServer, userId: string, stage?: string): Promise<number> {
  return s.app.services.orm.em.fork().count(Session, stage ? { user: userId, stage: stage as never } : { user: userId });
}

async function userRow(s: TestServer, userId: string): Promise<Record<string, unknown>> {
  const rows = await s.app.services.orm.em
    .fork()
    .getConnection()
    .execute<Record<string, unknown>[]>('select * from app_user where id = ?', [userId]);
  expect(rows).to.have.length(1);
  return rows[0]!;
}

const passwordHashOf = async (s: TestServer, userId: string) => (await userRow(s, userId)).password_hash;

async function updateSession(s: TestServer, token: string, data: Partial<Pick<Session, 'lastSeenAt' | 'expiresAt'>>) {
  const changed = await s.app.services.orm.em.fork().nativeUpdate(Session, { tokenHash: hashToken(token) }, data);
  expect(changed).to.equal(1);
}

const hasResetLink = (m: CapturedMail) => /\/reset-password\?token=/.test(m.text);

/** Waits for the next mail to `to` matching the predicate that was not there when watch() was called. */
function watch(smtp: SmtpCapture, to: string, predicate: (m: CapturedMail) => boolean = () => true) {
  const matching = () => smtp.mails.filter((m) => m.to.includes(to) && predicate(m));
  const seen = matching().length;
  return async (timeoutMs = 10000): Promise<CapturedMail> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const list = matching();
      if (list.length > seen) return list[seen]!;
      if (Date.now() > deadline) throw new Error(`no new mail to ${to} within ${timeoutMs} ms`);
      await sleep(25);
    }
  };
}

/** Asks for a password reset through the API and returns the token of the link in the e-mail. */
async function resetToken(s: TestServer, smtp: SmtpCapture, email: string): Promise<string> {
  const next = watch(smtp, email, hasResetLink);
  expect(ok(await s.gql(REQUEST_RESET, { e: email }))).to.deep.equal({ requestPasswordReset: true });
  return linkToken(await next());
}

/** A POST with headers fetch() would not send as given (Host): the raw body comes back as text. */
function rawPost(s: TestServer, body: unknown, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${s.url}/graphql`,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('sign-in, 2FA and account activation', function () {
  this.timeout(60000);
  let smtp: SmtpCapture;
  let s: TestServer;
  before(async () => {
    smtp = await startSmtpCapture();
    s = await startTestServer({ SMTP_URL: smtp.url });
  });
  after(async () => {
    await s.stop();
    await smtp.close();
  });

  describe('login', () => {
    it('asks an account with 2FA for a TOTP code, and with a valid totpCode signs in at once', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const first = ok(await login(s, u.email, u.password)).login;
      expect(first).to.include({ stage: 'TOTP_REQUIRED', twoFactorActivation: null });
      refused(await me(s, first.token), 'TWO_FACTOR_REQUIRED');

      const direct = ok(await login(s, u.email, u.password, freshCode(u))).login;
      expect(direct).to.include({ stage: 'AUTHENTICATED', twoFactorActivation: null });
      expect(direct.token).to.not.equal(first.token);
      await expectAlive(s, direct.token, u.user.id);
    });

    it('replaces a password hash of older scrypt parameters at the next successful sign-in, and the password still works', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const salt = randomBytes(16);
      const older = [
        'scrypt',
        14,
        8,
        1,
        salt.toString('base64'),
        scryptSync(u.password.normalize('NFC'), salt, 32, { N: 2 ** 14, r: 8, p: 1 }).toString('base64'),
      ].join('$');
      const storedHash = async () =>
        (await s.app.services.orm.em.fork().findOneOrFail(User, u.user.id, { populate: ['passwordHash'] })).passwordHash;
      await s.app.services.orm.em.fork().nativeUpdate(User, { id: u.user.id }, { passwordHash: older });
      expect(ok(await login(s, u.email, u.password)).login.stage).to.equal('TOTP_REQUIRED');
      const upgraded = await storedHash();
      expect(upgraded).to.not.equal(older);
      expect(upgraded).to.match(/^scrypt\$15\$8\$3\$/);
      // Signing in again checks against the new hash and leaves it alone.
      expect(ok(await login(s, u.email, u.password)).login.stage).to.equal('TOTP_REQUIRED');
      expect(await storedHash()).to.equal(upgraded);
    });

    it('fails alike for a wrong password, an unknown e-mail and an account without a password, and opens no session', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const invited = await makeUser(s, { role: Role.ADMIN, password: false, twoFactor: false });
      const wrong = await login(s, u.email, 'not the password at all');
      const unknown = await login(s, `nobody-${unique()}@example.test`, 'not the password at all');
      const noPassword = await login(s, invited.email, 'not the password at all');
      for (const res of [wrong, unknown, noPassword]) {
        refused(res, 'UNAUTHENTICATED');
        expect(res.status).to.equal(wrong.status);
        expect(res.errors).to.have.length(1);
        expect(res.errors![0]!.message).to.equal(wrong.errors![0]!.message);
      }
      expect(await sessionsOf(s, u.user.id)).to.equal(0);
      expect(await sessionsOf(s, invited.user.id)).to.equal(0);
    });

    it('tells an account without 2FA to set it up: EMAIL for a portal account, RESELLER_PORTAL for a linked one; nothing else opens', async () => {
      const reseller = await makeReseller(s, { linkedToResellerPortal: true });
      const portal = await makeUser(s, { role: Role.ADMIN, twoFactor: false });
      const linked = await makeUser(s, { role: Role.RESELLER, reseller, twoFactor: false, linkedToResellerPortal: true });

      const p = await passwordOnly(s, portal);
      expect(p).to.include({ stage: 'TWO_FACTOR_SETUP_REQUIRED', twoFactorActivation: 'EMAIL' });
      const l = await passwordOnly(s, linked);
      expect(l).to.include({ stage: 'TWO_FACTOR_SETUP_REQUIRED', twoFactorActivation: 'RESELLER_PORTAL' });

      // Login is blocked: the token opens neither data nor TOTP verification, with or without a code.
      refused(await me(s, p.token), 'TWO_FACTOR_REQUIRED');
      refused(await verify(s, p.token, '123456'), 'TWO_FACTOR_REQUIRED');
      const withCode = ok(await login(s, portal.email, portal.password, '123456')).login;
      expect(withCode.stage).to.equal('TWO_FACTOR_SETUP_REQUIRED');
      expect(await sessionsOf(s, portal.user.id, 'AUTHENTICATED')).to.equal(0);
    });
  });

  describe('activation', () => {
    it('EMAIL: "Enable 2FA" mails a PUBLIC_URL reset link that leads through resetPassword and activateTwoFactor to a signed-in session', async () => {
      const u = await makeUser(s, { role: Role.ADMIN, twoFactor: false });
      const limited = await passwordOnly(s, u);
      const next = watch(smtp, u.email, hasResetLink);
      const activation = ok(await s.gql<{ requestTwoFactorActivation: unknown }>(REQUEST_ACTIVATION, {}, limited.token));
      expect(activation.requestTwoFactorActivation).to.deep.equal({ method: 'EMAIL', redirectUrl: null });

      const mail = await next();
      expect(resetLink(mail).startsWith('https://portal.example.test/reset-password?token=')).to.equal(true);
      const setup = ok(await s.gql<{ resetPassword: Setup }>(RESET, { t: linkToken(mail), p: NEW_PASSWORD })).resetPassword;
      expect(setup.alreadyEnrolled).to.equal(false);
      expect(setup.secret).to.match(/^[A-Z2-7]{32}$/);
      // Until the setup is confirmed, the account still has no 2FA.
      expect((await userRow(s, u.user.id)).totp_secret_sealed).to.equal(null);

      const code = steps(setup.secret);
      expect(ok(await s.gql(ACTIVATE, { t: setup.setupToken, c: code(0) }))).to.deep.equal({ activateTwoFactor: true });

      refused(await login(s, u.email, PASSWORD), 'UNAUTHENTICATED', 'the old password');
      const signedIn = ok(await login(s, u.email, NEW_PASSWORD, code(1))).login;
      expect(signedIn.stage).to.equal('AUTHENTICATED');
      expect(ok(await me(s, signedIn.token)).me).to.include({ email: u.email, twoFactorEnabled: true });
      await expectDead(s, limited.token, 'the setup-stage session');
      // The setup token was single-use too.
      refused(await s.gql(ACTIVATE, { t: setup.setupToken, c: code(1) }), 'BAD_USER_INPUT');
    });

    it('RESELLER_PORTAL: the redirect carries a single-use token for beginTwoFactorSetup, and activation leads to sign-in', async () => {
      const reseller = await makeReseller(s, { linkedToResellerPortal: true });
      const u = await makeUser(s, { role: Role.RESELLER, reseller, twoFactor: false, linkedToResellerPortal: true });
      const limited = await passwordOnly(s, u);
      const activation = ok(
        await s.gql<{ requestTwoFactorActivation: { method: string; redirectUrl: string } }>(REQUEST_ACTIVATION, {}, limited.token),
      ).requestTwoFactorActivation;
      expect(activation.method).to.equal('RESELLER_PORTAL');
      expect(activation.redirectUrl.startsWith('https://rsp.example.test/activate?')).to.equal(true);
      const redirect = new URL(activation.redirectUrl);
      expect(`${redirect.origin}${redirect.pathname}`).to.equal('https://rsp.example.test/activate');
      const token = redirect.searchParams.get('token')!;
      expect(token).to.be.a('string');
      expect(token.length).to.be.at.least(22); // >= 128 random bits in base64url

      // The reseller portal redeems the token with its own API token.
      const portal = await resellerPortalToken(s);
      const setup = ok(await s.gql<{ beginTwoFactorSetup: Setup }>(BEGIN, { t: token }, portal)).beginTwoFactorSetup;
      expect(setup.alreadyEnrolled).to.equal(false);
      expect(new URL(setup.otpauthUrl).searchParams.get('secret')).to.equal(setup.secret);
      refused(await s.gql(BEGIN, { t: token }, portal), 'BAD_USER_INPUT', 'the activation token a second time');

      const code = steps(setup.secret);
      expect(ok(await s.gql(ACTIVATE, { t: setup.setupToken, c: code(0) }))).to.deep.equal({ activateTwoFactor: true });
      const signedIn = ok(await login(s, u.email, u.password, code(1))).login;
      expect(signedIn.stage).to.equal('AUTHENTICATED');
      await expectAlive(s, signedIn.token, u.user.id);
      refused(await s.gql(BEGIN, { t: token }, portal), 'BAD_USER_INPUT', 'the activation token after activation');
      // This path sends no e-mail.
      expect(smtp.mails.filter((m) => m.to.includes(u.email))).to.have.length(0);
    });

    it('an expired reseller-portal activation token is refused with BAD_USER_INPUT and enrols nothing', async () => {
      const reseller = await makeReseller(s, { linkedToResellerPortal: true });
      const u = await makeUser(s, { role: Role.RESELLER, reseller, twoFactor: false, linkedToResellerPortal: true });
      const limited = await passwordOnly(s, u);
      const activation = ok(
        await s.gql<{ requestTwoFactorActivation: { redirectUrl: string } }>(REQUEST_ACTIVATION, {}, limited.token),
      ).requestTwoFactorActivation;
      const token = new URL(activation.redirectUrl).searchParams.get('token')!;
      const expired = await s.app.services.orm.em
        .fork()
        .nativeUpdate(
          AccountToken,
          { user: u.user.id, purpose: AccountTokenPurpose.TWO_FACTOR_ACTIVATION, usedAt: null },
          { expiresAt: new Date(0) },
        );
      expect(expired).to.equal(1);
      refused(await s.gql(BEGIN, { t: token }, await resellerPortalToken(s)), 'BAD_USER_INPUT');
      const row = await userRow(s, u.user.id);
      expect(row.totp_secret_sealed).to.equal(null);
      expect(Boolean(row.two_factor_enabled)).to.equal(false);
    });

    it('a new user of a reseller linked to the reseller portal is linked too, unless createUser says otherwise', async () => {
      const admin = await makeUser(s, { role: Role.ADMIN });
      const adminToken = await signIn(s, admin);
      const linkedReseller = await makeReseller(s, { linkedToResellerPortal: true });
      const plainReseller = await makeReseller(s, { linkedToResellerPortal: false });

      const create = async (input: Record<string, unknown>) => {
        const email = `new-${unique()}@example.test`;
        const next = watch(smtp, email, hasResetLink);
        const user = ok(
          await s.gql<{ createUser: { id: string; linkedToResellerPortal: boolean; twoFactorEnabled: boolean } }>(
            CREATE_USER,
            { i: { email, name: 'New User', role: 'RESELLER', ...input } },
            adminToken,
          ),
        ).createUser;
        expect(user.twoFactorEnabled).to.equal(false);
        // The invitation sets a password; the user leaves the TOTP setup for later and signs in.
        ok(await s.gql(RESET, { t: linkToken(await next()), p: NEW_PASSWORD }));
        const signedIn = ok(await login(s, email, NEW_PASSWORD)).login;
        expect(signedIn.stage).to.equal('TWO_FACTOR_SETUP_REQUIRED');
        return { linked: user.linkedToResellerPortal, method: signedIn.twoFactorActivation };
      };

      expect(await create({ resellerId: linkedReseller.id })).to.deep.equal({ linked: true, method: 'RESELLER_PORTAL' });
      expect(await create({ resellerId: linkedReseller.id, linkedToResellerPortal: false })).to.deep.equal({
        linked: false,
        method: 'EMAIL',
      });
      expect(await create({ resellerId: plainReseller.id })).to.deep.equal({ linked: false, method: 'EMAIL' });
    });

    it('after 2FA is enrolled, a password reset displays the existing secret again and activateTwoFactor confirms it', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const changed = watch(smtp, u.email, (m) => /password was changed/i.test(m.subject));
      const setup = ok(
        await s.gql<{ resetPassword: Setup }>(RESET, { t: await resetToken(s, smtp, u.email), p: NEW_PASSWORD }),
      ).resetPassword;
      expect(setup.alreadyEnrolled).to.equal(true);
      expect(setup.secret).to.equal(u.secret);
      expect(new URL(setup.otpauthUrl).searchParams.get('secret')).to.equal(u.secret);
      // The notification says that the secret was shown again.
      expect((await changed()).text).to.match(/two-factor secret was displayed again/);

      const code = steps(u.secret!);
      expect(ok(await s.gql(ACTIVATE, { t: setup.setupToken, c: code(0) }))).to.deep.equal({ activateTwoFactor: true });
      const signedIn = ok(await login(s, u.email, NEW_PASSWORD, code(1))).login;
      expect(signedIn.stage).to.equal('AUTHENTICATED');
      expect(ok(await me(s, signedIn.token)).me.twoFactorEnabled).to.equal(true);
    });
  });

  describe('TOTP codes', () => {
    it('verifyTotp returns a new AUTHENTICATED token and the TOTP_REQUIRED token is dead afterwards', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const limited = await passwordOnly(s, u);
      const verified = ok(await verify(s, limited.token, freshCode(u))).verifyTotp;
      expect(verified).to.include({ stage: 'AUTHENTICATED', twoFactorActivation: null });
      expect(verified.token).to.not.equal(limited.token);
      await expectAlive(s, verified.token, u.user.id);
      await expectDead(s, limited.token);
      const again = await verify(s, limited.token, freshCode(u));
      expect(again.status).to.equal(200);
      refused(again, 'UNAUTHENTICATED');
    });

    it('refuses the same code a second time in verifyTotp (UNAUTHENTICATED); the session may still use a newer code', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const code = steps(u.secret!);
      const first = await passwordOnly(s, u);
      expect(ok(await verify(s, first.token, code(0))).verifyTotp.stage).to.equal('AUTHENTICATED');

      const second = await passwordOnly(s, u);
      refused(await verify(s, second.token, code(0)), 'UNAUTHENTICATED');
      refused(await me(s, second.token), 'TWO_FACTOR_REQUIRED');
      expect(await sessionsOf(s, u.user.id, 'AUTHENTICATED')).to.equal(1);
      expect(ok(await verify(s, second.token, code(1))).verifyTotp.stage).to.equal('AUTHENTICATED');
    });

    it('the code that activated 2FA cannot then sign in, neither in login nor in verifyTotp', async () => {
      const u = await makeUser(s, { role: Role.ADMIN, twoFactor: false });
      const setup = ok(
        await s.gql<{ resetPassword: Setup }>(RESET, { t: await resetToken(s, smtp, u.email), p: NEW_PASSWORD }),
      ).resetPassword;
      const code = steps(setup.secret);
      expect(ok(await s.gql(ACTIVATE, { t: setup.setupToken, c: code(0) }))).to.deep.equal({ activateTwoFactor: true });

      refused(await login(s, u.email, NEW_PASSWORD, code(0)), 'UNAUTHENTICATED');
      const limited = ok(await login(s, u.email, NEW_PASSWORD)).login;
      expect(limited.stage).to.equal('TOTP_REQUIRED');
      refused(await verify(s, limited.token, code(0)), 'UNAUTHENTICATED');
      expect(await sessionsOf(s, u.user.id, 'AUTHENTICATED')).to.equal(0);
      expect(ok(await verify(s, limited.token, code(1))).verifyTotp.stage).to.equal('AUTHENTICATED');
    });

    it('a code used in login(totpCode) cannot be used again in verifyTotp', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const code = steps(u.secret!);
      expect(ok(await login(s, u.email, u.password, code(0))).login.stage).to.equal('AUTHENTICATED');
      const limited = await passwordOnly(s, u);
      refused(await verify(s, limited.token, code(0)), 'UNAUTHENTICATED');
      refused(await me(s, limited.token), 'TWO_FACTOR_REQUIRED');
    });

    it('refuses codes that are not exactly six digits with BAD_USER_INPUT, and counts them as failed attempts', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const limited = await passwordOnly(s, u);
      for (const bad of MALFORMED_CODES) {
        const res = await verify(s, limited.token, bad);
        refused(res, 'BAD_USER_INPUT', JSON.stringify(bad));
      }
      // Five malformed codes were five failures: the user's TOTP verification is now locked.
      refused(await verify(s, limited.token, totpCode(u.secret!)), 'RATE_LIMITED');

      // login(totpCode) applies the same rule and opens no session.
      const other = await makeUser(s, { role: Role.ADMIN });
      refused(await login(s, other.email, other.password, '12345'), 'BAD_USER_INPUT');
      refused(await login(s, other.email, other.password, '12345x'), 'BAD_USER_INPUT');
      expect(await sessionsOf(s, other.user.id)).to.equal(0);
    });
  });

  describe('TOTP attempt limit', () => {
    it('four wrong codes still leave the fifth attempt to a correct code', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const limited = await passwordOnly(s, u);
      for (let i = 0; i < 4; i++) refused(await verify(s, limited.token, wrongCode(u.secret!)), 'UNAUTHENTICATED', `attempt ${i + 1}`);
      expect(ok(await verify(s, limited.token, freshCode(u))).verifyTotp.stage).to.equal('AUTHENTICATED');
    });

    it('after five wrong codes the user is RATE_LIMITED for 15 minutes, even with a correct code, after a fresh login and in login(totpCode)', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const limited = await passwordOnly(s, u);
      for (let i = 0; i < 5; i++) refused(await verify(s, limited.token, wrongCode(u.secret!)), 'UNAUTHENTICATED', `attempt ${i + 1}`);
      const code = steps(u.secret!);

      refused(await verify(s, limited.token, code(0)), 'RATE_LIMITED', 'same session');
      const fresh = await passwordOnly(s, u);
      expect(fresh.stage).to.equal('TOTP_REQUIRED');
      expect(fresh.token).to.not.equal(limited.token);
      refused(await verify(s, fresh.token, code(0)), 'RATE_LIMITED', 'fresh session');
      refused(await login(s, u.email, u.password, code(0)), 'RATE_LIMITED', 'login(totpCode)');
      expect(await sessionsOf(s, u.user.id, 'AUTHENTICATED')).to.equal(0);

      // The lock is per user: another user signs in as usual.
      const other = await makeUser(s, { role: Role.ADMIN });
      await expectAlive(s, await signIn(s, other), other.user.id);

      // It lasts 15 minutes; once it has run out, a correct code signs in again.
      const conn = s.app.services.orm.em.fork().getConnection();
      const [counter] = await conn.execute<{ locked_until_ms: string | number }[]>(
        'select locked_until_ms from attempt_counter where scope = ? and subject = ?',
        ['TOTP_USER', u.user.id],
      );
      const lockedFor = Number(counter!.locked_until_ms) - Date.now();
      expect(lockedFor).to.be.within(14 * 60_000, 15 * 60_000);
      const past = Date.now() - 16 * 60_000;
      await conn.execute('update attempt_counter set locked_until_ms = ?, window_start_ms = ? where scope = ? and subject = ?', [
        past,
        past,
        'TOTP_USER',
        u.user.id,
      ]);
      expect(ok(await verify(s, fresh.token, totpCode(u.secret!))).verifyTotp.stage).to.equal('AUTHENTICATED');
    });
  });

  describe('password reset', () => {
    it('answers requestPasswordReset identically for known and unknown addresses and mails only the known one', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const ghost = `ghost-${unique()}@example.test`;
      const knownMail = watch(smtp, u.email, hasResetLink);
      const unknown = await rawPost(s, { query: REQUEST_RESET, variables: { e: ghost } }, {});
      const known = await rawPost(s, { query: REQUEST_RESET, variables: { e: u.email } }, {});
      expect(known.status).to.equal(200);
      expect(JSON.parse(known.text)).to.deep.equal({ data: { requestPasswordReset: true } });
      expect(unknown).to.deep.equal(known);

      const mail = await knownMail();
      expect(resetLink(mail).startsWith('https://portal.example.test/reset-password?token=')).to.equal(true);
      // The unknown address was asked first; by now its mail would have arrived as well.
      await sleep(1000);
      expect(smtp.mails.filter((m) => m.to.includes(ghost))).to.have.length(0);
    });

    it('refuses a malformed address with BAD_USER_INPUT and sends nothing', async () => {
      const before = smtp.mails.length;
      for (const email of ['not-an-address', 'a@b', 'two@@example.test', '<x@example.test>']) {
        refused(await s.gql(REQUEST_RESET, { e: email }), 'BAD_USER_INPUT', email);
      }
      await sleep(300);
      expect(smtp.mails.length).to.equal(before);
    });

    it('builds the reset link from PUBLIC_URL, whatever Host and forwarding headers the request carries', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const next = watch(smtp, u.email, hasResetLink);
      const res = await rawPost(
        s,
        { query: REQUEST_RESET, variables: { e: u.email } },
        {
          host: 'evil.example',
          'x-forwarded-host': 'evil.example',
          'x-forwarded-proto': 'http',
          'x-forwarded-port': '8080',
          forwarded: 'for=203.0.113.9;host=evil.example;proto=http',
          'x-original-host': 'evil.example',
          origin: 'https://evil.example',
        },
      );
      expect(res.status).to.equal(200);
      const mail = await next();
      expect(resetLink(mail).startsWith('https://portal.example.test/reset-password?token=')).to.equal(true);
      expect(mail.text).to.not.contain('evil.example');
      expect(mail.html).to.not.contain('evil.example');
    });

    it('refuses a used or an expired reset token with BAD_USER_INPUT, and the password stays as it was', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const used = await resetToken(s, smtp, u.email);
      ok(await s.gql(RESET, { t: used, p: NEW_PASSWORD }));
      const hash = await passwordHashOf(s, u.user.id);
      refused(await s.gql(RESET, { t: used, p: OTHER_PASSWORD }), 'BAD_USER_INPUT', 'used token');
      expect(await passwordHashOf(s, u.user.id)).to.equal(hash);

      const expiring = await resetToken(s, smtp, u.email);
      const expired = await s.app.services.orm.em
        .fork()
        .nativeUpdate(
          AccountToken,
          { user: u.user.id, purpose: AccountTokenPurpose.PASSWORD_RESET, usedAt: null },
          { expiresAt: new Date(0) },
        );
      expect(expired).to.equal(1);
      refused(await s.gql(RESET, { t: expiring, p: OTHER_PASSWORD }), 'BAD_USER_INPUT', 'expired token');
      expect(await passwordHashOf(s, u.user.id)).to.equal(hash);

      refused(await login(s, u.email, OTHER_PASSWORD), 'UNAUTHENTICATED');
      expect(ok(await login(s, u.email, NEW_PASSWORD)).login.stage).to.equal('TOTP_REQUIRED');
    });

    it('refuses a weak password with BAD_USER_INPUT and leaves the token usable', async () => {
      const u = await makeUser(s, { role: Role.ADMIN, twoFactor: false });
      const token = await resetToken(s, smtp, u.email);
      const hash = await passwordHashOf(s, u.user.id);
      for (const weak of ['short', 'elevenchars', 'aaaaaaaaaaaaaaaa', u.email]) {
        const res = await s.gql(RESET, { t: token, p: weak });
        refused(res, 'BAD_USER_INPUT', weak);
        expect(res.errors![0]!.extensions!.field).to.equal('newPassword');
      }
      expect(await passwordHashOf(s, u.user.id)).to.equal(hash);
      const setup = ok(await s.gql<{ resetPassword: Setup }>(RESET, { t: token, p: NEW_PASSWORD })).resetPassword;
      expect(setup.alreadyEnrolled).to.equal(false);
      expect(ok(await login(s, u.email, NEW_PASSWORD)).login.stage).to.equal('TWO_FACTOR_SETUP_REQUIRED');
    });

    it('a password change ends every session and API token of the account and sends the password-changed e-mail', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const a = await signIn(s, u);
      const b = await signIn(s, u);
      const limited = await passwordOnly(s, u);
      const apiToken = ok(await s.gql<{ createApiToken: { token: string } }>(CREATE_API_TOKEN, { n: 'script' }, a)).createApiToken.token;
      await expectAlive(s, a, u.user.id);
      await expectAlive(s, apiToken, u.user.id);

      const changed = watch(smtp, u.email, (m) => /password was changed/i.test(m.subject));
      ok(await s.gql(RESET, { t: await resetToken(s, smtp, u.email), p: NEW_PASSWORD }));
      for (const [name, token] of Object.entries({ a, b, limited: limited.token, apiToken })) await expectDead(s, token, name);
      expect(await sessionsOf(s, u.user.id)).to.equal(0);
      expect((await changed()).text).to.match(/was changed/);
    });
  });

  describe('sessions', () => {
    it('a session idle for more than 30 minutes ends (UNAUTHENTICATED); one idle for 29 minutes lives on', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const token = await signIn(s, u);
      await updateSession(s, token, { lastSeenAt: new Date(Date.now() - 29 * 60_000) });
      await expectAlive(s, token, u.user.id);
      await updateSession(s, token, { lastSeenAt: new Date(Date.now() - 31 * 60_000) });
      await expectDead(s, token);
    });

    it('a session past its absolute end is refused (UNAUTHENTICATED); sessions end after 12 hours, limited ones after 10 minutes', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const token = await signIn(s, u);
      const limited = await passwordOnly(s, u);
      const em = s.app.services.orm.em.fork();
      const full = await em.findOneOrFail(Session, { tokenHash: hashToken(token) });
      const part = await em.findOneOrFail(Session, { tokenHash: hashToken(limited.token) });
      expect(full.expiresAt.getTime() - full.createdAt.getTime()).to.equal(12 * 3_600_000);
      expect(part.expiresAt.getTime() - part.createdAt.getTime()).to.equal(10 * 60_000);

      await updateSession(s, token, { expiresAt: new Date(Date.now() - 1000) });
      await expectDead(s, token);
      await updateSession(s, limited.token, { expiresAt: new Date(Date.now() - 1000) });
      const late = await verify(s, limited.token, freshCode(u));
      expect(late.status).to.equal(200);
      refused(late, 'UNAUTHENTICATED');
    });

    it('logout ends only the session it is called with, for full and limited sessions alike', async () => {
      const u = await makeUser(s, { role: Role.ADMIN });
      const a = await signIn(s, u);
      const b = await signIn(s, u);
      const limited = await passwordOnly(s, u);
      expect(ok(await s.gql(LOGOUT, {}, a))).to.deep.equal({ logout: true });
      await expectDead(s, a);
      await expectAlive(s, b, u.user.id);
      expect(ok(await s.gql(LOGOUT, {}, limited.token))).to.deep.equal({ logout: true });
      const after = await verify(s, limited.token, '123456');
      expect(after.status).to.equal(200);
      refused(after, 'UNAUTHENTICATED');
      const again = await s.gql(LOGOUT, {}, a);
      expect(again.status).to.equal(200);
      refused(again, 'UNAUTHENTICATED');
    });
  });

  describe('resetUserTwoFactor', () => {
    it("an admin resetting a user's 2FA ends the user's sessions, asks the user to set 2FA up again and writes TWO_FACTOR_RESET", async () => {
      const admin = await makeUser(s, { role: Role.ADMIN });
      const adminToken = await signIn(s, admin);
      const reseller = await makeReseller(s);
      const u = await makeUser(s, { role: Role.RESELLER, reseller });
      const code = steps(u.secret!);
      const userToken = ok(await login(s, u.email, u.password, code(0))).login.token;
      await expectAlive(s, userToken, u.user.id);

      const reset = ok(
        await s.gql<{ resetUserTwoFactor: { id: string; twoFactorEnabled: boolean } }>(RESET_2FA, { id: u.user.id }, adminToken),
      );
      expect(reset.resetUserTwoFactor).to.deep.equal({ id: u.user.id, twoFactorEnabled: false });
      await expectDead(s, userToken);

      // The old authenticator no longer signs in: the account is back to setting up 2FA.
      const next = ok(await login(s, u.email, u.password, code(1))).login;
      expect(next).to.include({ stage: 'TWO_FACTOR_SETUP_REQUIRED', twoFactorActivation: 'EMAIL' });
      expect((await userRow(s, u.user.id)).totp_secret_sealed).to.equal(null);

      const events = ok(
        await s.gql<{
          auditEvents: { edges: { node: { action: string; targetType: string; targetId: string; actor: { id: string } | null } }[] };
        }>(AUDIT, {}, adminToken),
      ).auditEvents.edges.map((e) => e.node);
      expect(events).to.deep.include({ action: 'TWO_FACTOR_RESET', targetType: 'User', targetId: u.user.id, actor: { id: admin.user.id } });
    });
  });

  describe('secrets at rest', () => {
    it('after onboarding, no table holds the TOTP secret, the password or any bearer token in plain text', async () => {
      const admin = await makeUser(s, { role: Role.ADMIN });
      const adminToken = await signIn(s, admin);
      const email = `at-rest-${unique()}@example.test`;
      const next = watch(smtp, email, hasResetLink);
      const created = ok(
        await s.gql<{ createUser: { id: string } }>(CREATE_USER, { i: { email, name: 'At Rest', role: 'ADMIN' } }, adminToken),
      ).createUser;
      const invitation = linkToken(await next());
      const setup = ok(await s.gql<{ resetPassword: Setup }>(RESET, { t: invitation, p: NEW_PASSWORD })).resetPassword;
      const code = steps(setup.secret);
      ok(await s.gql(ACTIVATE, { t: setup.setupToken, c: code(0) }));
      const limited = ok(await login(s, email, NEW_PASSWORD)).login;
      const verified = ok(await verify(s, limited.token, code(1))).verifyTotp;
      const apiToken = ok(await s.gql<{ createApiToken: { token: string } }>(CREATE_API_TOKEN, { n: 'ci' }, verified.token)).createApiToken
        .token;
      const relogin = ok(await login(s, email, NEW_PASSWORD)).login; // a live TOTP_REQUIRED session

      const conn = s.app.services.orm.em.fork().getConnection();
      const tables = ['app_user', 'session', 'account_token', 'api_token', 'audit_event', 'attempt_counter'];
      const dump = JSON.stringify(await Promise.all(tables.map((t) => conn.execute(`select * from ${t}`))));
      const plain: Record<string, string> = {
        secret: setup.secret,
        password: NEW_PASSWORD,
        invitation,
        setupToken: setup.setupToken,
        limited: limited.token,
        verified: verified.token,
        relogin: relogin.token,
        apiToken,
        adminToken,
      };
      for (const [name, value] of Object.entries(plain)) expect(dump.includes(value), name).to.equal(false);
      expect(dump.toLowerCase().includes(setup.secret.toLowerCase()), 'secret in lower case').to.equal(false);

      // What is there instead: a sealed secret, a scrypt hash and SHA-256 token hashes.
      const row = await userRow(s, created.id);
      expect(row.totp_secret_sealed).to.match(/^v1:/);
      expect(row.password_hash).to.match(/^scrypt\$/);
      for (const token of [verified.token, relogin.token, apiToken]) expect(dump).to.contain(hashToken(token));
    });
  });
});

describe('login attempt limits', function () {
  this.timeout(120000);
  let s: TestServer;
  before(async () => (s = await startTestServer()));
  after(() => s.stop());

  it('ten wrong passwords lock the account: the eleventh attempt is RATE_LIMITED even with the right password', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    for (let i = 0; i < 10; i++) refused(await login(s, u.email, `wrong password ${i}`), 'UNAUTHENTICATED', `attempt ${i + 1}`);
    refused(await login(s, u.email, u.password), 'RATE_LIMITED');
    refused(await login(s, u.email.toUpperCase(), u.password), 'RATE_LIMITED', 'the same address in capitals');
    expect(await sessionsOf(s, u.user.id)).to.equal(0);
    // Other accounts from the same client are not affected.
    const other = await makeUser(s, { role: Role.ADMIN });
    expect((await passwordOnly(s, other)).stage).to.equal('TOTP_REQUIRED');
  });

  it('an unknown e-mail is locked out exactly like a known one, so a lockout reveals no account', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const ghost = `ghost-${unique()}@example.test`;
    for (let i = 0; i < 11; i++) {
      const known = await login(s, u.email, `wrong password ${i}`);
      const unknown = await login(s, ghost, `wrong password ${i}`);
      const expected = i < 10 ? 'UNAUTHENTICATED' : 'RATE_LIMITED';
      refused(known, expected, `known, attempt ${i + 1}`);
      refused(unknown, expected, `unknown, attempt ${i + 1}`);
      expect(unknown.status).to.equal(known.status);
      expect(unknown.errors![0]!.message).to.equal(known.errors![0]!.message);
    }
  });
});

describe('per-address login limit', function () {
  this.timeout(300000);
  let s: TestServer;
  // Behind a proxy (TRUST_PROXY) the client address comes from X-Forwarded-For, so two addresses can be compared.
  before(async () => (s = await startTestServer({ TRUST_PROXY: 'true' })));
  after(() => s.stop());

  it('after 100 failed logins from one address, it is RATE_LIMITED even for another account with the right password', async () => {
    const u: TestUser = await makeUser(s, { role: Role.ADMIN });
    const attacker = { 'x-forwarded-for': '203.0.113.7' };
    const bystander = { 'x-forwarded-for': '198.51.100.23' };
    const run = unique();
    // Every attempt names another unknown account, so no per-account limit is reached.
    for (let i = 0; i < 100; i += 4) {
      const batch = await Promise.all(
        [0, 1, 2, 3].map((j) => login(s, `nobody-${run}-${i + j}@example.test`, 'a wrong password', null, attacker)),
      );
      batch.forEach((res, j) => refused(res, 'UNAUTHENTICATED', `attempt ${i + j + 1}`));
    }
    refused(await login(s, u.email, u.password, null, attacker), 'RATE_LIMITED');
    refused(await login(s, u.email, u.password, freshCode(u), attacker), 'RATE_LIMITED');
    expect(await sessionsOf(s, u.user.id)).to.equal(0);

    // The account itself is fine: from another address it signs in.
    expect(ok(await login(s, u.email, u.password, null, bystander)).login.stage).to.equal('TOTP_REQUIRED');
  });
});
