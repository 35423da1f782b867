// Every entity the ORM knows, in one list.
import { ApiToken } from '../modules/api-tokens/api-token.entity';
import { AuditEvent } from '../modules/audit/audit-event.entity';
import { AccountToken } from '../modules/auth/account-token.entity';
import { AttemptCounter } from '../modules/auth/attempt-counter.entity';
import { RecoveryCode } from '../modules/auth/recovery-code.entity';
import { Session } from '../modules/auth/session.entity';
import { Customer } from '../modules/customers/customer.entity';
import { License } from '../modules/licenses/license.entity';
import { LicenseReminder } from '../modules/reminders/license-reminder.entity';
import { Reseller } from '../modules/resellers/reseller.entity';
import { User } from '../modules/users/user.entity';
import { WebhookDelivery } from '../modules/webhooks/webhook-delivery.entity';
import { WebhookEndpoint } from '../modules/webhooks/webhook-endpoint.entity';
import { WebhookEvent } from '../modules/webhooks/webhook-event.entity';

export const entities = [
  Reseller,
  Customer,
  License,
  User,
  Session,
  AccountToken,
  AttemptCounter,
  AuditEvent,
  ApiToken,
  LicenseReminder,
  RecoveryCode,
  WebhookEndpoint,
  WebhookEvent,
  WebhookDelivery,
];
