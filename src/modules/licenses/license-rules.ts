// The field rules of a license, shared by the API, bulk creation and the CSV import.
import { LicenseKind } from '../../common/enums';
import { badInput } from '../../errors';

const MIN_SEATS = 1;
const MAX_SEATS = 100_000;
const MAX_IDEMPOTENCY_KEY = 200;

export function checkSeats(seats: number): number {
  if (!Number.isInteger(seats) || seats < MIN_SEATS || seats > MAX_SEATS) {
    throw badInput(`seats must be a whole number from ${MIN_SEATS} to ${MAX_SEATS}.`, 'seats');
  }
  return seats;
}

export function checkDate(value: Date, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw badInput(`${field} is not a valid date.`, field);
  return value;
}

export function checkKind(kind: string): LicenseKind {
  if (!Object.values(LicenseKind).includes(kind as LicenseKind)) {
    throw badInput(`kind must be one of ${Object.values(LicenseKind).join(', ')}.`, 'kind');
  }
  return kind as LicenseKind;
}

export function checkIdempotencyKey(key: string | null | undefined): string | null {
  if (key === null || key === undefined) return null;
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY) {
    throw badInput(`idempotencyKey must have 1 to ${MAX_IDEMPOTENCY_KEY} characters.`, 'idempotencyKey');
  }
  return key;
}

/** The validity window: validFrom defaults to now; validUntil must come after it. */
export function checkWindow(validFrom: Date | null | undefined, validUntil: Date, now: Date): { validFrom: Date; validUntil: Date } {
  const from = checkDate(validFrom ?? now, 'validFrom');
  const until = checkDate(validUntil, 'validUntil');
  if (until.getTime() <= from.getTime()) throw badInput('validUntil must be after validFrom.', 'validUntil');
  return { validFrom: from, validUntil: until };
}
