// Input checks shared by the services; each failure is BAD_USER_INPUT naming the field.
import { badInput } from '../errors';

export function requiredName(value: string, field = 'name', max = 200): string {
  const name = value.trim();
  if (name.length === 0) throw badInput(`${field} must not be empty.`, field);
  if (name.length > max) throw badInput(`${field} must have at most ${max} characters.`, field);
  if (/[\u0000-\u001f\u007f]/.test(name)) throw badInput(`${field} must not contain control characters.`, field);
  return name;
}

/** Reasons (suspension, deactivation, transfer) are kept in the audit log: 1 to 500 characters of text. */
export const MAX_REASON_LENGTH = 500;

export function requiredReason(value: string, field = 'reason'): string {
  return requiredName(value, field, MAX_REASON_LENGTH);
}

/** An optional reason: absent (null) is fine, but one given must be a valid reason (not empty). */
export function optionalReason(value: string | null | undefined, field = 'reason'): string | null {
  return value === null || value === undefined ? null : requiredReason(value, field);
}
