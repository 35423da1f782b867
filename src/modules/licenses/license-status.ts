// License status as database conditions, matching License.statusAt: REVOKED wins; then EXPIRED when
// now >= validUntil; PENDING when now < validFrom; ACTIVE otherwise.
import type { FilterQuery } from '@mikro-orm/core';
import { LicenseStatus } from '../../common/enums';
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
