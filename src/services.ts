// The application's long-lived services, built once at start-up from the config and the ORM.
import type { Config } from './config';
import { Background } from './common/background';
import type { Orm } from './db/orm';
import { createReader, type Reader } from './db/reader';
import type { Logger } from './logger';
import { Metrics } from './metrics';
import { ApiTokenService } from './modules/api-tokens/api-token.service';
import { AccountTokenService } from './modules/auth/account-token.service';
import { AttemptLimiter } from './modules/auth/attempt-limiter';
import { EnrolmentService } from './modules/auth/enrolment.service';
import { PasswordChangeService } from './modules/auth/password-change.service';
import { PasswordResetService } from './modules/auth/password-reset.service';
import { RecoveryCodeService } from './modules/auth/recovery-codes.service';
import { SignInService } from './modules/auth/sign-in.service';
import { TotpCheck } from './modules/auth/totp-check';
import { SecretBox } from './modules/auth/secrets';
import { SessionService } from './modules/auth/session.service';
import { CustomerService } from './modules/customers/customer.service';
import { LicenseService } from './modules/licenses/license.service';
import { Mailer } from './modules/mail/mailer';
import { ExpiryReminderService } from './modules/reminders/expiry-reminder.service';
import { ResellerService } from './modules/resellers/reseller.service';
import { UserService } from './modules/users/user.service';
import { WebhookSender } from './modules/webhooks/webhook-sender';
import { WebhookService } from './modules/webhooks/webhook.service';
import { WebhookWorker } from './modules/webhooks/webhook-worker';

export interface Services {
  config: Config;
  log: Logger;
  orm: Orm;
  /** The hot read statements' connections (close before the ORM). */
  reader: Reader;
  metrics: Metrics;
  background: Background;
  mailer: Mailer;
  sessions: SessionService;
  accountTokens: AccountTokenService;
  signIn: SignInService;
  enrolment: EnrolmentService;
  passwordReset: PasswordResetService;
  passwordChange: PasswordChangeService;
  recoveryCodes: RecoveryCodeService;
  resellers: ResellerService;
  customers: CustomerService;
  licenses: LicenseService;
  users: UserService;
  apiTokens: ApiTokenService;
  reminders: ExpiryReminderService;
  webhooks: WebhookService;
  /** Delivers the webhook outbox; started by the server when WEBHOOK_WORKER=on. */
  webhookWorker: WebhookWorker;
}

export function createServices(config: Config, log: Logger, orm: Orm, metrics: Metrics = new Metrics()): Services {
  const background = new Background(log);
  const mailer = new Mailer(config, log, background);
  const reader = createReader(config.database);
  const sessions = new SessionService(reader);
  const accountTokens = new AccountTokenService();
  const limiter = new AttemptLimiter(Date.now, () => metrics.rateLimited.inc());
  const box = new SecretBox(config.secretKey);
  const totp = new TotpCheck(box, limiter, metrics);
  const recoveryCodes = new RecoveryCodeService(mailer, limiter, totp, metrics);
  const enrolment = new EnrolmentService(config, box, mailer, limiter, accountTokens, totp, recoveryCodes);
  const passwordReset = new PasswordResetService(config, box, mailer, background, limiter, sessions, accountTokens, enrolment);
  const signIn = new SignInService(limiter, sessions, totp, enrolment, metrics, recoveryCodes);
  const passwordChange = new PasswordChangeService(config, mailer, limiter, sessions, totp, metrics);
  const webhookSender = new WebhookSender(config.production, config.webhooks.timeoutMs);
  return {
    config,
    log,
    orm,
    reader,
    metrics,
    background,
    mailer,
    sessions,
    accountTokens,
    signIn,
    enrolment,
    passwordReset,
    passwordChange,
    recoveryCodes,
    resellers: new ResellerService(sessions, mailer),
    customers: new CustomerService(mailer, reader),
    licenses: new LicenseService(reader),
    users: new UserService(passwordReset, sessions, recoveryCodes, mailer, config.defaultLocale),
    apiTokens: new ApiTokenService(mailer),
    reminders: new ExpiryReminderService(mailer, log, config),
    webhooks: new WebhookService(config.production, box),
    webhookWorker: new WebhookWorker(orm, box, webhookSender, metrics, log, config.webhooks.timeoutMs),
  };
}
