// E-mail addresses as accounts know them: trimmed, lower-case, of a plausible shape.
import { badInput } from '../../errors';

export const MAX_EMAIL_LENGTH = 254;
const EMAIL_SHAPE = /^[^\s@<>(),;:"\\[\]]+@[^\s@<>(),;:"\\[\]]+\.[^\s@<>(),;:"\\[\]]+$/;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** A normalised, plausible e-mail address, or BAD_USER_INPUT naming the field. */
export function validEmail(email: string, field = 'email'): string {
  const normalized = normalizeEmail(email);
  if (normalized.length > MAX_EMAIL_LENGTH || !EMAIL_SHAPE.test(normalized)) {
    throw badInput('This is not a valid e-mail address.', field);
  }
  return normalized;
}
