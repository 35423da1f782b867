// Written by hand from the schema generator's DDL; reviewed. One migration, both engines.
// Webhooks (FLOWS.md section 12): endpoints, the outbox of license events, deliveries with their attempts.
import { Migration } from '@mikro-orm/migrations';
import { PostgreSqlPlatform } from '@mikro-orm/postgresql';

export class Migration20261130220000_Webhooks extends Migration {
  private statements(): string[] {
    return this.driver.getPlatform() instanceof PostgreSqlPlatform ? this.postgresql() : this.sqlite();
  }

  private sqlite(): string[] {
    return [
      'create table `webhook_endpoint` (`id` text not null, `url` text not null, `events` json not null, `reseller_id` text null, `secret_sealed` text not null, `active` integer not null default true, `created_by_id` text null, `created_at` datetime not null, `deleted_at` datetime null, constraint `webhook_endpoint_reseller_id_foreign` foreign key(`reseller_id`) references `reseller`(`id`) on delete restrict on update cascade, primary key (`id`))',
      'create index `webhook_endpoint_reseller_id_index` on `webhook_endpoint` (`reseller_id`)',
      'create index `webhook_endpoint_reseller_id_active_index` on `webhook_endpoint` (`reseller_id`, `active`)',
      'create table `webhook_event` (`id` text not null, `type` text not null, `license_id` text not null, `reseller_id` text not null, `former_reseller_id` text null, `data` text not null, `created_at` datetime not null, `dispatched_at` datetime null, primary key (`id`))',
      'create index `webhook_event_dispatched_at_created_at_index` on `webhook_event` (`dispatched_at`, `created_at`)',
      "create table `webhook_delivery` (`id` text not null, `endpoint_id` text not null, `message_id` text not null, `event` text not null, `redacted` integer not null default false, `state` text check (`state` in ('PENDING', 'DELIVERED', 'FAILED')) not null default 'PENDING', `attempts` integer not null default 0, `last_status_code` integer null, `last_error` text null, `next_attempt_at` datetime null, `claim_token` text null, `claimed_until` datetime null, `delivered_at` datetime null, `created_at` datetime not null, constraint `webhook_delivery_endpoint_id_foreign` foreign key(`endpoint_id`) references `webhook_endpoint`(`id`) on delete cascade on update cascade, constraint `webhook_delivery_message_id_foreign` foreign key(`message_id`) references `webhook_event`(`id`) on delete cascade on update cascade, primary key (`id`))",
      'create index `webhook_delivery_endpoint_id_index` on `webhook_delivery` (`endpoint_id`)',
      'create index `webhook_delivery_message_id_index` on `webhook_delivery` (`message_id`)',
      'create index `webhook_delivery_state_next_attempt_at_index` on `webhook_delivery` (`state`, `next_attempt_at`)',
      'create index `webhook_delivery_endpoint_id_created_at_id_index` on `webhook_delivery` (`endpoint_id`, `created_at`, `id`)',
    ];
  }

  private postgresql(): string[] {
    return [
      'create table "webhook_endpoint" ("id" varchar(32) not null, "url" varchar(2048) not null, "events" jsonb not null, "reseller_id" varchar(32) null, "secret_sealed" text not null, "active" boolean not null default true, "created_by_id" varchar(32) null, "created_at" timestamptz not null, "deleted_at" timestamptz null, constraint "webhook_endpoint_pkey" primary key ("id"))',
      'create index "webhook_endpoint_reseller_id_active_index" on "webhook_endpoint" ("reseller_id", "active")',
      'create table "webhook_event" ("id" varchar(32) not null, "type" varchar(40) not null, "license_id" varchar(32) not null, "reseller_id" varchar(32) not null, "former_reseller_id" varchar(32) null, "data" text not null, "created_at" timestamptz not null, "dispatched_at" timestamptz null, constraint "webhook_event_pkey" primary key ("id"))',
      'create index "webhook_event_dispatched_at_created_at_index" on "webhook_event" ("dispatched_at", "created_at")',
      'create table "webhook_delivery" ("id" varchar(32) not null, "endpoint_id" varchar(32) not null, "message_id" varchar(32) not null, "event" varchar(40) not null, "redacted" boolean not null default false, "state" text check ("state" in (\'PENDING\', \'DELIVERED\', \'FAILED\')) not null default \'PENDING\', "attempts" int not null default 0, "last_status_code" int null, "last_error" varchar(200) null, "next_attempt_at" timestamptz null, "claim_token" varchar(32) null, "claimed_until" timestamptz null, "delivered_at" timestamptz null, "created_at" timestamptz not null, constraint "webhook_delivery_pkey" primary key ("id"))',
      'create index "webhook_delivery_message_id_index" on "webhook_delivery" ("message_id")',
      'create index "webhook_delivery_state_next_attempt_at_index" on "webhook_delivery" ("state", "next_attempt_at")',
      'create index "webhook_delivery_endpoint_id_created_at_id_index" on "webhook_delivery" ("endpoint_id", "created_at", "id")',
      'alter table "webhook_endpoint" add constraint "webhook_endpoint_reseller_id_foreign" foreign key ("reseller_id") references "reseller" ("id") on update cascade on delete restrict',
      'alter table "webhook_delivery" add constraint "webhook_delivery_endpoint_id_foreign" foreign key ("endpoint_id") references "webhook_endpoint" ("id") on update cascade on delete cascade',
      'alter table "webhook_delivery" add constraint "webhook_delivery_message_id_foreign" foreign key ("message_id") references "webhook_event" ("id") on update cascade on delete cascade',
    ];
  }

  override async up(): Promise<void> {
    for (const statement of this.statements()) this.addSql(statement);
  }
}
