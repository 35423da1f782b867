// Written by hand (SQLite's diff reports changed tables for hand work); reviewed. One migration, both engines.
// Audit events carry what changed ({ field: { from, to } } as JSON) and the reason given.
import { Migration } from '@mikro-orm/migrations';
import { PostgreSqlPlatform } from '@mikro-orm/postgresql';

export class Migration20261130150000_AuditChanges extends Migration {
  private statements(): string[] {
    return this.driver.getPlatform() instanceof PostgreSqlPlatform ? this.postgresql() : this.sqlite();
  }

  private sqlite(): string[] {
    return ['alter table `audit_event` add column `changes` text null', 'alter table `audit_event` add column `reason` text null'];
  }

  private postgresql(): string[] {
    return ['alter table "audit_event" add column "changes" text null', 'alter table "audit_event" add column "reason" text null'];
  }

  override async up(): Promise<void> {
    for (const statement of this.statements()) this.addSql(statement);
  }
}
