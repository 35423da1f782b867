// The onboarding in a real browser (Debian's Chromium, driven by playwright-core, no JavaScript on the
// pages): create-admin through the CLI -> the link in the captured e-mail -> new password -> the key
// from the page -> code -> "2FA is active" -> sign-in over GraphQL with that password and a code.
// Then, with TOTP_SECRET_REDISPLAY=never, a password reset of an account with 2FA enrolled: a new key,
// the old authenticator working until the new key is confirmed, and not after.
// Screenshots of every step go to test-artifacts/screenshots/ (desktop and phone width).
import { expect } from 'chai';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Role } from '../../src/common/enums';
import { totpCode } from '../../src/modules/auth/totp';
import { makeUser, settledStep } from '../factories';
import { ROOT, runCli } from '../helpers/cli';
import { resetLink, startSmtpCapture, type SmtpCapture } from '../helpers/mail';
import { startTestServer, type TestServer } from '../helpers/server';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-artifacts', 'screenshots');
const PASSWORD = 'my first admin passphrase';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
// The few browser globals the page-side callbacks use (tsconfig has no DOM lib; these run in Chromium).
declare const document: { activeElement: unknown };
declare function getComputedStyle(element: unknown): { backgroundColor: string };
interface ImageElement {
  complete: boolean;
  naturalWidth: number;
}

const LOGIN = `mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage } }`;
/** The done page's hint on recovery codes (FLOWS.md section 11), in both languages. */
const RECOVERY_HINT = {
  en: 'After signing in, generate recovery codes and keep them somewhere safe, apart from your phone: each one signs you in once if you lose your phone.',
  de: 'Erstellen Sie nach der Anmeldung Wiederherstellungscodes und bewahren Sie sie getrennt von Ihrem Telefon sicher auf: Jeder Code meldet Sie einmal an, falls Sie Ihr Telefon verlieren.',
};

/** A free local port, so that PUBLIC_URL (and so the link in the e-mail) points at the test server itself. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Skips the suite without Chromium (fails it on CI). */
function skipWithoutChromium(ctx: Mocha.Context) {
  if (existsSync(CHROMIUM)) return;
  const message = `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium) to run the browser tests`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`      skipped: ${message}`);
  ctx.skip();
}

/** Headless Chromium without JavaScript, English; console errors and failed requests go to `problems`. */
async function openBrowser(problems: string[]): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', javaScriptEnabled: false });
  const page = await context.newPage();
  // A CSP violation or a failed request (e.g. a blocked stylesheet) shows up here.
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('requestfailed', (r) => problems.push(`${r.url()}: ${r.failure()?.errorText}`));
  return { browser, page };
}

async function screenshot(page: Page, name: string, viewport = DESKTOP) {
  await page.setViewportSize(viewport);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
}

