// One row per license and threshold whose expiry reminder went out: the primary key makes each
// reminder happen once, even when two runs (or two servers) overlap.
import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

@Entity({ tableName: 'license_reminder' })
export class LicenseReminder {
  @PrimaryKey({ type: 'string', length: 32 })
  licenseId!: string;

  /** 30, 7 or 1: the number of days before validUntil this reminder is for. */
  @PrimaryKey({ type: 'integer' })
  thresholdDays!: number;

  @Property({ type: 'datetime' })
  sentAt!: Date;
}
