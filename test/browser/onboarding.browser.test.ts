// The onboarding in a real browser (Debian's Chromium, driven by playwright-core, no JavaScript on the
// pages): create-admin through the CLI -> the link in the captured e-mail -> new password -> the key
// from the page -> code -> "2FA is active" -> sign-in over GraphQL with that password and a code.
// Screenshots of every step go to test-artifacts/screenshots/ (desktop and phone width).
import { expect } from 'chai';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { totpCode } from '../../src/modules/auth/totp';
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

describe('browser: onboarding through the server-rendered pages', function () {
  this.timeout(120000);
  let smtp: SmtpCapture;
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  let usedLink = '';

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      const message = `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium) to run the browser tests`;
      if (process.env.CI === 'true') throw new Error(message);
      console.warn(`      skipped: ${message}`);
      this.skip();
    }
    mkdirSync(SHOTS, { recursive: true });
    smtp = await startSmtpCapture();
    const port = await freePort();
    s = await startTestServer({ SMTP_URL: smtp.url, PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` });
    browser = await chromium.launch({
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
    page = await context.newPage();
    // A CSP violation or a failed request (e.g. a blocked stylesheet) shows up here.
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('requestfailed', (r) => problems.push(`${r.url()}: ${r.failure()?.errorText}`));
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
    await smtp?.close();
  });

  async function shot(name: string, viewport = DESKTOP) {
    await page.setViewportSize(viewport);
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
    await page.setViewportSize(DESKTOP);
  }

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
    await shot('04-done');
    await shot('04-done-phone', PHONE);

    // The same page in German, through the visible switch.
    await page.getByRole('link', { name: 'Deutsch' }).click();
    await page.waitForURL((url) => url.searchParams.get('lang') === 'de');
    expect(await page.locator('h1').textContent()).to.equal('Die Zwei-Faktor-Authentifizierung ist aktiv');
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
