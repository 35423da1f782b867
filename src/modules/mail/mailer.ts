// Sends the portal's e-mails in the recipient's language: rendered from templates/<name>.html.hbs and
// .text.hbs (English) or templates/de/<name>.*.hbs (German), with the subject of mail-templates.ts;
// delivered over SMTP_URL, or written as .eml files to MAIL_OUTBOX_DIR when no SMTP server is configured.
import Handlebars from 'handlebars';
import nodemailer, { type Transporter } from 'nodemailer';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../../config';
import type { Background } from '../../common/background';
import { localeOf, LOCALES, type Locale } from '../../common/locale';
import type { Logger } from '../../logger';
import { formatDateTime, formatDay, SUBJECTS, type MailTemplate, type MailVars } from './mail-templates';

export type { MailTemplate, MailVars } from './mail-templates';

/** One e-mail: its template, the template's values (HTML-escaped; templates use no triple braces), and the recipient's locale. */
export type MailMessage = {
  [T in MailTemplate]: {
    to: string;
    /** The recipient's User.locale: the language of subject and body (anything but en or de is English). */
    locale: string;
    template: T;
    vars: MailVars[T];
  };
}[MailTemplate];

export const TEMPLATES_DIR = resolve(__dirname, '../../../../templates');

/** The file of a template part in a language: English in TEMPLATES_DIR, the others in a folder of their own. */
export function templateFile(locale: Locale, file: string): string {
  return locale === 'en' ? join(TEMPLATES_DIR, file) : join(TEMPLATES_DIR, locale, file);
}

/** A Handlebars environment for one language: {{dateTime x}} and {{date x}} format Date values for it. */
export function mailHandlebars(locale: Locale): typeof Handlebars {
  const hbs = Handlebars.create();
  const formatted = (value: unknown, format: (d: Date, l: Locale) => string, helper: string) => {
    if (!(value instanceof Date)) throw new Error(`{{${helper}}} needs a Date`);
    return format(value, locale);
  };
  hbs.registerHelper('dateTime', (value: unknown) => formatted(value, formatDateTime, 'dateTime'));
  hbs.registerHelper('date', (value: unknown) => formatted(value, formatDay, 'date'));
  return hbs;
}

/** Subjects are one line: CR and LF (header injection) become spaces. */
export function oneLine(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, ' ').trim();
}

export class Mailer {
  private readonly transport: Transporter;
  private readonly outbox: boolean;
  private readonly compiled = new Map<string, HandlebarsTemplateDelegate>();
  private readonly hbs = Object.fromEntries(LOCALES.map((l) => [l, mailHandlebars(l)])) as Record<Locale, typeof Handlebars>;
  constructor(
    private readonly config: Pick<Config, 'smtpUrl' | 'mailOutboxDir' | 'mailFrom' | 'totpIssuer'>,
    private readonly log: Logger,
    private readonly background: Background,
  ) {
    this.outbox = !config.smtpUrl;
    this.transport = config.smtpUrl
      ? nodemailer.createTransport(config.smtpUrl)
      : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  }

  private render(locale: Locale, name: string, vars: object): string {
    const key = `${locale}/${name}`;
    let template = this.compiled.get(key);
    if (!template) {
      // HTML parts escape every value; plain-text parts cannot carry markup, so they show values as typed.
      template = this.hbs[locale].compile(readFileSync(templateFile(locale, name), 'utf8'), {
        strict: true,
        noEscape: name.endsWith('.text.hbs'),
      });
      this.compiled.set(key, template);
    }
    return template({ productName: this.config.totpIssuer, ...vars });
  }

  /** The subject in the message's language. */
  subjectOf(message: MailMessage): string {
    const subject = SUBJECTS[message.template][localeOf(message.locale)] as (vars: MailMessage['vars'], product: string) => string;
    return oneLine(subject(message.vars, this.config.totpIssuer));
  }

  /** Delivers one message in the recipient's language; throws when the transport fails. */
  async send(message: MailMessage): Promise<void> {
    const locale = localeOf(message.locale);
    const info = await this.transport.sendMail({
      from: this.config.mailFrom,
      to: message.to,
      subject: this.subjectOf(message),
      text: this.render(locale, `${message.template}.text.hbs`, message.vars),
      html: this.render(locale, `${message.template}.html.hbs`, message.vars),
    });
    if (this.outbox) {
      mkdirSync(this.config.mailOutboxDir, { recursive: true, mode: 0o700 });
      const file = join(this.config.mailOutboxDir, `${Date.now()}-${randomBytes(4).toString('hex')}-${message.template}.eml`);
      writeFileSync(file, info.message as Buffer, { mode: 0o600 });
      // The link is in the file, not in the log: tokens never reach a log.
      this.log.info('mail written to outbox', { template: message.template, locale, file });
    } else {
      this.log.info('mail sent', { template: message.template, locale });
    }
  }

  /** Sends in the background; failures are logged, never shown to the client. Awaited on shutdown. */
  sendLater(message: MailMessage): void {
    this.background.run(`mail:${message.template}`, () => this.send(message));
  }

  close(): void {
    this.transport.close();
  }
}
