// Written by hand from the schema generator's DDL; reviewed. One migration, both engines.
// Recovery codes (FLOWS.md section 11): single-use, stored as scrypt hashes.
import { Migration } from '@mikro-orm/migrations';
import { PostgreSqlPlatform } from '@mikro-orm/postgresql';

export class Migration20261130190000_RecoveryCodes extends Migration {
  private statements(): string[] {
    return this.driver.getPlatform() instanceof PostgreSqlPlatform ? this.postgresql() : this.sqlite();
  }

  private sqlite(): string[] {
    return [
      'create table `recovery_code` (`id` text not null, `user_id` text not null, `code_hash` text not null, `created_at` datetime not null, `used_at` datetime null, constraint `recovery_code_user_id_foreign` foreign key(`user_id`) references `app_user`(`id`) on delete cascade on update cascade, primary key (`id`))',
      'create index `recovery_code_user_id_index` on `recovery_code` (`user_id`)',
      'create index `recovery_code_user_id_used_at_index` on `recovery_code` (`user_id`, `used_at`)',
    ];
  }

  private postgresql(): string[] {
    return [
      'create table "recovery_code" ("id" varchar(32) not null, "user_id" varchar(32) not null, "code_hash" varchar(200) not null, "created_at" timestamptz not null, "used_at" timestamptz null, constraint "recovery_code_pkey" primary key ("id"))',
      'create index "recovery_code_user_id_used_at_index" on "recovery_code" ("user_id", "used_at")',
      'alter table "recovery_code" add constraint "recovery_code_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade',
    ];
  }

  override async up(): Promise<void> {
    for (const statement of this.statements()) this.addSql(statement);
  }
}
