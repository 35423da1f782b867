// License status as one condition per status, matching licenseStatus (license.entity.ts): REVOKED wins;
// then EXPIRED when now >= validUntil; PENDING when now < validFrom; ACTIVE otherwise. Rendered to a
// MikroORM filter (toFilter) or to SQL (toSql, `now` bound as the engine stores time) by condition.ts.
import { LicenseStatus } from '../../common/enums';
import { allOf, gt, isNull, lte, notNull, type Condition } from '../access/condition';
import type { License } from './license.entity';

/** Neither revoked nor expired: PENDING or ACTIVE (the licenses an expiry reminder is about). */
export function liveAt(now: Date): Condition<License> {
  return allOf<License>(isNull('revokedAt'), gt('validUntil', now));
}

export function statusCondition(status: LicenseStatus, now: Date): Condition<License> {
  switch (status) {
    case LicenseStatus.REVOKED:
      return notNull('revokedAt');
    case LicenseStatus.EXPIRED:
      return allOf<License>(isNull('revokedAt'), lte('validUntil', now));
    case LicenseStatus.PENDING:
      return allOf<License>(liveAt(now), gt('validFrom', now));
    case LicenseStatus.ACTIVE:
      return allOf<License>(liveAt(now), lte('validFrom', now));
  }
}
