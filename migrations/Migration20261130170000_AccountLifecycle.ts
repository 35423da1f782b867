// Written by hand (SQLite's diff reports changed tables for hand work); reviewed. One migration, both engines.
// Taking access away (FLOWS.md sections 9 and 10): users can be deactivated and have a locale; resellers
// can be suspended; a license carries its own suspension and a copy of its reseller's.
import { Migration } from '@mikro-orm/migrations';
import { PostgreSqlPlatform } from '@mikro-orm/postgresql';

export class Migration20261130170000_AccountLifecycle extends Migration {
  private statements(): string[] {
    return this.driver.getPlatform() instanceof PostgreSqlPlatform ? this.postgresql() : this.sqlite();
  }

  private sqlite(): string[] {
    return [
      'alter table `app_user` add column `active` integer not null default true',
      'alter table `app_user` add column `deactivated_at` datetime null',
      "alter table `app_user` add column `locale` text not null default 'en'",
      'alter table `reseller` add column `suspended_at` datetime null',
      'alter table `reseller` add column `suspension_reason` text null',
      'alter table `license` add column `suspended_at` datetime null',
      'alter table `license` add column `reseller_suspended_at` datetime null',
    ];
  }

  private postgresql(): string[] {
    return [
      'alter table "app_user" add column "active" boolean not null default true',
      'alter table "app_user" add column "deactivated_at" timestamptz null',
      'alter table "app_user" add column "locale" varchar(5) not null default \'en\'',
      'alter table "reseller" add column "suspended_at" timestamptz null',
      'alter table "reseller" add column "suspension_reason" varchar(500) null',
      'alter table "license" add column "suspended_at" timestamptz null',
      'alter table "license" add column "reseller_suspended_at" timestamptz null',
    ];
  }

  override async up(): Promise<void> {
    for (const statement of this.statements()) this.addSql(statement);
  }
}
