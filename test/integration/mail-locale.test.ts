// E-mails in the recipient's language (FLOWS.md section 13): every kind of e-mail reaches a German
// user (User.locale de) in German and an English one in English, subject and body, with working links;
// mails to several users go out in each one's own language. New accounts get DEFAULT_LOCALE when an admin
// creates them (and from create-admin), the inviting user's locale when a reseller's user does, or the
// locale createUser names. Captured over SMTP.
import { expect } from 'chai';
import { Role, SessionStage } from '../../src/common/enums';
import { ConfigError, loadConfig } from '../../src/config';
import type { Reseller } from '../../src/modules/resellers/reseller.entity';
import { User } from '../../src/modules/users/user.entity';
import { freshCode, makeCustomer, makeLicense, makeReseller, makeUser, PASSWORD, type TestUser } from '../factories';
import { runCli } from '../helpers/cli';
import { linkToken, startSmtpCapture, type CapturedMail, type SmtpCapture } from '../helpers/mail';
import { codeOf, ok, startTestServer, type TestServer } from '../helpers/server';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;
type Locale = 'en' | 'de';

const NEW_PASSWORD = 'a long and new password';
const PRODUCT = 'License Portal';
const DAY = 86_400_000;

/** A date and time as the mails show them, per language (UTC). */
const DATE_TIME: Record<Locale, RegExp> = {
  en: /\b\d{1,2} (January|February|March|April|May|June|July|August|September|October|November|December) \d{4} at \d{2}:\d{2} UTC\b/,
  de: /\b\d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \d{4} um \d{2}:\d{2} UTC\b/,
};
const DAY_ONLY: Record<Locale, RegExp> = {
  en: /valid until \d{1,2} [A-Z][a-z]+ \d{4} \(within 7 day\(s\)\)/,
  de: /gültig bis \d{1,2}\. [A-Za-zä]+ \d{4} \(innerhalb von 7 Tag\(en\)\)/,
};

