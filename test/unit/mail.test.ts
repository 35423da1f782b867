// E-mail rendering: every template in English and German with the same values, the recipient's language,
// values escaped in HTML, subjects on one line.
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Handlebars from 'handlebars';
import { Background } from '../../src/common/background';
import { LOCALES } from '../../src/common/locale';
import { createLogger } from '../../src/logger';
import { MAIL_TEMPLATES } from '../../src/modules/mail/mail-templates';
import {
  mailHandlebars,
  Mailer,
  oneLine,
  templateFile,
  TEMPLATES_DIR,
  type MailMessage,
  type MailVars,
} from '../../src/modules/mail/mailer';
import { parseMail } from '../helpers/mail';

describe('mail', () => {
  let dir: string;
  let mailer: Mailer;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lp-mail-'));
    const log = createLogger('silent');
    mailer = new Mailer(
      { smtpUrl: null, mailOutboxDir: dir, mailFrom: 'Portal <no-reply@example.test>', totpIssuer: 'License Portal' },
      log,
      new Background(log),
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Every name a template uses: values, {{#each}} row fields and helpers ({{dateTime x}}, {{#if x}}). */
  function namesIn(source: string): string[] {
    const names = new Set<string>();
    class Collect extends Handlebars.Visitor {
      override PathExpression(path: hbs.AST.PathExpression): void {
        names.add(path.original);
      }
    }
    new Collect().accept(Handlebars.parse(source));
    return [...names].sort();
  }

  /** Values for every template, with a date whose day and time differ by language. */
  const AT = new Date(Date.UTC(2026, 2, 3, 14, 5));
  const SAMPLES: MailVars = {
    invitation: { name: 'Erika', link: 'https://portal.example.test/reset-password?token=lpa_x', expiresHours: 24 },
    'password-reset': { name: 'Erika', link: 'https://portal.example.test/reset-password?token=lpa_x', expiresHours: 24 },
    'two-factor-activation': { name: 'Erika', link: 'https://portal.example.test/reset-password?token=lpa_x', expiresHours: 24 },
    'password-changed': { name: 'Erika', changedAt: AT, secretShownAgain: true },
    'two-factor-reset': { name: 'Erika', actorName: 'Max', changedAt: AT },
    'api-token-created': { name: 'Erika', tokenName: 'ci', createdAt: AT },
    'expiry-reminder': {
      name: 'Erika',
      reseller: 'Acme',
      count: 1,
      portalUrl: 'https://portal.example.test',
      licenses: [{ key: 'AAAAA-BBBBB', customer: 'Shop', kind: 'MDM', seats: 5, validUntil: AT, days: 7 }],
    },
    'account-changed': { name: 'Erika', actorName: 'Max', changedAt: AT, fields: 'name' },
    'account-reactivated': { name: 'Erika', twoFactorEnabled: true },
    'reseller-suspended': { name: 'Erika', resellerName: 'Acme' },
    'reseller-reinstated': { name: 'Erika', resellerName: 'Acme' },
    'customer-transferred': { name: 'Erika', customerName: 'Shop', fromName: 'Acme', toName: 'Beta', gained: true },
    'recovery-codes-generated': { name: 'Erika', count: 10, generatedAt: AT },
    'recovery-code-used': { name: 'Erika', remaining: 9, usedAt: AT },
  };

  it('templates come in html/text pairs, in every language with the same values, and never use unescaped triple braces', () => {
    const files = readdirSync(TEMPLATES_DIR).filter((f) => f.endsWith('.hbs'));
    const names = new Set(files.map((f) => f.replace(/\.(html|text)\.hbs$/, '')));
    for (const required of ['invitation', 'password-reset', 'two-factor-activation', 'password-changed'])
      expect(names).to.include(required);
    // The templates on disk are exactly those with subjects (and values) in mail-templates.ts.
    expect([...names].sort()).to.deep.equal([...MAIL_TEMPLATES].sort());
    for (const locale of LOCALES) {
      const dir = dirname(templateFile(locale, 'x'));
      const here = readdirSync(dir).filter((f) => f.endsWith('.hbs'));
      expect(here.sort(), locale).to.deep.equal(files.sort());
      for (const file of here) expect(readFileSync(join(dir, file), 'utf8'), `${locale}/${file}`).to.not.contain('{{{');
    }
    for (const name of MAIL_TEMPLATES) {
      for (const part of ['html', 'text']) {
        const file = `${name}.${part}.hbs`;
        const english = namesIn(readFileSync(templateFile('en', file), 'utf8'));
        for (const locale of LOCALES) {
          const source = readFileSync(templateFile(locale, file), 'utf8');
          expect(namesIn(source), `${locale}/${file} uses the values of the English one`).to.deep.equal(english);
          // Strict: a value the template uses but the sample lacks throws.
          const html = mailHandlebars(locale).compile(source, { strict: true })({
            productName: 'License Portal',
            ...SAMPLES[name],
          });
          expect(html, `${locale}/${file}`).to.not.match(/GMT|Invalid Date|\[object/);
          if (part === 'html') expect(html, `${locale}/${file}`).to.contain(`<html lang="${locale}">`);
        }
      }
      for (const locale of LOCALES) {
        const subject = mailer.subjectOf({ to: 'x@example.test', locale, template: name, vars: SAMPLES[name] } as MailMessage);
        expect(subject, `${name} (${locale})`).to.match(/\S/);
      }
    }
  });

  it("renders subject, body and dates in the recipient's language; anything but de is English", async () => {
    const message = (locale: string): MailMessage => ({
      to: `${locale}@example.test`,
      locale,
      template: 'two-factor-reset',
      vars: { name: 'Erika', actorName: 'Max', changedAt: AT },
    });
    for (const locale of ['de', 'en', 'fr']) await mailer.send(message(locale));
    const mails = await Promise.all(readdirSync(dir).map((f) => parseMail(readFileSync(join(dir, f)))));
    const to = (address: string) => mails.find((m) => m.to === address)!;
    const de = to('de@example.test');
    expect(de.subject).to.equal('Die Zwei-Faktor-Authentifizierung Ihres Kontos bei License Portal wurde zurückgesetzt');
    expect(de.text).to.contain('Hallo Erika,').and.contain('am 3. März 2026 um 14:05 UTC\nvon Max zurückgesetzt');
    expect(de.html).to.contain('<html lang="de">').and.contain('am 3. März 2026 um 14:05 UTC von Max zurückgesetzt');
    for (const address of ['en@example.test', 'fr@example.test']) {
      const en = to(address);
      expect(en.subject).to.equal('Two-factor authentication of your License Portal account was reset');
      expect(en.text).to.contain('Hello Erika,').and.contain('reset by Max\non 3 March 2026 at 14:05 UTC.');
    }
  });

  it('escapes user data in the HTML part and keeps the subject on one line', async () => {
    await mailer.send({
      to: 'victim@example.test',
      locale: 'en',
      template: 'customer-transferred',
      vars: {
        name: '<script>alert(1)</script> & "Mallory"',
        customerName: 'Hello\r\nBcc: attacker@example.test',
        fromName: 'Acme',
        toName: 'Beta',
        gained: true,
      },
    });
    const [file] = readdirSync(dir);
    const raw = readFileSync(join(dir, file!), 'utf8');
    const mail = await parseMail(raw);
    expect(mail.subject).to.equal('License Portal: customer Hello Bcc: attacker@example.test was transferred to Beta');
    // No header of its own (the body may show the name as typed, on two lines).
    expect(raw.slice(0, raw.indexOf('\n\n'))).to.not.match(/^Bcc:/im);
    expect(mail.html).to.contain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Mallory&quot;');
    expect(mail.html).to.not.contain('<script>');
    expect(mail.text).to.contain('<script>alert(1)</script> & "Mallory"');
  });

  it('oneLine removes every kind of line break', () => {
    expect(oneLine('a\rb\nc\r\nd\u2028e')).to.equal('a b c d e');
  });
});
