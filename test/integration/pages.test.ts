// The server-rendered pages of the e-mail links (src/modules/pages): plain HTTP like a browser without
// JavaScript, with a cookie jar and redirects followed by hand, so every status and Location is seen.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Role } from '../../src/common/enums';
import { ConfigError, loadConfig } from '../../src/config';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { AuditAction } from '../../src/modules/audit/audit.service';
import { AccountToken, AccountTokenPurpose } from '../../src/modules/auth/account-token.entity';
import { SecretBox } from '../../src/modules/auth/secrets';
import { totpCode } from '../../src/modules/auth/totp';
import { PAGE_SECURITY_HEADERS } from '../../src/modules/pages/page-kit';
import { PAGES_DIR, pageTemplateFiles } from '../../src/modules/pages/pages.view';
import { User } from '../../src/modules/users/user.entity';
import { makeReseller, makeUser, passwordOnly, PASSWORD, wrongCode, type TestUser } from '../factories';
import { ROOT, runCli } from '../helpers/cli';
import { parseMail } from '../helpers/mail';
import { decodeQrDataUrl } from '../helpers/qr';
import { dropPgSchema, startTestServer, testEnv, type TestServer } from '../helpers/server';

const NEW_PASSWORD = 'a brand new and long password';
const LOGIN = `mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage twoFactorActivation } }`;
const RESET = `mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken } }`;

interface Page {
  status: number;
  location: string | null;
  headers: Headers;
  html: string;
}