/** Asserts the mail is in `locale`: greeting, html lang, subject and a line of the body; no English-only date format. */
function expectMail(mail: CapturedMail, locale: Locale, name: string, subject: string, ...phrases: string[]) {
  expect(mail.subject, `subject (${locale})`).to.equal(subject);
  expect(mail.text, mail.text).to.match(new RegExp(`^${locale === 'de' ? 'Hallo' : 'Hello'} ${escape(name)},\\n`));
  expect(mail.html).to.contain(`<html lang="${locale}">`);
  for (const phrase of phrases) expect(mail.text, mail.text).to.contain(phrase);
  expect(mail.text).to.not.contain('GMT');
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The link of an e-mail, the same in the text and (HTML-escaped) the HTML part, and its token. */
function expectLink(s: TestServer, mail: CapturedMail): string {
  const link = new RegExp(`${escape(s.config.publicUrl)}/reset-password\\?token=lpa_[A-Za-z0-9_-]+`).exec(mail.text)?.[0];
  expect(link, mail.text).to.be.a('string');
  expect(mail.html.replace(/&#x3D;/g, '=')).to.contain(`href="${link}"`);
  return linkToken(mail);
}

describe("e-mails in the recipient's language (FLOWS.md section 13)", function () {
  this.timeout(120_000);
  let smtp: SmtpCapture;
  let s: TestServer;
  let admin: TestUser;
  let adminSession: string;
  /** How many mails to each address the test has looked at. */
  const consumed = new Map<string, number>();

  before(async () => {
    smtp = await startSmtpCapture();
    s = await startTestServer({ SMTP_URL: smtp.url });
    admin = await makeUser(s, { role: Role.ADMIN, locale: 'de' });
    adminSession = await sessionOf(admin);
  });
  after(async () => {
    await s?.stop();
    await smtp?.close();
  });

  /** An AUTHENTICATED session made directly (a user has only two fresh TOTP codes per 30 seconds). */
  async function sessionOf(u: TestUser): Promise<string> {
    const em = s.app.services.orm.em.fork();
    const token = s.app.services.sessions.create(em, u.user.id, SessionStage.AUTHENTICATED);
    await em.flush();
    return token;
  }

  /** The next mail to `email` that the test has not looked at yet. */
  async function nextMail(email: string): Promise<CapturedMail> {
    const seen = consumed.get(email) ?? 0;
    await smtp.waitFor(email, () => smtp.mails.filter((m) => m.to.includes(email)).length > seen);
    consumed.set(email, seen + 1);
    return smtp.mails.filter((m) => m.to.includes(email))[seen]!;
  }

  const asAdmin = (query: string, variables: Record<string, unknown> = {}) => s.gql<Json>(query, variables, adminSession);
  const localeOf = async (id: string) => (await s.app.services.orm.em.fork().findOneOrFail(User, id)).locale;
  const other = (locale: Locale): Locale => (locale === 'de' ? 'en' : 'de');

  for (const locale of ['en', 'de'] as const) {
    const de = locale === 'de';

    describe(`to a user with locale ${locale}`, () => {
      it('invitation (createUser with locale): its link sets the password; the GraphQL mutation leaves the locale', async () => {
        const email = `invited-${locale}@example.test`;
        const created = ok(
          await asAdmin('mutation($i: CreateUserInput!) { createUser(input: $i) { id locale } }', {
            i: { email, name: `Invited ${locale}`, role: 'ADMIN', locale },
          }),
        ).createUser;
        expect(created.locale).to.equal(locale);
        const mail = await nextMail(email);
        expectMail(
          mail,
          locale,
          `Invited ${locale}`,
          de ? `Ihr Konto bei ${PRODUCT}` : `Your ${PRODUCT} account`,
          de ? `für Sie wurde ein Konto bei ${PRODUCT} angelegt.` : `an account has been created for you in the ${PRODUCT}.`,
          de ? 'läuft in 24 Stunden ab' : 'expires in 24 hours',
        );
        const token = expectLink(s, mail);
        ok(
          await s.gql(`mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken } }`, {
            t: token,
            p: NEW_PASSWORD,
          }),
        );
        expect(await localeOf(created.id)).to.equal(locale);
      });

      it('password reset, and the password-changed notice of the reset', async () => {
        const u = await makeUser(s, { role: Role.ADMIN, locale });
        ok(await s.gql('mutation($e: String!) { requestPasswordReset(email: $e) }', { e: u.email }));
        const reset = await nextMail(u.email);
        expectMail(
          reset,
          locale,
          u.user.name,
          de ? `Passwort für ${PRODUCT} zurücksetzen` : `Reset your ${PRODUCT} password`,
          de
            ? `jemand (hoffentlich Sie) hat angefordert, das Passwort Ihres Kontos bei ${PRODUCT} zurückzusetzen.`
            : `someone (hopefully you) asked to reset the password of your ${PRODUCT} account.`,
        );
        const token = expectLink(s, reset);
        ok(
          await s.gql(`mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken } }`, {
            t: token,
            p: NEW_PASSWORD,
          }),
        );
        const changed = await nextMail(u.email);
        expectMail(
          changed,
          locale,
          u.user.name,
          de ? `Ihr Passwort für ${PRODUCT} wurde geändert` : `Your ${PRODUCT} password was changed`,
          de ? `das Passwort Ihres Kontos bei ${PRODUCT} wurde am ` : `the password of your ${PRODUCT} account was changed on `,
        );
        expect(changed.text).to.match(DATE_TIME[locale]);
        // The enrolled secret was shown again (TOTP_SECRET_REDISPLAY=always): the warning, in the language.
        expect(changed.text).to.contain(
          de
            ? 'Ihr bisheriger Schlüssel für die Zwei-Faktor-Authentifizierung wurde bei dieser Änderung erneut'
            : 'Your existing two-factor secret was displayed again',
        );
      });

      it('two-factor activation ("Enable 2FA" by e-mail); its link works', async () => {
        const u = await makeUser(s, { role: Role.ADMIN, locale, twoFactor: false });
        const login = ok(
          await s.gql<Json>('mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token stage } }', {
            e: u.email,
            p: PASSWORD,
          }),
        ).login;
        expect(login.stage).to.equal('TWO_FACTOR_SETUP_REQUIRED');
        expect(
          ok(await s.gql<Json>('mutation { requestTwoFactorActivation { method } }', {}, login.token)).requestTwoFactorActivation.method,
        ).to.equal('EMAIL');
        const mail = await nextMail(u.email);
        expectMail(
          mail,
          locale,
          u.user.name,
          de ? `Zwei-Faktor-Authentifizierung für ${PRODUCT} aktivieren` : `Activate two-factor authentication for the ${PRODUCT}`,
          de
            ? `für jedes Konto bei ${PRODUCT} ist die Zwei-Faktor-Authentifizierung vorgeschrieben`
            : `two-factor authentication is required for every ${PRODUCT} account`,
        );
        const token = expectLink(s, mail);
        ok(
          await s.gql(`mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken } }`, {
            t: token,
            p: NEW_PASSWORD,
          }),
        );
      });

      it('2FA reset by an admin, an account change by an admin, reactivation', async () => {
        const u = await makeUser(s, { role: Role.ADMIN, locale });
        ok(await asAdmin('mutation($id: ID!) { resetUserTwoFactor(userId: $id) { id } }', { id: u.user.id }));
        const reset = await nextMail(u.email);
        expectMail(
          reset,
          locale,
          u.user.name,
          de
            ? `Die Zwei-Faktor-Authentifizierung Ihres Kontos bei ${PRODUCT} wurde zurückgesetzt`
            : `Two-factor authentication of your ${PRODUCT} account was reset`,
          de
            ? `die Zwei-Faktor-Authentifizierung Ihres Kontos bei ${PRODUCT} wurde am `
            : `two-factor authentication of your ${PRODUCT} account was reset by ${admin.user.name}`,
        );
        expect(reset.text).to.match(DATE_TIME[locale]);

        const renamed = `Renamed ${locale}`;
        ok(
          await asAdmin('mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }', {
            id: u.user.id,
            i: { name: renamed },
          }),
        );
        const changed = await nextMail(u.email);
        expectMail(
          changed,
          locale,
          renamed,
          de ? `Ihr Konto bei ${PRODUCT} wurde geändert` : `Your ${PRODUCT} account was changed`,
          de ? `${admin.user.name} hat Ihr Konto bei ${PRODUCT} am ` : `${admin.user.name} changed your ${PRODUCT} account on `,
        );
        expect(changed.text).to.match(DATE_TIME[locale]);

        ok(await asAdmin('mutation($id: ID!) { deactivateUser(userId: $id, reason: "left") { id } }', { id: u.user.id }));
        ok(await asAdmin('mutation($id: ID!) { reactivateUser(userId: $id) { id } }', { id: u.user.id }));
        const reactivated = await nextMail(u.email);
        expectMail(
          reactivated,
          locale,
          renamed,
          de ? `Ihr Konto bei ${PRODUCT} wurde wieder aktiviert` : `Your ${PRODUCT} account was reactivated`,
          de ? `Ihr Konto bei ${PRODUCT} wurde wieder aktiviert.` : `your ${PRODUCT} account was reactivated.`,
        );
      });

      it('API token created, recovery codes generated and used', async () => {
        const u = await makeUser(s, { role: Role.ADMIN, locale });
        const session = await sessionOf(u);
        ok(await s.gql('mutation { createApiToken(name: "deploy script") { token } }', {}, session));
        const token = await nextMail(u.email);
        expectMail(
          token,
          locale,
          u.user.name,
          de ? `Für Ihr Konto bei ${PRODUCT} wurde ein API-Token erstellt` : `An API token was created for your ${PRODUCT} account`,
          de ? 'Namen „deploy script“ erstellt' : 'an API token named "deploy script" was created',
        );
        expect(token.text.replace(/\n/g, ' ')).to.match(DATE_TIME[locale]);

        const codes = ok(await s.gql<Json>('mutation($c: String!) { generateRecoveryCodes(totpCode: $c) }', { c: freshCode(u) }, session))
          .generateRecoveryCodes as string[];
        const generated = await nextMail(u.email);
        expectMail(
          generated,
          locale,
          u.user.name,
          de ? `Neue Wiederherstellungscodes für Ihr Konto bei ${PRODUCT}` : `New recovery codes for your ${PRODUCT} account`,
          de
            ? 'Wiederherstellungscodes erstellt. Ihre bisherigen Wiederherstellungscodes funktionieren nicht mehr.'
            : '10 new recovery codes were generated',
        );
        expect(generated.text).to.match(DATE_TIME[locale]);

        const limited = ok(
          await s.gql<Json>('mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token stage } }', {
            e: u.email,
            p: PASSWORD,
          }),
        ).login;
        ok(await s.gql('mutation($c: String!) { verifyRecoveryCode(code: $c) { stage } }', { c: codes[0] }, limited.token));
        const used = await nextMail(u.email);
        expectMail(
          used,
          locale,
          u.user.name,
          de
            ? `Ein Wiederherstellungscode wurde für die Anmeldung bei ${PRODUCT} verwendet`
            : `A recovery code was used to sign in to your ${PRODUCT} account`,
          de ? 'Verbleibende Wiederherstellungscodes: 9.' : 'Recovery codes left: 9.',
        );
        expect(used.text).to.match(DATE_TIME[locale]);
      });

      /** A reseller with a user of this test's locale and one of the other. */
      async function staffedReseller(): Promise<{ reseller: Reseller; mine: TestUser; theirs: TestUser }> {
        const reseller = await makeReseller(s);
        const mine = await makeUser(s, { role: Role.RESELLER, reseller, locale });
        const theirs = await makeUser(s, { role: Role.RESELLER, reseller, locale: other(locale) });
        return { reseller, mine, theirs };
      }

      it("reseller suspended and reinstated: each of its users in the user's own language", async () => {
        const { reseller, mine, theirs } = await staffedReseller();
        ok(await asAdmin('mutation($id: ID!) { suspendReseller(id: $id, reason: "unpaid") { id } }', { id: reseller.id }));
        for (const [u, lang] of [
          [mine, locale],
          [theirs, other(locale)],
        ] as const) {
          expectMail(
            await nextMail(u.email),
            lang,
            u.user.name,
            lang === 'de' ? `Ihr Zugang zu ${PRODUCT} ist gesperrt` : `Your ${PRODUCT} access is suspended`,
            lang === 'de'
              ? `der Zugang von ${reseller.name} zu ${PRODUCT} wurde gesperrt.`
              : `the ${PRODUCT} access of ${reseller.name} was suspended.`,
          );
        }
        ok(await asAdmin('mutation($id: ID!) { reinstateReseller(id: $id) { id } }', { id: reseller.id }));
        for (const [u, lang] of [
          [mine, locale],
          [theirs, other(locale)],
        ] as const) {
          expectMail(
            await nextMail(u.email),
            lang,
            u.user.name,
            lang === 'de' ? `Ihr Zugang zu ${PRODUCT} ist wiederhergestellt` : `Your ${PRODUCT} access is restored`,
            lang === 'de'
              ? `der Zugang von ${reseller.name} zu ${PRODUCT} wurde wiederhergestellt.`
              : `the ${PRODUCT} access of ${reseller.name} was restored.`,
          );
        }
      });

      it('customer transferred: the former and the new reseller are told, each user in its language', async () => {
        const from = await staffedReseller();
        const to = await staffedReseller();
        const customer = await makeCustomer(s, from.reseller);
        ok(
          await asAdmin('mutation($c: ID!, $r: ID!) { transferCustomer(customerId: $c, toResellerId: $r, reason: "merger") { id } }', {
            c: customer.id,
            r: to.reseller.id,
          }),
        );
        const subject = (lang: Locale, gained: boolean) =>
          lang === 'de'
            ? gained
              ? `${PRODUCT}: Kunde ${customer.name} wurde an ${to.reseller.name} übertragen`
              : `${PRODUCT}: Kunde ${customer.name} gehört nicht mehr zu ${from.reseller.name}`
            : gained
              ? `${PRODUCT}: customer ${customer.name} was transferred to ${to.reseller.name}`
              : `${PRODUCT}: customer ${customer.name} was transferred away from ${from.reseller.name}`;
        const body = (lang: Locale) =>
          lang === 'de'
            ? `der Kunde ${customer.name} wurde von ${from.reseller.name} an ${to.reseller.name} übertragen`
            : `the customer ${customer.name} was transferred from ${from.reseller.name} to ${to.reseller.name}`;
        const tail = (lang: Locale, gained: boolean) =>
          lang === 'de'
            ? gained
              ? 'und erscheint in Ihrem Portal.'
              : 'nicht mehr in Ihrem Portal.'
            : gained
              ? `are now ${to.reseller.name}'s and appear in your portal.`
              : 'no longer appear in your portal.';
        for (const [side, gained] of [
          [from, false],
          [to, true],
        ] as const) {
          for (const [u, lang] of [
            [side.mine, locale],
            [side.theirs, other(locale)],
          ] as const) {
            const mail = await nextMail(u.email);
            expectMail(mail, lang, u.user.name, subject(lang, gained), body(lang));
            expect(mail.text).to.contain(tail(lang, gained));
          }
        }
      });

      it("expiry reminder digest: each recipient in the recipient's own language, dates for the language", async () => {
        const { reseller, mine, theirs } = await staffedReseller();
        const customer = await makeCustomer(s, reseller);
        const now = Date.now();
        const license = await makeLicense(s, customer, { validFrom: new Date(now - 30 * DAY), validUntil: new Date(now + 5 * DAY) });
        const result = await s.app.services.reminders.run(s.app.services.orm.em.fork(), new Date(now));
        expect(result.mails).to.be.at.least(2);
        for (const [u, lang] of [
          [mine, locale],
          [theirs, other(locale)],
        ] as const) {
          const mail = await nextMail(u.email);
          expectMail(
            mail,
            lang,
            u.user.name,
            lang === 'de' ? `1 Lizenz(en) von ${reseller.name} laufen bald ab` : `1 license(s) of ${reseller.name} expire soon`,
            lang === 'de' ? `1 Lizenz(en) von ${reseller.name} laufen bald ab:` : `1 license(s) of ${reseller.name} expire soon:`,
            license.key,
            lang === 'de' ? `Verlängern Sie sie im Portal: ${s.config.publicUrl}` : `Renew them in the portal: ${s.config.publicUrl}`,
          );
          expect(mail.text).to.match(DAY_ONLY[lang]);
          expect(mail.html).to.contain(`href="${s.config.publicUrl}"`);
        }
      });
    });
  }

  describe('the locale of new accounts', () => {
    it("a reseller's user invites in its own locale; an admin in DEFAULT_LOCALE (en), whatever the admin's own; createUser's locale wins", async () => {
      const reseller = await makeReseller(s);
      const customer = await makeCustomer(s, reseller);
      for (const locale of ['de', 'en'] as const) {
        const inviter = await makeUser(s, { role: Role.RESELLER, reseller, locale });
        const session = await sessionOf(inviter);
        for (const [role, extra] of [
          ['RESELLER', {}],
          ['CUSTOMER', { customerId: customer.id }],
        ] as const) {
          const email = `invitee-${role.toLowerCase()}-${locale}@example.test`;
          const created = ok(
            await s.gql<Json>(
              'mutation($i: CreateUserInput!) { createUser(input: $i) { id locale } }',
              { i: { email, name: 'Invitee', role, ...extra } },
              session,
            ),
          ).createUser;
          expect(created.locale, `${role} invited by a ${locale} user`).to.equal(locale);
          expect((await nextMail(email)).subject).to.equal(locale === 'de' ? `Ihr Konto bei ${PRODUCT}` : `Your ${PRODUCT} account`);
        }
      }
      // The admin's own locale is de; the account it creates gets DEFAULT_LOCALE (en here).
      const byAdmin = ok(
        await asAdmin('mutation($i: CreateUserInput!) { createUser(input: $i) { id locale } }', {
          i: { email: 'by-admin@example.test', name: 'By Admin', role: 'RESELLER', resellerId: reseller.id },
        }),
      ).createUser;
      expect(byAdmin.locale).to.equal('en');
      expect((await nextMail('by-admin@example.test')).subject).to.equal(`Your ${PRODUCT} account`);
      // A locale named in createUser wins over the inviter's.
      const inviter = await makeUser(s, { role: Role.RESELLER, reseller, locale: 'en' });
      const named = ok(
        await s.gql<Json>(
          'mutation($i: CreateUserInput!) { createUser(input: $i) { id locale } }',
          { i: { email: 'named-de@example.test', name: 'Named', role: 'RESELLER', locale: 'de' } },
          await sessionOf(inviter),
        ),
      ).createUser;
      expect(named.locale).to.equal('de');
      expect((await nextMail('named-de@example.test')).subject).to.equal(`Ihr Konto bei ${PRODUCT}`);
      // Anything but en or de is BAD_USER_INPUT on the locale field, and nothing is created.
      const bad = await asAdmin('mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', {
        i: { email: 'bad-locale@example.test', name: 'Bad', role: 'ADMIN', locale: 'fr' },
      });
      expect(codeOf(bad)).to.equal('BAD_USER_INPUT');
      expect(bad.errors![0]!.extensions!.field).to.equal('locale');
      expect(await s.app.services.orm.em.fork().count(User, { email: 'bad-locale@example.test' })).to.equal(0);
    });

    it('DEFAULT_LOCALE=de: an admin-created account and create-admin are German; a reseller user still invites in its own', async () => {
      const german = await startTestServer({ SMTP_URL: smtp.url, DEFAULT_LOCALE: 'de' });
      try {
        expect(german.config.defaultLocale).to.equal('de');
        const em = german.app.services.orm.em.fork();
        const admin2 = await makeUser(german, { role: Role.ADMIN, locale: 'en' });
        const session = german.app.services.sessions.create(em, admin2.user.id, SessionStage.AUTHENTICATED);
        await em.flush();
        const created = ok(
          await german.gql<Json>(
            'mutation($i: CreateUserInput!) { createUser(input: $i) { id locale } }',
            { i: { email: 'default-de@example.test', name: 'Default De', role: 'ADMIN' } },
            session,
          ),
        ).createUser;
        expect(created.locale).to.equal('de');
        const invitation = await nextMail('default-de@example.test');
        expectMail(invitation, 'de', 'Default De', `Ihr Konto bei ${PRODUCT}`, `für Sie wurde ein Konto bei ${PRODUCT} angelegt.`);
        const token = expectLink(german, invitation);
        ok(
          await german.gql(`mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { setupToken } }`, {
            t: token,
            p: NEW_PASSWORD,
          }),
        );

        const cli = await runCli(['create-admin', '--email', 'cli-admin-de@example.test', '--name', 'Cli Admin'], german.env);
        expect(cli.code, cli.stderr).to.equal(0);
        const printed = /(https:\/\/portal\.example\.test\/reset-password\?token=\S+)/.exec(cli.stdout)![1]!;
        const cliMail = await nextMail('cli-admin-de@example.test');
        expectMail(cliMail, 'de', 'Cli Admin', `Ihr Konto bei ${PRODUCT}`, printed);
        expect((await german.app.services.orm.em.fork().findOneOrFail(User, { email: 'cli-admin-de@example.test' })).locale).to.equal('de');

        const reseller = await makeReseller(german);
        const inviter = await makeUser(german, { role: Role.RESELLER, reseller, locale: 'en' });
        const em2 = german.app.services.orm.em.fork();
        const resellerSession = german.app.services.sessions.create(em2, inviter.user.id, SessionStage.AUTHENTICATED);
        await em2.flush();
        const invitee = ok(
          await german.gql<Json>(
            'mutation($i: CreateUserInput!) { createUser(input: $i) { id locale } }',
            { i: { email: 'colleague-en@example.test', name: 'Colleague', role: 'RESELLER' } },
            resellerSession,
          ),
        ).createUser;
        expect(invitee.locale).to.equal('en');
        expect((await nextMail('colleague-en@example.test')).subject).to.equal(`Your ${PRODUCT} account`);
      } finally {
        await german.stop();
      }
    });

    it('DEFAULT_LOCALE is en or de (any case, empty is en); anything else is a ConfigError naming it', () => {
      const env = { SECRET_KEY: 'a-secret-key-of-at-least-32-characters!!', DATA_DIR: s.dir };
      expect(loadConfig(env).defaultLocale).to.equal('en');
      expect(loadConfig({ ...env, DEFAULT_LOCALE: '' }).defaultLocale).to.equal('en');
      expect(loadConfig({ ...env, DEFAULT_LOCALE: ' DE ' }).defaultLocale).to.equal('de');
      for (const bad of ['fr', 'de-DE', 'german']) {
        expect(() => loadConfig({ ...env, DEFAULT_LOCALE: bad }), bad)
          .to.throw(ConfigError, /^DEFAULT_LOCALE must be en or de/)
          .with.property('message')
          .that.does.not.contain('\n');
      }
    });
  });
});
