// The whole onboarding of FLOWS.md section 3, as a newcomer lives it: create-admin -> invitation
// e-mail -> resetPassword -> QR code -> activateTwoFactor -> login -> verifyTotp -> me.
import { expect } from 'chai';
import { totpCode } from '../../src/modules/auth/totp';
import { runCli } from '../helpers/cli';
import { linkToken, parseMail, startSmtpCapture, type SmtpCapture } from '../helpers/mail';
import { decodeQrDataUrl } from '../helpers/qr';
import { codeOf, startTestServer, type TestServer } from '../helpers/server';

const RESET = `mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken secret otpauthUrl qrCodeDataUrl alreadyEnrolled } }`;
const ACTIVATE = `mutation($t: String!, $c: String!) { activateTwoFactor(setupToken: $t, code: $c) }`;
const LOGIN = `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token stage twoFactorActivation } }`;
const VERIFY = `mutation($c: String!) { verifyTotp(code: $c) { token stage } }`;
const ME = `{ me { email name role twoFactorEnabled linkedToResellerPortal } }`;
const PASSWORD = 'a long and new password';

async function completeOnboarding(s: TestServer, email: string, token: string) {
  const reset = await s.gql<{
    resetPassword: { setupToken: string; secret: string; otpauthUrl: string; qrCodeDataUrl: string; alreadyEnrolled: boolean };
  }>(RESET, { t: token, p: PASSWORD });
  expect(reset.errors, JSON.stringify(reset.errors)).to.equal(undefined);
  const setup = reset.data!.resetPassword;
  expect(setup.alreadyEnrolled).to.equal(false);
  expect(setup.secret).to.match(/^[A-Z2-7]{32}$/);

  // What the authenticator app scans is the same secret the page shows.
  const scanned = new URL(decodeQrDataUrl(setup.qrCodeDataUrl));
  expect(scanned.toString()).to.equal(setup.otpauthUrl);
  expect(scanned.protocol).to.equal('otpauth:');
  expect(scanned.host).to.equal('totp');
  expect(scanned.searchParams.get('secret')).to.equal(setup.secret);
  expect(decodeURIComponent(scanned.pathname)).to.contain(email);

  const now = Date.now();
  const activated = await s.gql(ACTIVATE, { t: setup.setupToken, c: totpCode(setup.secret, now) });
  expect(activated.errors, JSON.stringify(activated.errors)).to.equal(undefined);
  expect(activated.data).to.deep.equal({ activateTwoFactor: true });

  const login = await s.gql<{ login: { token: string; stage: string } }>(LOGIN, { e: email, p: PASSWORD });
  expect(login.data!.login.stage).to.equal('TOTP_REQUIRED');
  // The activation code's step is used up: the next step's code signs in.
  const verified = await s.gql<{ verifyTotp: { token: string; stage: string } }>(
    VERIFY,
    { c: totpCode(setup.secret, now + 30_000) },
    login.data!.login.token,
  );
  expect(verified.errors, JSON.stringify(verified.errors)).to.equal(undefined);
  expect(verified.data!.verifyTotp.stage).to.equal('AUTHENTICATED');
  expect(verified.data!.verifyTotp.token).to.not.equal(login.data!.login.token);

  const me = await s.gql<{ me: { email: string; role: string; twoFactorEnabled: boolean } }>(ME, {}, verified.data!.verifyTotp.token);
  expect(me.data!.me).to.include({ email, role: 'ADMIN', twoFactorEnabled: true });

  // The limited token died with the stage change.
  const old = await s.gql(ME, {}, login.data!.login.token);
  expect(codeOf(old)).to.equal('UNAUTHENTICATED');
  expect(old.status).to.equal(200);
}

describe('onboarding: create-admin to a signed-in session', function () {
  this.timeout(60000);

  describe('with mail delivered over SMTP', () => {
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

    it('invites the admin by e-mail and the link leads through password, QR code and TOTP to `me`', async () => {
      const email = 'first.admin@example.test';
      const cli = await runCli(['create-admin', '--email', email, '--name', 'First Admin'], { ...s.env, SMTP_URL: smtp.url });
      expect(cli.code, cli.stderr).to.equal(0);
      const printed = /(https:\/\/portal\.example\.test\/reset-password\?token=\S+)/.exec(cli.stdout);
      expect(printed, cli.stdout).to.not.equal(null);

      const mail = await smtp.waitFor(email);
      expect(mail.subject).to.not.match(/[\r\n]/);
      expect(mail.text).to.contain(printed![1]);
      // HTML-escaped like every value in the HTML part (= becomes &#x3D;): browsers read it the same.
      expect(mail.html.replace(/&#x3D;/g, '=')).to.contain(printed![1]);
      await completeOnboarding(s, email, linkToken(mail));
    });

    it('refuses a duplicate e-mail and a bad address with a one-line error and a non-zero exit', async () => {
      const email = 'twice@example.test';
      expect((await runCli(['create-admin', '--email', email, '--name', 'Once'], s.env)).code).to.equal(0);
      const again = await runCli(['create-admin', '--email', email.toUpperCase(), '--name', 'Twice'], s.env);
      expect(again.code).to.equal(1);
      expect(again.stderr.trim().split('\n')).to.have.length(1);
      expect(again.stderr).to.match(/already exists/);
      const bad = await runCli(['create-admin', '--email', 'not-an-address', '--name', 'Bad'], s.env);
      expect(bad.code).to.equal(1);
      expect(bad.stderr.trim().split('\n')).to.have.length(1);
      expect(bad.stderr).to.match(/not a valid e-mail/);
      const missing = await runCli(['create-admin', '--email', 'x@example.test'], s.env);
      expect(missing.code).to.equal(1);
      expect(missing.stderr).to.match(/--name/);
    });
  });

  describe('with no SMTP server configured', () => {
    let s: TestServer;
    before(async () => (s = await startTestServer()));
    after(() => s.stop());

    it('writes the invitation to the outbox as an .eml file whose link completes the onboarding', async () => {
      const email = 'outbox.admin@example.test';
      const cli = await runCli(['create-admin', '--email', email, '--name', 'Outbox Admin'], s.env);
      expect(cli.code, cli.stderr).to.equal(0);
      const files = s.outbox();
      expect(files).to.have.length(1);
      const mail = await parseMail(files[0]!);
      expect(mail.to).to.contain(email);
      await completeOnboarding(s, email, linkToken(mail));
    });
  });
});
