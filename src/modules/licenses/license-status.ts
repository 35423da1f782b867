// License status as one condition per status, matching licenseStatus (license.entity.ts): REVOKED wins;
// then SUSPENDED (the license's own suspension or its reseller's, copied onto the row); then EXPIRED when
// now >= validUntil; PENDING when now < validFrom; ACTIVE otherwise. Rendered to a MikroORM filter (toFilter)
// or to SQL (toSql, `now` bound as the engine stores time) by condition.ts.
import { LicenseStatus } from '../../common/enums';
import { allOf, anyOf, gt, isNull, lte, notNull, type Condition } from '../access/condition';
import type { License } from './license.entity';

/** Neither revoked nor suspended: the status follows the dates. */
function inForce(): Condition<License> {
  return allOf<License>(isNull('revokedAt'), isNull('suspendedAt'), isNull('resellerSuspendedAt'));
}

/** Neither revoked, suspended nor expired: PENDING or ACTIVE (the licenses an expiry reminder is about). */
export function liveAt(now: Date): Condition<License> {
  return allOf<License>(inForce(), gt('validUntil', now));
}

export function statusCondition(status: LicenseStatus, now: Date): Condition<License> {
  switch (status) {
    case LicenseStatus.REVOKED:
      return notNull('revokedAt');
    case LicenseStatus.SUSPENDED:
      return allOf<License>(isNull('revokedAt'), anyOf<License>(notNull('suspendedAt'), notNull('resellerSuspendedAt')));
    case LicenseStatus.EXPIRED:
      return allOf<License>(inForce(), lte('validUntil', now));
    case LicenseStatus.PENDING:
      return allOf<License>(liveAt(now), gt('validFrom', now));
    case LicenseStatus.ACTIVE:
      return allOf<License>(liveAt(now), lte('validFrom', now));
  }
}