describe('browser: onboarding through the server-rendered pages', function () {
  this.timeout(120000);
  let smtp: SmtpCapture;
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  let usedLink = '';

  before(async function () {
    skipWithoutChromium(this);
    mkdirSync(SHOTS, { recursive: true });
    smtp = await startSmtpCapture();
    const port = await freePort();
    s = await startTestServer({ SMTP_URL: smtp.url, PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` });
    ({ browser, page } = await openBrowser(problems));
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
    await smtp?.close();
  });

  const shot = (name: string, viewport = DESKTOP) => screenshot(page, name, viewport);

  it('create-admin e-mail -> password -> key -> code -> done -> GraphQL sign-in', async () => {
    const email = 'browser.admin@example.test';
    const cli = await runCli(['create-admin', '--email', email, '--name', 'Browser Admin'], { ...s.env, SMTP_URL: smtp.url });
    expect(cli.code, cli.stderr).to.equal(0);
    const link = (usedLink = resetLink(await smtp.waitFor(email)));
    expect(link.startsWith(`${s.config.publicUrl}/reset-password?token=`), link).to.equal(true);

    // 1. The link: the token leaves the address bar at once.
    await page.goto(link);
    expect(new URL(page.url()).pathname + new URL(page.url()).search).to.equal('/reset-password');
    expect(await page.locator('h1').textContent()).to.equal('Choose a new password');
    // The brand colour arrived through the stylesheet (CSP style-src 'self').
    expect(await page.locator('header.bar').evaluate((el) => getComputedStyle(el).backgroundColor)).to.equal('rgb(11, 95, 255)');
    await shot('01-password');
    await shot('01-password-phone', PHONE);

    // 2. A typo in the confirmation: the error is tied to the field, which gets the focus.
    await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat the new password').fill(PASSWORD + '!');
    await page.getByRole('button', { name: 'Save password and continue' }).click();
    await page.waitForURL((url) => url.pathname === '/reset-password');
    const confirm = page.getByLabel('Repeat the new password');
    expect(await confirm.getAttribute('aria-invalid')).to.equal('true');
    expect(await page.locator('#confirmPassword-error').textContent()).to.contain('The two passwords do not match.');
    expect(await page.getByRole('alert').textContent()).to.contain('There is a problem');
    expect(await confirm.evaluate((el) => el === document.activeElement)).to.equal(true);
    await shot('02-password-error');

    await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat the new password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Save password and continue' }).click();

    // 3. The QR code and the key.
    await page.waitForURL((url) => url.pathname === '/two-factor-setup/confirm');
    expect(await page.locator('h1').textContent()).to.equal('Set up your authenticator app');
    const qr = page.locator('img.qr');
    // The data: image loaded (CSP img-src data:).
    expect(
      await qr.evaluate((el) => ((img: ImageElement) => img.complete && img.naturalWidth > 100)(el as unknown as ImageElement)),
    ).to.equal(true);
    const secret = (await page.locator('#secret').textContent())!.replace(/\s/g, '');
    expect(secret).to.match(/^[A-Z2-7]{32}$/);
    await shot('03-authenticator');
    await shot('03-authenticator-phone', PHONE);

    // 4. The code from the "app".
    const now = Date.now();
    await page.getByLabel('6-digit code from the app').fill(totpCode(secret, now));
    await page.getByRole('button', { name: 'Activate two-factor authentication' }).click();
    await page.waitForURL((url) => url.pathname === '/two-factor-setup/done');
    expect(await page.locator('h1').textContent()).to.equal('Two-factor authentication is active');
    expect(await page.locator('main').textContent()).to.contain(
      `with your e-mail address ${email}, your new password and the 6-digit code`,
    );
    expect(await page.locator('main').textContent()).to.contain(RECOVERY_HINT.en);
    await shot('04-done');
    await shot('04-done-phone', PHONE);

    // The same page in German, through the visible switch.
    await page.getByRole('link', { name: 'Deutsch' }).click();
    await page.waitForURL((url) => url.searchParams.get('lang') === 'de');
    expect(await page.locator('h1').textContent()).to.equal('Die Zwei-Faktor-Authentifizierung ist aktiv');
    expect(await page.locator('main').textContent()).to.contain(RECOVERY_HINT.de);
    await shot('05-done-german-phone', PHONE);

    // 5. Sign in over GraphQL with that password and a code of the next step.
    const login = await s.gql<{ login: { stage: string } }>(LOGIN, { e: email, p: PASSWORD, c: totpCode(secret, now + 30_000) });
    expect(login.errors, JSON.stringify(login.errors)).to.equal(undefined);
    expect(login.data!.login.stage).to.equal('AUTHENTICATED');

    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('the used link offers to request a new one', async function () {
    if (!usedLink) this.skip();
    await page.goto(`${usedLink}&lang=en`);
    expect(new URL(page.url()).pathname).to.equal('/reset-password/new-link');
    expect(await page.locator('h1').textContent()).to.equal('This link can no longer be used');
    await shot('06-link-used-phone', PHONE);
    await page.getByLabel('E-mail address').fill('browser.admin@example.test');
    await page.getByRole('button', { name: 'Send link' }).click();
    await page.waitForURL((url) => url.pathname === '/reset-password/sent');
    expect(await page.locator('h1').textContent()).to.equal('Check your e-mail');
    await smtp.waitFor('browser.admin@example.test', (m) => /Reset your/.test(m.subject));
    await shot('07-link-sent');
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });
});

// TOTP_SECRET_REDISPLAY=never (FLOWS.md section 11): an account with 2FA enrolled forgets its password.
// The reset link shows a new key, never the enrolled one; the old authenticator keeps signing in until
// the new key is confirmed with a code, and only the new one works after that.
describe('browser: a password reset with TOTP_SECRET_REDISPLAY=never enrols a new key', function () {
  this.timeout(120000);
  let smtp: SmtpCapture;
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const NEW_PASSWORD = 'my forgotten password replaced';

  before(async function () {
    skipWithoutChromium(this);
    mkdirSync(SHOTS, { recursive: true });
    smtp = await startSmtpCapture();
    const port = await freePort();
    s = await startTestServer({
      SMTP_URL: smtp.url,
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      TOTP_SECRET_REDISPLAY: 'never',
    });
    ({ browser, page } = await openBrowser(problems));
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
    await smtp?.close();
  });

  const shot = (name: string, viewport = DESKTOP) => screenshot(page, name, viewport);
  const main = async () => (await page.locator('main').textContent()) ?? '';

  it('forgot password -> e-mail link -> new password -> new key (old one still works) -> code -> done; then only the new key signs in', async () => {
    const u = await makeUser(s, { role: Role.ADMIN, email: 'enrolled.admin@example.test' });
    const oldSecret = u.secret!;

    // 1. "Forgot your password?": the form sends the link.
    await page.goto(`${s.url}/reset-password/new-link`);
    expect(await page.locator('h1').textContent()).to.equal('Reset your password');
    await page.getByLabel('E-mail address').fill(u.email);
    await page.getByRole('button', { name: 'Send link' }).click();
    await page.waitForURL((url) => url.pathname === '/reset-password/sent');
    expect(await page.locator('h1').textContent()).to.equal('Check your e-mail');
    const link = resetLink(await smtp.waitFor(u.email, (m) => /Reset your/.test(m.subject)));
    expect(link.startsWith(`${s.config.publicUrl}/reset-password?token=`), link).to.equal(true);

    // 2. The link and the new password.
    await page.goto(link);
    expect(new URL(page.url()).pathname).to.equal('/reset-password');
    expect(await page.locator('h1').textContent()).to.equal('Choose a new password');
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('Repeat the new password').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Save password and continue' }).click();

    // 3. A fresh QR code and key, with the note that the current authenticator works until it is confirmed.
    await page.waitForURL((url) => url.pathname === '/two-factor-setup/confirm');
    expect(await page.locator('h1').textContent()).to.equal('Set up your authenticator app');
    expect(await page.locator('p.note').textContent()).to.equal(
      'This is a new key for your account. Add it to your authenticator app and confirm it with a code: your current authenticator keeps working until you do.',
    );
    expect(await main()).to.not.contain('This is your existing key');
    expect(
      await page
        .locator('img.qr')
        .evaluate((el) => ((img: ImageElement) => img.complete && img.naturalWidth > 100)(el as unknown as ImageElement)),
    ).to.equal(true);
    const newSecret = (await page.locator('#secret').textContent())!.replace(/\s/g, '');
    expect(newSecret).to.match(/^[A-Z2-7]{32}$/);
    expect(newSecret).to.not.equal(oldSecret);
    await shot('10-never-new-key');
    await shot('10-never-new-key-phone', PHONE);

    // The password-changed e-mail does not say that the secret was shown again (it was not).
    const changed = await smtp.waitFor(u.email, (m) => /password was changed/i.test(m.subject));
    expect(changed.text).to.not.match(/displayed again/i);
    expect(changed.html).to.not.match(/displayed again/i);

    // Each accepted code of the user must be of a newer step, and the server accepts one step either
    // side of its own: three codes in a row use the steps base-1, base and base+1 (see settledStep).
    const base = await settledStep();
    const oldCode = (i: number) => totpCode(oldSecret, (base + i) * 30_000);
    const newCode = (i: number) => totpCode(newSecret, (base + i) * 30_000);

    // 4. Not confirmed yet: the new password with a code of the OLD authenticator signs in.
    const before = await s.gql<{ login: { stage: string } }>(LOGIN, { e: u.email, p: NEW_PASSWORD, c: oldCode(-1) });
    expect(before.errors, JSON.stringify(before.errors)).to.equal(undefined);
    expect(before.data!.login.stage).to.equal('AUTHENTICATED');

    // 5. The code of the new key on the page.
    await page.getByLabel('6-digit code from the app').fill(newCode(0));
    await page.getByRole('button', { name: 'Activate two-factor authentication' }).click();
    await page.waitForURL((url) => url.pathname === '/two-factor-setup/done');
    expect(await page.locator('h1').textContent()).to.equal('Two-factor authentication is active');
    expect(await main()).to.contain(`with your e-mail address ${u.email}, your new password and the 6-digit code`);
    expect(await main()).to.contain(RECOVERY_HINT.en);
    await shot('11-never-done');

    // 6. From now on the old authenticator fails (with a step the server would otherwise accept) and the new one works.
    const old = await s.gql<{ login: { stage: string } }>(LOGIN, { e: u.email, p: NEW_PASSWORD, c: oldCode(1) });
    expect(old.errors?.[0]?.extensions?.code, JSON.stringify(old.errors)).to.equal('UNAUTHENTICATED');
    expect(old.data).to.equal(null);
    const after = await s.gql<{ login: { stage: string } }>(LOGIN, { e: u.email, p: NEW_PASSWORD, c: newCode(1) });
    expect(after.errors, JSON.stringify(after.errors)).to.equal(undefined);
    expect(after.data!.login.stage).to.equal('AUTHENTICATED');

    expect(problems, problems.join('\n')).to.deep.equal([]);
  });
});