/** A browser without JavaScript: keeps cookies, never follows redirects on its own. */
class PageClient {
  readonly cookies = new Map<string, string>();
  /** Every response seen, in order. */
  readonly seen: Page[] = [];
  constructor(
    private readonly base: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  private async send(path: string, init: RequestInit): Promise<Page> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(this.base + path, {
      ...init,
      redirect: 'manual',
      headers: { ...this.headers, ...(cookie ? { cookie } : {}), ...(init.headers as Record<string, string>) },
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    const page = { status: res.status, location: res.headers.get('location'), headers: res.headers, html: await res.text() };
    this.seen.push(page);
    return page;
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Page> {
    return this.send(path, { method: 'GET', headers });
  }

  post(path: string, form: Record<string, string>): Promise<Page> {
    return this.send(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  }

  /** GETs the path and follows redirects (each one a 303 to a same-origin path). */
  async open(path: string, headers: Record<string, string> = {}): Promise<Page> {
    let page = await this.get(path, headers);
    for (let i = 0; page.status === 303 && i < 5; i++) page = await this.get(page.location!, headers);
    return page;
  }

  /** POSTs the form, expects 303 and follows it. */
  async submit(path: string, form: Record<string, string>): Promise<Page> {
    const posted = await this.post(path, form);
    expect(posted.status, posted.html).to.equal(303);
    return this.open(posted.location!);
  }
}

/** Handlebars escapes = ' ` as entities; undo that for attribute values. */
function unescapeHtml(text: string): string {
  return text
    .replace(/&#x3D;/g, '=')
    .replace(/&#x27;/g, "'")
    .replace(/&#x60;/g, '`')
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const h1Of = (html: string) => unescapeHtml(/<h1>([^<]*)<\/h1>/.exec(html)?.[1] ?? '');
const inputTag = (html: string, id: string) => new RegExp(`<input id="${id}"[^>]*>`).exec(html)?.[0] ?? '';
const fieldError = (html: string, id: string) =>
  unescapeHtml(new RegExp(`<p class="field-error" id="${id}-error">(?:<span[^>]*>[^<]*</span>)?([^<]*)</p>`).exec(html)?.[1] ?? '');
const secretOf = (html: string) => (/<code class="secret" id="secret">([^<]*)<\/code>/.exec(html)?.[1] ?? '').replace(/ /g, '');
const qrOf = (html: string) => unescapeHtml(/<img class="qr" src="([^"]+)"/.exec(html)?.[1] ?? '');

function expectSecurityHeaders(page: Page) {
  for (const [name, value] of Object.entries(PAGE_SECURITY_HEADERS)) {
    // The stylesheet may be cached; everything else is no-store.
    if (name === 'Cache-Control' && page.headers.get('content-type')?.startsWith('text/css')) continue;
    expect(page.headers.get(name), `${name} on a ${page.status}`).to.equal(value);
  }
}

/** The confirm page's note on a new key for an enrolled account (TOTP_SECRET_REDISPLAY=never). */
const NEW_KEY_NOTE = {
  en: 'This is a new key for your account. Add it to your authenticator app and confirm it with a code: your current authenticator keeps working until you do.',
  de: 'Das ist ein neuer Schlüssel für Ihr Konto. Fügen Sie ihn Ihrer Authenticator-App hinzu und bestätigen Sie ihn mit einem Code: Ihr bisheriger Authenticator funktioniert weiter, bis Sie das tun.',
};
/** The done page's hint on recovery codes. */
const RECOVERY_HINT = {
  en: 'After signing in, generate recovery codes and keep them somewhere safe, apart from your phone',
  de: 'Erstellen Sie nach der Anmeldung Wiederherstellungscodes und bewahren Sie sie getrennt von Ihrem Telefon sicher auf',
};

/** A code for the secret that matches none of the steps the server accepts now. */

describe('pages: password, QR code and code in the browser', function () {
  this.timeout(60000);
  let s: TestServer;

  before(async () => {
    s = await startTestServer({ BRAND_NAME: 'Acme Licensing', BRAND_COLOR: '#C2185B' });
  });
  after(() => s.stop());

  async function issue(u: TestUser, purpose: AccountTokenPurpose): Promise<string> {
    const em = s.app.services.orm.em.fork();
    const token = await s.app.services.accountTokens.issue(em, u.user.id, purpose);
    await em.flush();
    return token;
  }

  async function invitedUser(): Promise<{ u: TestUser; token: string }> {
    const u = await makeUser(s, { role: Role.ADMIN, twoFactor: false, password: false });
    return { u, token: await issue(u, AccountTokenPurpose.INVITATION) };
  }

  /** Link -> password page -> QR page. */
  async function toQrPage(client: PageClient, token: string, password = NEW_PASSWORD): Promise<Page> {
    const form = await client.open(`/reset-password?token=${encodeURIComponent(token)}`);
    expect(h1Of(form.html)).to.equal('Choose a new password');
    const qr = await client.submit('/reset-password', { csrf: csrfOf(form.html), newPassword: password, confirmPassword: password });
    expect(qr.status).to.equal(200);
    return qr;
  }

  async function passwordHashOf(u: TestUser): Promise<string | null> {
    const user = await s.app.services.orm.em.fork().findOneOrFail(User, u.user.id, { populate: ['passwordHash'] });
    return user.passwordHash;
  }

  it('an invitation link leads through password, QR code and code to "2FA is active"; then GraphQL sign-in works', async () => {
    const { u, token } = await invitedUser();
    const client = new PageClient(s.url);

    const first = await client.get(`/reset-password?token=${encodeURIComponent(token)}`);
    expect(first.status).to.equal(303);
    expect(first.location).to.equal('/reset-password');
    expect(client.cookies.has('__Host-lp_flow')).to.equal(true);

    const form = await client.open(first.location!);
    expect(form.status).to.equal(200);
    expect(form.headers.get('content-type')).to.match(/^text\/html; charset=utf-8/);
    expect(form.html).to.contain(u.email);
    expect(form.html).to.contain('Use 12 to 128 characters with at least 4 different characters');
    expect(inputTag(form.html, 'newPassword')).to.contain('aria-describedby="newPassword-hint"');
    expect(form.html).to.contain('<label for="confirmPassword">');
    // The vendor's name and the stylesheet with its colour.
    expect(form.html).to.contain('<span class="brand">Acme Licensing</span>');
    const cssHref = unescapeHtml(/<link rel="stylesheet" href="([^"]+)"/.exec(form.html)![1]!);
    const css = await client.get(cssHref);
    expect(css.status).to.equal(200);
    expect(css.headers.get('content-type')).to.match(/^text\/css/);
    expect(css.html).to.contain('--brand: #c2185b;');
    expect(css.html).to.contain('@media (max-width: 40rem)');

    const posted = await client.post('/reset-password', {
      csrf: csrfOf(form.html),
      newPassword: NEW_PASSWORD,
      confirmPassword: NEW_PASSWORD,
    });
    expect(posted.status).to.equal(303);
    expect(posted.location).to.equal('/two-factor-setup/confirm');

    const qr = await client.open(posted.location!);
    expect(h1Of(qr.html)).to.equal('Set up your authenticator app');
    const secret = secretOf(qr.html);
    expect(secret).to.match(/^[A-Z2-7]{32}$/);
    expect(qr.html).to.match(/<code class="secret" id="secret">([A-Z2-7]{4} ){7}[A-Z2-7]{4}<\/code>/);
    expect(qr.html).to.contain(`<dd>${s.config.totpIssuer}</dd>`);
    expect(qr.html).to.contain(`<dd>${u.email}</dd>`);
    // The QR code carries the secret shown for manual entry.
    const scanned = new URL(decodeQrDataUrl(qrOf(qr.html)));
    expect(scanned.protocol).to.equal('otpauth:');
    expect(scanned.searchParams.get('secret')).to.equal(secret);
    expect(scanned.searchParams.get('issuer')).to.equal(s.config.totpIssuer);
    expect(decodeURIComponent(scanned.pathname)).to.contain(u.email);
    expect(inputTag(qr.html, 'code')).to.contain('autocomplete="one-time-code"').and.contain('inputmode="numeric"');
    // The password is set already: the account token is used up.
    expect(await passwordHashOf(u)).to.be.a('string');

    const now = Date.now();
    const done = await client.submit('/two-factor-setup/confirm', { csrf: csrfOf(qr.html), code: totpCode(secret, now) });
    expect(done.status).to.equal(200);
    expect(h1Of(done.html)).to.equal('Two-factor authentication is active');
    expect(unescapeHtml(done.html)).to.contain(
      `sign in to Acme Licensing with your e-mail address ${u.email}, your new password and the 6-digit code`,
    );
    // PUBLIC_URL points at another host (an external frontend): the pages are served here all the same.
    expect(done.html).to.contain(`href="${s.config.publicUrl}"`);

    const login = await s.gql<{ login: { stage: string } }>(LOGIN, { e: u.email, p: NEW_PASSWORD, c: totpCode(secret, now + 30_000) });
    expect(login.errors, JSON.stringify(login.errors)).to.equal(undefined);
    expect(login.data!.login.stage).to.equal('AUTHENTICATED');

    // The account token appeared in the first URL only: in no Location, no page, no cookie in clear.
    for (const page of client.seen) {
      expectSecurityHeaders(page);
      if (page.location) expect(page.location).to.not.contain('token').and.not.contain('lpa_');
      expect(page.html).to.not.contain(token);
      expect(page.html).to.not.contain('lpa_');
    }
    for (const value of client.cookies.values()) expect(value).to.not.contain('lpa_');
  });

  it('answers every POST with 303 (POST-redirect-GET), also on errors', async () => {
    const { token } = await invitedUser();
    const client = new PageClient(s.url);
    const form = await client.open(`/reset-password?token=${encodeURIComponent(token)}`);
    const csrf = csrfOf(form.html);
    const statuses = [
      await client.post('/reset-password', { csrf, newPassword: 'one password here', confirmPassword: 'another password' }),
      await client.post('/reset-password', { csrf, newPassword: 'short', confirmPassword: 'short' }),
      await client.post('/reset-password', { csrf, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }),
      await client.post('/two-factor-setup/confirm', { csrf, code: '12' }),
      await client.post('/reset-password/new-link', { csrf, email: 'not an address' }),
      await client.post('/reset-password/new-link', { csrf, email: 'nobody@example.test' }),
    ].map((p) => [p.status, p.location]);
    expect(statuses).to.deep.equal([
      [303, '/reset-password'],
      [303, '/reset-password'],
      [303, '/two-factor-setup/confirm'],
      [303, '/two-factor-setup/confirm'],
      [303, '/reset-password/new-link'],
      [303, '/reset-password/sent'],
    ]);
  });

  it('used, expired and malformed tokens show the "request a new link" page', async () => {
    const used = await invitedUser();
    const consumed = await s.gql(RESET, { t: used.token, p: NEW_PASSWORD });
    expect(consumed.errors).to.equal(undefined);

    const expired = await invitedUser();
    await s.app.services.orm.em
      .fork()
      .nativeUpdate(
        AccountToken,
        { user: expired.u.user.id, purpose: AccountTokenPurpose.INVITATION, usedAt: null },
        { expiresAt: new Date(0) },
      );

    for (const token of [used.token, expired.token, 'lpa_not-a-token', '']) {
      const client = new PageClient(s.url);
      const first = await client.get(`/reset-password?token=${encodeURIComponent(token)}`);
      expect(first.status).to.equal(303);
      expect(first.location).to.equal('/reset-password/new-link');
      const page = await client.open(first.location!);
      expect(page.status).to.equal(200);
      expectSecurityHeaders(page);
      expect(h1Of(page.html)).to.equal('This link can no longer be used');
      expect(page.html).to.contain('has already been used or has expired');
      expect(page.html).to.contain('<h2>Request a new link</h2>');
      expect(page.html).to.contain('<form method="post" action="/reset-password/new-link"');
      expect(inputTag(page.html, 'email')).to.contain('type="email"');
    }
    // The expired token was not touched: it is still unused in the database.
    const row = await s.app.services.orm.em.fork().findOneOrFail(AccountToken, { user: expired.u.user.id });
    expect(row.usedAt).to.equal(null);
  });

  it('the "request a new link" form answers alike for known and unknown addresses and sends the mail', async () => {
    const u = await makeUser(s, { role: Role.ADMIN });
    const texts: string[] = [];
    for (const email of [u.email, 'nobody-here@example.test']) {
      const client = new PageClient(s.url);
      const form = await client.open('/reset-password/new-link');
      expect(h1Of(form.html)).to.equal('Reset your password');
      const sent = await client.submit('/reset-password/new-link', { csrf: csrfOf(form.html), email });
      expect(h1Of(sent.html)).to.equal('Check your e-mail');
      expectSecurityHeaders(sent);
      texts.push(sent.html);
    }
    expect(texts[0]).to.equal(texts[1]);
    expect(texts[0]).to.contain('If an account exists for this address, an e-mail with a link is on its way.');

    let mail;
    for (let i = 0; i < 200 && !mail; i++) {
      const raw = s.outbox().find((m) => m.includes(u.email) && m.includes('Reset your'));
      if (raw) mail = await parseMail(raw);
      else await new Promise((r) => setTimeout(r, 25));
    }
    expect(mail, 'reset mail').to.not.equal(undefined);
    expect(mail!.text).to.contain(`${s.config.publicUrl}/reset-password?token=`);

    // A malformed address: the form again, with the error on the field.
    const client = new PageClient(s.url);
    const form = await client.open('/reset-password/new-link');
    const again = await client.submit('/reset-password/new-link', { csrf: csrfOf(form.html), email: 'not-an-address' });
    expect(fieldError(again.html, 'email')).to.equal('Enter a valid e-mail address, like name@example.com.');
    expect(inputTag(again.html, 'email')).to.contain('aria-invalid="true"').and.contain('aria-describedby="email-error"');
  });

  it('mismatched and weak passwords re-show the form with the error tied to the field, and the token stays usable', async () => {
    const { u, token } = await invitedUser();
    const client = new PageClient(s.url);
    const form = await client.open(`/reset-password?token=${encodeURIComponent(token)}`);
    const csrf = csrfOf(form.html);

    const mismatch = await client.submit('/reset-password', { csrf, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD + 'x' });
    expect(h1Of(mismatch.html)).to.equal('Choose a new password');
    expect(fieldError(mismatch.html, 'confirmPassword')).to.equal('The two passwords do not match. Enter the same password twice.');
    const confirmInput = inputTag(mismatch.html, 'confirmPassword');
    expect(confirmInput).to.contain('aria-invalid="true"').and.contain('aria-describedby="confirmPassword-error"').and.contain('autofocus');
    expect(inputTag(mismatch.html, 'newPassword')).to.not.contain('aria-invalid');
    // The summary names the problem and links to the field; the typed passwords are not sent back.
    expect(mismatch.html).to.match(/<div class="alert" role="alert"[^>]*>/);
    expect(mismatch.html).to.contain('<a href="#confirmPassword">');
    expect(mismatch.html).to.not.contain(NEW_PASSWORD);

    // The error is shown once: a reload shows the clean form.
    const reloaded = await client.open('/reset-password');
    expect(reloaded.html).to.not.contain('field-error');

    const cases: [string, string][] = [
      ['short', 'The password must have at least 12 characters.'],
      ['aaaaaaaaaaaaaaaabbbb', 'The password is too simple: use at least 4 different characters.'],
      [u.email, 'The password must not be your e-mail address.'],
    ];
    for (const [password, message] of cases) {
      const page = await client.submit('/reset-password', { csrf, newPassword: password, confirmPassword: password });
      expect(fieldError(page.html, 'newPassword'), password).to.equal(message);
      expect(inputTag(page.html, 'newPassword'))
        .to.contain('aria-invalid="true"')
        .and.contain('aria-describedby="newPassword-hint newPassword-error"')
        .and.contain('autofocus');
    }
    expect(await passwordHashOf(u)).to.equal(null);

    // Still the same token: the valid password is accepted now.
    const qr = await client.submit('/reset-password', { csrf, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(secretOf(qr.html)).to.match(/^[A-Z2-7]{32}$/);
  });

  it('a wrong code shows an error and allows a retry; a malformed one says what a code looks like', async () => {
    const { u, token } = await invitedUser();
    const client = new PageClient(s.url);
    const qr = await toQrPage(client, token);
    const secret = secretOf(qr.html);
    const csrf = csrfOf(qr.html);

    const wrong = await client.submit('/two-factor-setup/confirm', { csrf, code: wrongCode(secret) });
    expect(h1Of(wrong.html)).to.equal('Set up your authenticator app');
    expect(fieldError(wrong.html, 'code')).to.equal('This code is wrong or has expired. Enter the code your app shows now.');
    expect(inputTag(wrong.html, 'code')).to.contain('aria-invalid="true"').and.contain('aria-describedby="code-hint code-error"');
    // The same secret is shown again.
    expect(secretOf(wrong.html)).to.equal(secret);

    const malformed = await client.submit('/two-factor-setup/confirm', { csrf, code: '12ab56' });
    expect(fieldError(malformed.html, 'code')).to.equal('Enter the 6-digit code from your authenticator app, digits only.');

    // Typed as the app shows it, with a space.
    const code = totpCode(secret);
    const done = await client.submit('/two-factor-setup/confirm', { csrf, code: `${code.slice(0, 3)} ${code.slice(3)}` });
    expect(h1Of(done.html)).to.equal('Two-factor authentication is active');
    const user = await s.app.services.orm.em.fork().findOneOrFail(User, u.user.id);
    expect(user.twoFactorEnabled).to.equal(true);

    // Back to the form after the end: the flow stays on its last page.
    const back = await client.get('/two-factor-setup/confirm');
    expect(back.status).to.equal(303);
    expect(back.location).to.equal('/two-factor-setup/done');
  });

  it('too many wrong codes: the attempt limit of the API, as a friendly message', async () => {
    const { token } = await invitedUser();
    const client = new PageClient(s.url);
    const qr = await toQrPage(client, token);
    const secret = secretOf(qr.html);
    const csrf = csrfOf(qr.html);
    for (let i = 0; i < 5; i++) {
      const page = await client.submit('/two-factor-setup/confirm', { csrf, code: wrongCode(secret) });
      expect(fieldError(page.html, 'code')).to.contain('wrong or has expired');
    }
    const limited = await client.submit('/two-factor-setup/confirm', { csrf, code: totpCode(secret) });
    expect(limited.status).to.equal(200);
    expect(limited.html).to.contain('Too many failed attempts. Wait 15 minutes, then try again.');
    expect(h1Of(limited.html)).to.equal('Set up your authenticator app');
  });

  it('a missing or wrong CSRF token is refused with 403 and changes nothing', async () => {
    const { u, token } = await invitedUser();
    const client = new PageClient(s.url);
    const form = await client.open(`/reset-password?token=${encodeURIComponent(token)}`);
    const csrf = csrfOf(form.html);
    const other = new PageClient(s.url);
    const otherForm = await other.open('/reset-password/new-link');

    const attempts = [
      await client.post('/reset-password', { newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }),
      await client.post('/reset-password', { csrf: csrf.slice(0, -2) + 'xx', newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }),
      // Another flow's token is no good either (the token is bound to the flow).
      await client.post('/reset-password', { csrf: csrfOf(otherForm.html), newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }),
      // The right token without the flow cookie (a cross-site form cannot send it).
      await new PageClient(s.url).post('/reset-password', { csrf, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }),
      await client.post('/reset-password/new-link', { email: u.email }),
    ];
    for (const page of attempts) {
      expect(page.status).to.equal(403);
      expect(page.location).to.equal(null);
      expectSecurityHeaders(page);
      expect(h1Of(page.html)).to.equal('This form has expired');
      expect(page.html).to.contain('Nothing was changed.');
    }
    expect(await passwordHashOf(u)).to.equal(null);

    // The flow and its token are untouched.
    const qr = await client.submit('/reset-password', { csrf, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    const secret = secretOf(qr.html);
    const refused = await client.post('/two-factor-setup/confirm', { code: totpCode(secret) });
    expect(refused.status).to.equal(403);
    const user = await s.app.services.orm.em.fork().findOneOrFail(User, u.user.id);
    expect(user.twoFactorEnabled).to.equal(false);
    const done = await client.submit('/two-factor-setup/confirm', { csrf, code: totpCode(secret) });
    expect(h1Of(done.html)).to.equal('Two-factor authentication is active');
  });

  it('a tampered flow cookie is no flow at all', async () => {
    const { token } = await invitedUser();
    const client = new PageClient(s.url);
    const form = await client.open(`/reset-password?token=${encodeURIComponent(token)}`);
    const value = client.cookies.get('__Host-lp_flow')!;
    client.cookies.set('__Host-lp_flow', value.slice(0, -4) + (value.endsWith('AAAA') ? 'BBBB' : 'AAAA'));
    const posted = await client.post('/reset-password', {
      csrf: csrfOf(form.html),
      newPassword: NEW_PASSWORD,
      confirmPassword: NEW_PASSWORD,
    });
    expect(posted.status).to.equal(403);
    const page = await client.get('/reset-password');
    expect(page.status).to.equal(303);
    expect(page.location).to.equal('/reset-password/new-link');
  });

  it('with an https PUBLIC_URL every page cookie is Secure (the flow cookie also __Host-), though the server itself speaks plain HTTP', async () => {
    const { token } = await invitedUser();
    const client = new PageClient(s.url);
    const qr = await toQrPage(client, token);
    expect(h1Of(qr.html)).to.equal('Set up your authenticator app');
    await client.open('/reset-password/new-link?lang=de');
    const cookies = client.seen.flatMap((page) => page.headers.getSetCookie());
    expect(cookies.map((c) => c.split('=', 1)[0])).to.include.members(['__Host-lp_flow', 'lp_lang']);
    for (const cookie of cookies) {
      expect(cookie.split('; '), cookie).to.include.members(['Secure', 'HttpOnly', 'Path=/']);
      expect(cookie).to.not.match(/Domain=/i);
    }
    expect(client.cookies.has('lp_flow')).to.equal(false);
  });

  it('with an http PUBLIC_URL the page cookies are not Secure (a browser would drop them) and the flow works', async () => {
    const plain = await startTestServer({ PUBLIC_URL: 'http://portal.example.test' });
    try {
      const u = await makeUser(plain, { role: Role.ADMIN, twoFactor: false, password: false });
      const em = plain.app.services.orm.em.fork();
      const token = await plain.app.services.accountTokens.issue(em, u.user.id, AccountTokenPurpose.INVITATION);
      await em.flush();
      const client = new PageClient(plain.url);
      const form = await client.open(`/reset-password?token=${encodeURIComponent(token)}&lang=en`);
      const qr = await client.submit('/reset-password', {
        csrf: csrfOf(form.html),
        newPassword: NEW_PASSWORD,
        confirmPassword: NEW_PASSWORD,
      });
      expect(h1Of(qr.html)).to.equal('Set up your authenticator app');
      const cookies = client.seen.flatMap((page) => page.headers.getSetCookie());
      expect(cookies.map((c) => c.split('=', 1)[0])).to.include.members(['lp_flow', 'lp_lang']);
      for (const cookie of cookies) expect(cookie.split('; '), cookie).to.not.include('Secure');
    } finally {
      await plain.stop();
    }
  });

  it('a double-clicked submit does not end the flow: both answers lead to the same secret', async () => {
    const { token } = await invitedUser();
    const client = new PageClient(s.url);
    const form = await client.open(`/reset-password?token=${encodeURIComponent(token)}`);
    const jar = new Map(client.cookies);
    const body = { csrf: csrfOf(form.html), newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD };
    const second = new PageClient(s.url);
    for (const [k, v] of jar) second.cookies.set(k, v);
    const [a, b] = await Promise.all([client.post('/reset-password', body), second.post('/reset-password', body)]);
    expect([a.status, a.location, b.status, b.location]).to.deep.equal([
      303,
      '/two-factor-setup/confirm',
      303,
      '/two-factor-setup/confirm',
    ]);
    const [pa, pb] = [await client.open(a.location!), await second.open(b.location!)];
    expect(secretOf(pa.html)).to.match(/^[A-Z2-7]{32}$/);
    expect(secretOf(pb.html)).to.equal(secretOf(pa.html));
  });

  it('German with Accept-Language: de, and with ?lang=de kept in a cookie', async () => {
    const { token } = await invitedUser();
    const german = new PageClient(s.url, { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' });
    const form = await german.open(`/reset-password?token=${encodeURIComponent(token)}`);
    expect(form.html).to.contain('<html lang="de">');
    expect(form.headers.get('content-language')).to.equal('de');
    expect(h1Of(form.html)).to.equal('Neues Passwort festlegen');
    expect(form.html).to.contain('Verwenden Sie 12 bis 128 Zeichen');
    expect(form.html).to.contain('<label for="newPassword">Neues Passwort</label>');
    // The switch to the other language.
    expect(form.html).to.contain('<a href="?lang=en" hreflang="en" lang="en">English</a>');
    const mismatch = await german.submit('/reset-password', { csrf: csrfOf(form.html), newPassword: NEW_PASSWORD, confirmPassword: 'x' });
    expect(fieldError(mismatch.html, 'confirmPassword')).to.equal(
      'Die beiden Passwörter stimmen nicht überein. Geben Sie zweimal dasselbe Passwort ein.',
    );
    expect(mismatch.html).to.contain('<span class="visually-hidden">Fehler: </span>');

    const english = new PageClient(s.url, { 'accept-language': 'en-US,en;q=0.9' });
    const en = await english.open('/reset-password/new-link');
    expect(en.html).to.contain('<html lang="en">');
    expect(en.html).to.contain('<a href="?lang=de" hreflang="de" lang="de">Deutsch</a>');
    const de = await english.open('/reset-password/new-link?lang=de');
    expect(h1Of(de.html)).to.equal('Passwort zurücksetzen');
    expect(english.cookies.get('lp_lang')).to.equal('de');
    // Kept without the parameter, also for the messages after a POST.
    const sent = await english.submit('/reset-password/new-link', { csrf: csrfOf(de.html), email: 'someone@example.test' });
    expect(h1Of(sent.html)).to.equal('Prüfen Sie Ihr Postfach');
    const back = await english.open('/reset-password/new-link?lang=en');
    expect(h1Of(back.html)).to.equal('Reset your password');
  });

  it('/two-factor-setup takes a RESELLER_PORTAL activation token: start, QR code, code, done', async () => {
    const reseller = await makeReseller(s, { linkedToResellerPortal: true });
    const u = await makeUser(s, { role: Role.RESELLER, reseller, twoFactor: false, linkedToResellerPortal: true });
    const limited = await passwordOnly(s, u);
    expect(limited).to.include({ stage: 'TWO_FACTOR_SETUP_REQUIRED', twoFactorActivation: 'RESELLER_PORTAL' });
    const activation = await s.gql<{ requestTwoFactorActivation: { method: string; redirectUrl: string } }>(
      'mutation { requestTwoFactorActivation { method redirectUrl } }',
      {},
      limited.token,
    );
    const redirectUrl = new URL(activation.data!.requestTwoFactorActivation.redirectUrl);
    const token = redirectUrl.searchParams.get('token')!;

    const client = new PageClient(s.url);
    const first = await client.get(`/two-factor-setup?token=${encodeURIComponent(token)}`);
    expect([first.status, first.location]).to.deep.equal([303, '/two-factor-setup']);
    const start = await client.open(first.location!);
    expect(h1Of(start.html)).to.equal('Set up two-factor authentication');
    expect(start.html).to.contain(u.email);
    expect(start.html).to.not.contain('type="password"');

    const qr = await client.submit('/two-factor-setup', { csrf: csrfOf(start.html) });
    expect(h1Of(qr.html)).to.equal('Set up your authenticator app');
    const secret = secretOf(qr.html);
    const now = Date.now();
    const done = await client.submit('/two-factor-setup/confirm', { csrf: csrfOf(qr.html), code: totpCode(secret, now) });
    expect(h1Of(done.html)).to.equal('Two-factor authentication is active');
    expect(unescapeHtml(done.html)).to.contain('your password and the 6-digit code');

    const login = await s.gql<{ login: { stage: string } }>(LOGIN, { e: u.email, p: PASSWORD, c: totpCode(secret, now + 30_000) });
    expect(login.data!.login.stage).to.equal('AUTHENTICATED');
    for (const page of client.seen) {
      expectSecurityHeaders(page);
      if (page.location) expect(page.location).to.not.contain('token').and.not.contain(token);
    }

    // The token was used: the new-link page, which points back to the reseller portal too.
    const again = new PageClient(s.url);
    const invalid = await again.open(`/two-factor-setup?token=${encodeURIComponent(token)}`);
    expect(h1Of(invalid.html)).to.equal('This link can no longer be used');
    expect(invalid.html).to.contain('go back to the reseller portal');

    // An activation link of an account whose 2FA is already active.
    const enrolled = await makeUser(s, { role: Role.RESELLER, reseller, linkedToResellerPortal: true });
    const stale = await issue(enrolled, AccountTokenPurpose.TWO_FACTOR_ACTIVATION);
    const active = await new PageClient(s.url).open(`/two-factor-setup?token=${encodeURIComponent(stale)}`);
    expect(h1Of(active.html)).to.equal('Two-factor authentication is already active');
  });

  it("the pages' language becomes the account's locale when the password is set or 2FA activated there: later e-mails come in it", async () => {
    const em = () => s.app.services.orm.em.fork();
    const localeOf = async (u: TestUser) => (await em().findOneOrFail(User, u.user.id)).locale;
    /** The newest e-mail to the address whose subject matches, after the background work is done. */
    const mailTo = async (email: string, subject: RegExp) => {
      await s.app.services.background.drain();
      const mails = await Promise.all(
        s
          .outbox()
          .filter((raw) => raw.includes(email))
          .map((raw) => parseMail(raw)),
      );
      return mails.filter((m) => subject.test(m.subject)).at(-1);
    };
    const resetMail = /Reset your License Portal password|Passwort für License Portal zurücksetzen/;
    const requestReset = async (u: TestUser) => {
      const res = await s.gql('mutation($e: String!) { requestPasswordReset(email: $e) }', { e: u.email });
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      return (await mailTo(u.email, resetMail))!;
    };

    // An English account completes its invitation with ?lang=de on the pages.
    const { u, token } = await invitedUser();
    expect(await localeOf(u)).to.equal('en');
    const client = new PageClient(s.url);
    const form = await client.open(`/reset-password?token=${encodeURIComponent(token)}&lang=de`);
    expect(h1Of(form.html)).to.equal('Neues Passwort festlegen');
    const qr = await client.submit('/reset-password', {
      csrf: csrfOf(form.html),
      newPassword: NEW_PASSWORD,
      confirmPassword: NEW_PASSWORD,
    });
    // Kept with the password, and recorded on its audit event.
    expect(await localeOf(u)).to.equal('de');
    const [changed] = await em().find(AuditEvent, { targetId: u.user.id, action: AuditAction.PASSWORD_CHANGED });
    expect(JSON.parse(changed!.changes!)).to.deep.equal({ locale: { from: 'en', to: 'de' } });
    const done = await client.submit('/two-factor-setup/confirm', { csrf: csrfOf(qr.html), code: totpCode(secretOf(qr.html)) });
    expect(h1Of(done.html)).to.equal('Die Zwei-Faktor-Authentifizierung ist aktiv');
    // Unchanged by the activation: its event records no change.
    const [activated] = await em().find(AuditEvent, { targetId: u.user.id, action: AuditAction.TWO_FACTOR_ACTIVATED });
    expect(activated!.changes).to.equal(null);

    // A later e-mail comes in German, and its link leads to the pages.
    const german = await requestReset(u);
    expect(german.subject).to.equal('Passwort für License Portal zurücksetzen');
    expect(german.text).to.match(/^Hallo /);
    const link = /\/reset-password\?token=[A-Za-z0-9_%-]+/.exec(german.text)![0];

    // Switched back to English on the pages (the same browser, its cookie says de): English from now on.
    const back = await client.open(`${link}&lang=en`);
    expect(h1Of(back.html)).to.equal('Choose a new password');
    await client.submit('/reset-password', {
      csrf: csrfOf(back.html),
      newPassword: NEW_PASSWORD + '!',
      confirmPassword: NEW_PASSWORD + '!',
    });
    expect(await localeOf(u)).to.equal('en');
    expect((await requestReset(u)).subject).to.equal('Reset your License Portal password');

    // The browser's language counts as well (Accept-Language: de)...
    const v = await makeUser(s, { role: Role.ADMIN });
    const byBrowser = new PageClient(s.url, { 'accept-language': 'de-DE,de;q=0.9' });
    const vForm = await byBrowser.open(`/reset-password?token=${encodeURIComponent(await issue(v, AccountTokenPurpose.PASSWORD_RESET))}`);
    await byBrowser.submit('/reset-password', { csrf: csrfOf(vForm.html), newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(await localeOf(v)).to.equal('de');
    // ...but the English fallback (no switch, no Accept-Language) leaves a German account German, as does
    // the GraphQL mutation.
    const w = await makeUser(s, { role: Role.ADMIN, locale: 'de' });
    const plain = new PageClient(s.url);
    const wForm = await plain.open(`/reset-password?token=${encodeURIComponent(await issue(w, AccountTokenPurpose.PASSWORD_RESET))}`);
    expect(h1Of(wForm.html)).to.equal('Choose a new password');
    await plain.submit('/reset-password', { csrf: csrfOf(wForm.html), newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
    expect(await localeOf(w)).to.equal('de');
    const api = await s.gql(RESET, { t: await issue(w, AccountTokenPurpose.PASSWORD_RESET), p: NEW_PASSWORD });
    expect(api.errors, JSON.stringify(api.errors)).to.equal(undefined);
    expect(await localeOf(w)).to.equal('de');
    expect((await requestReset(w)).subject).to.equal('Passwort für License Portal zurücksetzen');

    // Activating 2FA on /two-factor-setup (a reseller-portal activation link) in German keeps German too.
    const reseller = await makeReseller(s, { linkedToResellerPortal: true });
    const r = await makeUser(s, { role: Role.RESELLER, reseller, twoFactor: false, linkedToResellerPortal: true });
    const setup = new PageClient(s.url);
    const start = await setup.open(
      `/two-factor-setup?token=${encodeURIComponent(await issue(r, AccountTokenPurpose.TWO_FACTOR_ACTIVATION))}&lang=de`,
    );
    expect(h1Of(start.html)).to.equal('Zwei-Faktor-Authentifizierung einrichten');
    const rQr = await setup.submit('/two-factor-setup', { csrf: csrfOf(start.html) });
    expect(await localeOf(r)).to.equal('en');
    await setup.submit('/two-factor-setup/confirm', { csrf: csrfOf(rQr.html), code: totpCode(secretOf(rQr.html)) });
    expect(await localeOf(r)).to.equal('de');
    const [rActivated] = await em().find(AuditEvent, { targetId: r.user.id, action: AuditAction.TWO_FACTOR_ACTIVATED });
    expect(JSON.parse(rActivated!.changes!)).to.deep.equal({ locale: { from: 'en', to: 'de' } });
  });

  it('RESELLER_PORTAL_URL defaults to PUBLIC_URL/two-factor-setup; BRAND_* are validated', () => {
    const env = testEnv(s.dir, 'unused', { RESELLER_PORTAL_URL: '' });
    expect(loadConfig(env).resellerPortalUrl).to.equal('https://portal.example.test/two-factor-setup');
    expect(loadConfig(env)).to.include({ brandName: s.config.totpIssuer, brandColor: '#0b5fff' });
    expect(loadConfig({ ...env, BRAND_COLOR: '#ABC', BRAND_NAME: ' Acme ' })).to.include({ brandColor: '#aabbcc', brandName: 'Acme' });
    for (const color of ['red', '#12345', '0b5fff', '#0b5fff;}', 'url(x)']) {
      expect(() => loadConfig({ ...env, BRAND_COLOR: color }), color).to.throw(ConfigError, /BRAND_COLOR/);
    }
    expect(() => loadConfig({ ...env, BRAND_NAME: 'a\nb' })).to.throw(ConfigError, /BRAND_NAME/);
  });

  it('alreadyEnrolled (TOTP_SECRET_REDISPLAY=always, the default): a reset shows the existing secret again, as the API does', async () => {
    expect(s.config.totpSecretRedisplay).to.equal('always');
    const u = await makeUser(s, { role: Role.ADMIN });
    const token = await issue(u, AccountTokenPurpose.PASSWORD_RESET);
    const client = new PageClient(s.url);
    const qr = await toQrPage(client, token);
    expect(h1Of(qr.html)).to.equal('Confirm your authenticator app');
    expect(qr.html).to.contain('Two-factor authentication is already set up for this account. This is your existing key');
    expect(qr.html).to.not.contain(NEW_KEY_NOTE.en);
    expect(secretOf(qr.html)).to.equal(u.secret);
    expect(new URL(decodeQrDataUrl(qrOf(qr.html))).searchParams.get('secret')).to.equal(u.secret);
    const done = await client.submit('/two-factor-setup/confirm', { csrf: csrfOf(qr.html), code: totpCode(u.secret!) });
    expect(h1Of(done.html)).to.equal('Your authenticator app is confirmed');
    expect(done.html).to.contain('other sign-ins of this account have been ended');
    expect(done.html).to.contain(RECOVERY_HINT.en);
  });

  it('TOTP_SECRET_REDISPLAY=never: a reset of an enrolled account shows a new key with a note, in English and German', async () => {
    const never = await startTestServer({ TOTP_SECRET_REDISPLAY: 'never' });
    try {
      for (const lang of ['en', 'de'] as const) {
        const u = await makeUser(never, { role: Role.ADMIN });
        const em = never.app.services.orm.em.fork();
        const token = await never.app.services.accountTokens.issue(em, u.user.id, AccountTokenPurpose.PASSWORD_RESET);
        await em.flush();
        const client = new PageClient(never.url);
        const form = await client.open(`/reset-password?token=${encodeURIComponent(token)}&lang=${lang}`);
        expect(form.html).to.contain(`<html lang="${lang}">`);
        const qr = await client.submit('/reset-password', {
          csrf: csrfOf(form.html),
          newPassword: NEW_PASSWORD,
          confirmPassword: NEW_PASSWORD,
        });
        // A set-up page (not "confirm your app"), with the note and a key other than the enrolled one.
        expect(h1Of(qr.html), lang).to.equal(lang === 'en' ? 'Set up your authenticator app' : 'Authenticator-App einrichten');
        expect(qr.html, lang).to.contain(`<p class="note">${NEW_KEY_NOTE[lang]}</p>`);
        expect(qr.html, lang).to.not.contain(lang === 'en' ? 'This is your existing key' : 'Das ist Ihr bisheriger Schlüssel');
        const secret = secretOf(qr.html);
        expect(secret).to.match(/^[A-Z2-7]{32}$/);
        expect(secret).to.not.equal(u.secret);
        expect(new URL(decodeQrDataUrl(qrOf(qr.html))).searchParams.get('secret')).to.equal(secret);

        // Confirmed with a code of the new key: "2FA is active", with the hint to create recovery codes.
        const done = await client.submit('/two-factor-setup/confirm', { csrf: csrfOf(qr.html), code: totpCode(secret) });
        expect(h1Of(done.html), lang).to.equal(
          lang === 'en' ? 'Two-factor authentication is active' : 'Die Zwei-Faktor-Authentifizierung ist aktiv',
        );
        expect(done.html, lang).to.contain(RECOVERY_HINT[lang]);
        const user = await never.app.services.orm.em.fork().findOneOrFail(User, u.user.id, { populate: ['totpSecretSealed'] });
        expect(new SecretBox(never.config.secretKey).open(user.totpSecretSealed!, u.user.id)).to.equal(secret);
      }
    } finally {
      await never.stop();
    }
  });

  it('security headers on every page, the redirects, the errors and the stylesheet; a large form is refused as a page', async () => {
    const client = new PageClient(s.url);
    const pages = [
      await client.get('/reset-password'),
      await client.get('/two-factor-setup'),
      await client.get('/two-factor-setup/confirm'),
      await client.get('/two-factor-setup/done'),
      await client.get('/two-factor-setup/active'),
      await client.get('/reset-password/new-link'),
      await client.get('/reset-password/sent'),
      await client.get('/static/portal.css'),
      await client.post('/reset-password', { csrf: 'x' }),
      await client.post('/reset-password', { csrf: 'x', newPassword: 'p'.repeat(20_000) }),
    ];
    for (const page of pages) expectSecurityHeaders(page);
    expect(pages[7]!.headers.get('cache-control')).to.equal('public, max-age=86400');
    expect(pages[0]!.headers.get('vary')).to.equal('Accept-Language, Cookie');
    expect(pages.slice(0, 5).map((p) => [p.status, p.location])).to.deep.equal(Array(5).fill([303, '/reset-password/new-link']));
    const tooLarge = pages[9]!;
    expect(tooLarge.status).to.equal(413);
    expect(tooLarge.headers.get('content-type')).to.match(/^text\/html/);
    expect(tooLarge.html).to.contain('The form was too large');
    // The API's routes keep their own answers.
    const api = await fetch(`${s.url}/healthz`);
    expect(api.headers.get('content-security-policy')).to.equal(null);
  });

  it('templates: a layout partial, no triple braces, every value escaped', () => {
    const files = pageTemplateFiles();
    expect(files).to.include('_layout.hbs');
    for (const file of files) {
      const source = readFileSync(join(PAGES_DIR, file), 'utf8');
      expect(source, file).to.not.contain('{{{');
      if (!file.startsWith('_')) expect(source, file).to.match(/^\{\{#> layout\}\}/);
    }
  });
});

describe('pages: the account token never reaches the log', function () {
  this.timeout(60000);

  it('a whole flow, with errors, against `node dist/src/main.js` at LOG_LEVEL=debug', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lp-pages-log-'));
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const env = testEnv(dir, schema, { LOG_LEVEL: 'debug' });
    // The CLI creates the database (migrations) and the account; its link is printed, not logged.
    const cli = await runCli(['create-admin', '--email', 'log.admin@example.test', '--name', 'Log Admin'], env);
    expect(cli.code, cli.stderr).to.equal(0);
    const token = /reset-password\?token=(\S+)/.exec(cli.stdout)![1]!;

    const child = spawn(process.execPath, [join(ROOT, 'dist/src/main.js')], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    let secret: string;
    try {
      let url: string | undefined;
      for (let i = 0; i < 400 && !url; i++) {
        url = /"url":"(http:\/\/[^"]+)\/graphql"/.exec(log)?.[1];
        if (!url) await new Promise((r) => setTimeout(r, 25));
      }
      expect(url, log).to.be.a('string');
      const client = new PageClient(url!);
      const form = await client.open(`/reset-password?token=${encodeURIComponent(token)}`);
      const csrf = csrfOf(form.html);
      await client.submit('/reset-password', { csrf, newPassword: NEW_PASSWORD, confirmPassword: 'something else' });
      const qr = await client.submit('/reset-password', { csrf, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD });
      secret = secretOf(qr.html);
      await client.submit('/two-factor-setup/confirm', { csrf, code: wrongCode(secret) });
      const done = await client.submit('/two-factor-setup/confirm', { csrf, code: totpCode(secret) });
      expect(h1Of(done.html)).to.equal('Two-factor authentication is active');
      // A used link and a broken form are logged (if at all) without their contents.
      await client.open(`/reset-password?token=${encodeURIComponent(token)}`);
      await client.post('/reset-password', { csrf: 'x', newPassword: 'p'.repeat(20_000) });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    expect(log).to.contain('"msg":"listening"');
    for (const secretText of [token, token.slice(4), 'lpa_', NEW_PASSWORD, secret]) expect(log).to.not.contain(secretText);
    await dropPgSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  });
});
