// Sends the portal's e-mails: rendered from templates/<name>.html.hbs and .text.hbs, delivered over
// SMTP_URL, or written as .eml files to MAIL_OUTBOX_DIR when no SMTP server is configured.
import Handlebars from 'handlebars';
import nodemailer, { type Transporter } from 'nodemailer';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../../config';
import type { Background } from '../../common/background';
import type { Logger } from '../../logger';

export type MailTemplate =
  | 'invitation'
  | 'password-reset'
  | 'two-factor-activation'
  | 'password-changed'
  | 'two-factor-reset'
  | 'api-token-created'
  | 'expiry-reminder'
  | 'account-changed'
  | 'account-reactivated'
  | 'reseller-suspended'
  | 'reseller-reinstated'
  | 'customer-transferred'
  | 'recovery-codes-generated'
  | 'recovery-code-used';

export interface MailMessage {
  to: string;
  subject: string;
  template: MailTemplate;
  /** Values for the template; all of them are HTML-escaped (templates use no triple braces). */
  vars: Record<string, string | number | boolean>;
  /** Tables for {{#each}} blocks; their values are escaped like vars. */
  lists?: Record<string, Record<string, string | number>[]>;
}

export const TEMPLATES_DIR = resolve(__dirname, '../../../../templates');

/** Subjects are one line: CR and LF (header injection) become spaces. */
export function oneLine(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, ' ').trim();
}

export class Mailer {
  private readonly transport: Transporter;
  private readonly outbox: boolean;
  private readonly compiled = new Map<string, HandlebarsTemplateDelegate>();
  private readonly hbs = Handlebars.create();
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

  private render(name: string, vars: Record<string, unknown>): string {
    let template = this.compiled.get(name);
    if (!template) {
      // HTML parts escape every value; plain-text parts cannot carry markup, so they show values as typed.
      template = this.hbs.compile(readFileSync(join(TEMPLATES_DIR, name), 'utf8'), { strict: true, noEscape: name.endsWith('.text.hbs') });
      this.compiled.set(name, template);
    }
    return template({ productName: this.config.totpIssuer, ...vars });
  }

  /** Delivers one message; throws when the transport fails. */
  async send(message: MailMessage): Promise<void> {
    const info = await this.transport.sendMail({
      from: this.config.mailFrom,
      to: message.to,
      subject: oneLine(message.subject),
      text: this.render(`${message.template}.text.hbs`, { ...message.vars, ...message.lists }),
      html: this.render(`${message.template}.html.hbs`, { ...message.vars, ...message.lists }),
    });
    if (this.outbox) {
      mkdirSync(this.config.mailOutboxDir, { recursive: true, mode: 0o700 });
      const file = join(this.config.mailOutboxDir, `${Date.now()}-${randomBytes(4).toString('hex')}-${message.template}.eml`);
      writeFileSync(file, info.message as Buffer, { mode: 0o600 });
      // The link is in the file, not in the log: tokens never reach a log.
      this.log.info('mail written to outbox', { template: message.template, file });
    } else {
      this.log.info('mail sent', { template: message.template });
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
