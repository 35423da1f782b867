// TOTP_SECRET_REDISPLAY (FLOWS.md section 11) through the API: with `never`, a reset link of an account
// with 2FA enrolled starts a fresh enrolment, and the enrolled secret keeps signing in until
// activateTwoFactor confirms the new one. (`always`, the default, is covered in auth-flows.test.ts.) A
// value other than always or never stops the server at start.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Role } from '../../src/common/enums';
import { ConfigError, loadConfig } from '../../src/config';
import { AuditAction } from '../../src/modules/audit/audit.service';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { totpCode } from '../../src/modules/auth/totp';
import { User } from '../../src/modules/users/user.entity';
import { makeUser, settledStep } from '../factories';
import { linkToken, startSmtpCapture, type CapturedMail, type SmtpCapture } from '../helpers/mail';
import { spawnServer } from '../helpers/process';
import { codeOf, ok, startTestServer, testEnv, type TestServer } from '../helpers/server';

const LOGIN = `mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage } }`;
const ME = `{ me { id twoFactorEnabled } }`;
const REQUEST_RESET = `mutation($e: String!) { requestPasswordReset(email: $e) }`;
const RESET = `mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken secret otpauthUrl alreadyEnrolled replacesEnrolled } }`;
const ACTIVATE = `mutation($t: String!, $c: String!) { activateTwoFactor(setupToken: $t, code: $c) }`;

const NEW_PASSWORD = 'a long and new password';

type Setup = { setupToken: string; secret: string; otpauthUrl: string; alreadyEnrolled: boolean; replacesEnrolled: boolean };

describe('TOTP_SECRET_REDISPLAY=never: a reset link starts a fresh enrolment (API)', function () {
  this.timeout(60000);
  let smtp: SmtpCapture;
  let s: TestServer;
  before(async () => {
    smtp = await startSmtpCapture();
    s = await startTestServer({ SMTP_URL: smtp.url, TOTP_SECRET_REDISPLAY: 'never' });
  });
  after(async () => {
    await s?.stop();
    await smtp?.close();
  });

  const login = (email: string, password: string, code: string) =>
    s.gql<{ login: { token: string; stage: string } }>(LOGIN, { e: email, p: password, c: code });
  const sealedSecretOf = async (userId: string) =>
    (await s.app.services.orm.em.fork().findOneOrFail(User, userId, { populate: ['totpSecretSealed'] })).totpSecretSealed;
  const actionsOf = async (userId: string) =>
    (await s.app.services.orm.em.fork().find(AuditEvent, { targetId: userId }, { orderBy: { at: 'asc' } })).map((e) => e.action);

  /** Asks for a reset through the API; the link's token from the e-mail. */
  async function resetToken(email: string): Promise<string> {
    ok(await s.gql(REQUEST_RESET, { e: email }));
    return linkToken(await smtp.waitFor(email, (m) => /Reset your/.test(m.subject)));
  }

  it('is read from the configuration', () => {
    expect(s.config.totpSecretRedisplay).to.equal('never');
  });

  it('a fresh secret (alreadyEnrolled false); the old secret signs in until activateTwoFactor confirms the new one, then only the new one does', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const enrolledSealed = await sealedSecretOf(u.user.id);
    const setup = ok(await s.gql<{ resetPassword: Setup }>(RESET, { t: await resetToken(u.email), p: NEW_PASSWORD })).resetPassword;
    expect([setup.alreadyEnrolled, setup.replacesEnrolled]).to.deep.equal([false, true]);
    expect(setup.secret).to.match(/^[A-Z2-7]{32}$/);
    expect(setup.secret).to.not.equal(u.secret);
    expect(new URL(setup.otpauthUrl).searchParams.get('secret')).to.equal(setup.secret);
    // The notification does not claim that the secret was shown again: it was not.
    const changed: CapturedMail = await smtp.waitFor(u.email, (m) => /password was changed/i.test(m.subject));
    expect(changed.text).to.not.match(/displayed again/i);
    expect(changed.html).to.not.match(/displayed again/i);
    // Until the confirmation the account keeps its secret, and 2FA stays on.
    expect(await sealedSecretOf(u.user.id)).to.equal(enrolledSealed);

    // Three accepted codes of this user in a row: steps base-1, base, base+1 (see settledStep).
    const base = await settledStep();
    const oldCode = (i: number) => totpCode(u.secret!, (base + i) * 30_000);
    const newCode = (i: number) => totpCode(setup.secret, (base + i) * 30_000);

    // 1. Before the confirmation: the new password with a code of the OLD secret signs in.
    const before = ok(await login(u.email, NEW_PASSWORD, oldCode(-1))).login;
    expect(before.stage).to.equal('AUTHENTICATED');
    expect(ok(await s.gql<{ me: { twoFactorEnabled: boolean } }>(ME, {}, before.token)).me.twoFactorEnabled).to.equal(true);

    // The setup is confirmed with the new secret only: a code of the old one is refused and changes nothing.
    const withOld = await s.gql(ACTIVATE, { t: setup.setupToken, c: oldCode(0) });
    expect(codeOf(withOld), JSON.stringify(withOld.errors)).to.equal('UNAUTHENTICATED');
    expect(await sealedSecretOf(u.user.id)).to.equal(enrolledSealed);

    // 2. The confirmation with a code of the new secret.
    expect(ok(await s.gql(ACTIVATE, { t: setup.setupToken, c: newCode(0) }))).to.deep.equal({ activateTwoFactor: true });
    expect(await sealedSecretOf(u.user.id)).to.not.equal(enrolledSealed);

    // 3. Afterwards the old secret fails (with a step the server would otherwise accept), the new one works.
    const old = await login(u.email, NEW_PASSWORD, oldCode(1));
    expect(codeOf(old), JSON.stringify(old.errors)).to.equal('UNAUTHENTICATED');
    expect(old.data).to.equal(null);
    const after = ok(await login(u.email, NEW_PASSWORD, newCode(1))).login;
    expect(after.stage).to.equal('AUTHENTICATED');

    // The setup token was single-use; the audit says "activated" (a new secret), not "displayed again".
    expect(codeOf(await s.gql(ACTIVATE, { t: setup.setupToken, c: newCode(1) }))).to.equal('BAD_USER_INPUT');
    const actions = await actionsOf(u.user.id);
    expect(actions).to.include.members([AuditAction.PASSWORD_CHANGED, AuditAction.TWO_FACTOR_ACTIVATED]);
    expect(actions).to.not.include(AuditAction.TWO_FACTOR_SECRET_DISPLAYED);
    expect(actions).to.not.include(AuditAction.TWO_FACTOR_CONFIRMED);
  });

  it('an account without 2FA enrols as before: a new secret, alreadyEnrolled false', async () => {
    const u = await makeUser(s, { role: Role.ADMIN, twoFactor: false });
    const setup = ok(await s.gql<{ resetPassword: Setup }>(RESET, { t: await resetToken(u.email), p: NEW_PASSWORD })).resetPassword;
    expect([setup.alreadyEnrolled, setup.replacesEnrolled]).to.deep.equal([false, false]);
    const base = await settledStep();
    expect(ok(await s.gql(ACTIVATE, { t: setup.setupToken, c: totpCode(setup.secret, base * 30_000) }))).to.deep.equal({
      activateTwoFactor: true,
    });
    expect(ok(await login(u.email, NEW_PASSWORD, totpCode(setup.secret, (base + 1) * 30_000))).login.stage).to.equal('AUTHENTICATED');
  });
});

