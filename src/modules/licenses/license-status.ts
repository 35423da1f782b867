// License status as database conditions, matching License.statusAt: REVOKED wins; then EXPIRED when
// now >= validUntil; PENDING when now < validFrom; ACTIVE otherwise.
import type { FilterQuery } from '@mikro-orm/core';
import { LicenseStatus } from '../../common/enums';
import { sql, type Sql } from '../../db/sql';
import type { License } from './license.entity';

export function activeAt(now: Date) {
  return { revokedAt: null, validFrom: { $lte: now }, validUntil: { $gt: now } };
}

export function statusCondition(status: LicenseStatus, now: Date): FilterQuery<License> {
  switch (status) {
    case LicenseStatus.REVOKED:
      return { revokedAt: { $ne: null } };
    case LicenseStatus.EXPIRED:
      return { revokedAt: null, validUntil: { $lte: now } };
    case LicenseStatus.PENDING:
      return { revokedAt: null, validFrom: { $gt: now }, validUntil: { $gt: now } };
    case LicenseStatus.ACTIVE:
      return activeAt(now);
  }
}

/**
 * statusCondition as SQL over the license alias `l`, for the hand-written license page (license.service.ts);
 * `now` is bound as the engine stores timestamps (timeParam). Both forms are proven equal by the status
 * filter tests, which run the page and hasValidLicense (statusCondition) over the same boundary rows.
 */
export function statusSql(status: LicenseStatus, now: Date | number): Sql {
  switch (status) {
    case LicenseStatus.REVOKED:
      return sql('l.revoked_at is not null');
    case LicenseStatus.EXPIRED:
      return sql('l.revoked_at is null and l.valid_until <= ?', now);
    case LicenseStatus.PENDING:
      return sql('l.revoked_at is null and l.valid_from > ? and l.valid_until > ?', now, now);
    case LicenseStatus.ACTIVE:
      return sql('l.revoked_at is null and l.valid_from <= ? and l.valid_until > ?', now, now);
  }
}
