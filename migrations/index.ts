// The ordered list of migrations, maintained by `npm run migration:create`.
// Each migration holds the SQL for both engines (see README, "Migrations").
import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261129023736_Initial } from './Migration20261129023736_Initial';
import { Migration20261129025200_LicenseReminders } from './Migration20261129025200_LicenseReminders';
import { Migration20261130130000_ApiTokenPurpose } from './Migration20261130130000_ApiTokenPurpose';
import { Migration20261130150000_AuditChanges } from './Migration20261130150000_AuditChanges';
import { Migration20261130170000_AccountLifecycle } from './Migration20261130170000_AccountLifecycle';
import { Migration20261130180000_LicenseLifecycle } from './Migration20261130180000_LicenseLifecycle';
import { Migration20261130190000_RecoveryCodes } from './Migration20261130190000_RecoveryCodes';
import { Migration20261130220000_Webhooks } from './Migration20261130220000_Webhooks';
import { Migration20261201000000_FlatResellerViews } from './Migration20261201000000_FlatResellerViews';

export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261129023736_Initial', class: Migration20261129023736_Initial },
  { name: 'Migration20261129025200_LicenseReminders', class: Migration20261129025200_LicenseReminders },
  { name: 'Migration20261130130000_ApiTokenPurpose', class: Migration20261130130000_ApiTokenPurpose },
  { name: 'Migration20261130150000_AuditChanges', class: Migration20261130150000_AuditChanges },
  { name: 'Migration20261130170000_AccountLifecycle', class: Migration20261130170000_AccountLifecycle },
  { name: 'Migration20261130180000_LicenseLifecycle', class: Migration20261130180000_LicenseLifecycle },
  { name: 'Migration20261130190000_RecoveryCodes', class: Migration20261130190000_RecoveryCodes },
  { name: 'Migration20261130220000_Webhooks', class: Migration20261130220000_Webhooks },
  { name: 'Migration20261201000000_FlatResellerViews', class: Migration20261201000000_FlatResellerViews },
];