describe('TOTP_SECRET_REDISPLAY: configuration', function () {
  this.timeout(30000);

  it('always (default, also when empty) or never, in any case and with spaces; anything else is a ConfigError naming the variable', () => {
    const env = testEnv(tmpdir(), 'unused');
    expect(loadConfig(env).totpSecretRedisplay).to.equal('always');
    expect(loadConfig({ ...env, TOTP_SECRET_REDISPLAY: '' }).totpSecretRedisplay).to.equal('always');
    expect(loadConfig({ ...env, TOTP_SECRET_REDISPLAY: ' Never ' }).totpSecretRedisplay).to.equal('never');
    expect(loadConfig({ ...env, TOTP_SECRET_REDISPLAY: 'ALWAYS' }).totpSecretRedisplay).to.equal('always');
    for (const value of ['sometimes', 'true', 'no', 'always,never']) {
      expect(() => loadConfig({ ...env, TOTP_SECRET_REDISPLAY: value }), value).to.throw(ConfigError, /TOTP_SECRET_REDISPLAY/);
    }
  });

  it('with TOTP_SECRET_REDISPLAY=sometimes the server exits non-zero with one line naming the variable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lp-redisplay-'));
    try {
      const running = spawnServer(
        testEnv(dir, `t_${randomBytes(6).toString('hex')}`, { LOG_LEVEL: 'info', TOTP_SECRET_REDISPLAY: 'sometimes' }),
        dir,
      );
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`still running after 15 s: ${running.stderr()}`)), 15000).unref(),
      );
      const exit = await Promise.race([running.closed, timeout]).catch((error: Error) => {
        running.child.kill('SIGKILL');
        throw error;
      });
      expect(exit.code).to.not.equal(0);
      expect(exit.code).to.not.equal(null);
      const lines = running.stderr().trim().split('\n');
      expect(lines, running.stderr()).to.have.length(1);
      expect(lines[0]).to.contain('TOTP_SECRET_REDISPLAY');
      expect(lines[0]).to.contain('sometimes');
      expect(lines[0]).to.not.match(/\bat .*\.js:\d+/);
      expect(running.stdout()).to.equal('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
