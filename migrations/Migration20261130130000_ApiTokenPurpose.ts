// Written by hand (SQLite's diff reports changed tables for hand work); reviewed. One migration, both engines.
// API tokens get a purpose: OWNER (every existing token) or RESELLER_PORTAL (FLOWS.md section 8).
import { Migration } from '@mikro-orm/migrations';
import { PostgreSqlPlatform } from '@mikro-orm/postgresql';

export class Migration20261130130000_ApiTokenPurpose extends Migration {
  private statements(): string[] {
    return this.driver.getPlatform() instanceof PostgreSqlPlatform ? this.postgresql() : this.sqlite();
  }

  private sqlite(): string[] {
    return ["alter table `api_token` add column `purpose` text check (`purpose` in ('OWNER', 'RESELLER_PORTAL')) not null default 'OWNER'"];
  }

  private postgresql(): string[] {
    return [
      'alter table "api_token" add column "purpose" text check ("purpose" in (\'OWNER\', \'RESELLER_PORTAL\')) not null default \'OWNER\'',
    ];
  }

  override async up(): Promise<void> {
    for (const statement of this.statements()) this.addSql(statement);
  }
}
