// Every resolver class of the schema.
import { ApiTokenResolver } from '../modules/api-tokens/api-token.resolver';
import { AuditResolver } from '../modules/audit/audit.resolver';
import { AuthResolver } from '../modules/auth/auth.resolver';
import { CustomerResolver } from '../modules/customers/customer.resolver';
import { LicenseResolver } from '../modules/licenses/license.resolver';
import { NodeResolver } from '../modules/node/node.resolver';
import { ResellerResolver } from '../modules/resellers/reseller.resolver';
import { UserResolver } from '../modules/users/user.resolver';
import { WebhookEndpointResolver } from '../modules/webhooks/webhook.resolver';

export const resolvers = [
  AuthResolver,
  UserResolver,
  ResellerResolver,
  CustomerResolver,
  LicenseResolver,
  AuditResolver,
  ApiTokenResolver,
  WebhookEndpointResolver,
  NodeResolver,
] as const;
