// E-mail rendering: values are escaped in HTML, subjects are one line, links come from PUBLIC_URL only.
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Background } from '../../src/common/background';
import { createLogger } from '../../src/logger';
import { Mailer, oneLine, TEMPLATES_DIR } from '../../src/modules/mail/mailer';
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

  it('templates come in html/text pairs and never use unescaped triple braces', () => {
    const files = readdirSync(TEMPLATES_DIR).filter((f) => f.endsWith('.hbs'));
    const names = new Set(files.map((f) => f.replace(/\.(html|text)\.hbs$/, '')));
    for (const required of ['invitation', 'password-reset', 'two-factor-activation', 'password-changed'])
      expect(names).to.include(required);
    for (const name of names) {
      expect(files).to.include(`${name}.html.hbs`);
      expect(files).to.include(`${name}.text.hbs`);
    }
    for (const file of files) expect(readFileSync(join(TEMPLATES_DIR, file), 'utf8'), file).to.not.contain('{{{');
  });

  it('escapes user data in the HTML part and keeps the subject on one line', async () => {
    await mailer.send({
      to: 'victim@example.test',
      subject: 'Hello\r\nBcc: attacker@example.test',
      template: 'invitation',
      vars: {
        name: '<script>alert(1)</script> & "Mallory"',
        link: 'https://portal.example.test/reset-password?token=abc',
        expiresHours: 24,
      },
    });
    const [file] = readdirSync(dir);
    const raw = readFileSync(join(dir, file!), 'utf8');
    const mail = await parseMail(raw);
    expect(mail.subject).to.equal('Hello Bcc: attacker@example.test');
    expect(raw).to.not.match(/^Bcc:/im);
    expect(mail.html).to.contain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Mallory&quot;');
    expect(mail.html).to.not.contain('<script>');
    expect(mail.text).to.contain('<script>alert(1)</script> & "Mallory"');
  });

  it('oneLine removes every kind of line break', () => {
    expect(oneLine('a\rb\nc\r\nd\u2028e')).to.equal('a b c d e');
  });
});
