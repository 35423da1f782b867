// Written by hand (SQLite's diff reports changed tables for hand work); reviewed. One migration, both engines.
// The license lifecycle (FLOWS.md section 10): a transfer's events are also the former reseller's, and the
// audit log is read by target (a license's history) and by former reseller.
import { Migration } from '@mikro-orm/migrations';
import { PostgreSqlPlatform } from '@mikro-orm/postgresql';

export class Migration20261130180000_LicenseLifecycle extends Migration {
  private statements(): string[] {
    return this.driver.getPlatform() instanceof PostgreSqlPlatform ? this.postgresql() : this.sqlite();
  }

  private sqlite(): string[] {
    return [
      'alter table `audit_event` add column `former_reseller_id` text null',
      'create index `audit_event_target_id_at_id_index` on `audit_event` (`target_id`, `at`, `id`)',
      'create index `audit_event_former_reseller_id_at_id_index` on `audit_event` (`former_reseller_id`, `at`, `id`)',
    ];
  }

  private postgresql(): string[] {
    return [
      'alter table "audit_event" add column "former_reseller_id" varchar(32) null',
      'create index "audit_event_target_id_at_id_index" on "audit_event" ("target_id", "at", "id")',
      'create index "audit_event_former_reseller_id_at_id_index" on "audit_event" ("former_reseller_id", "at", "id")',
    ];
  }

  override async up(): Promise<void> {
    for (const statement of this.statements()) this.addSql(statement);
  }
}
