// Input checks shared by the services; each failure is BAD_USER_INPUT naming the field.
import { badInput } from '../errors';

export function requiredName(value: string, field = 'name', max = 200): string {
  const name = value.trim();
  if (name.length === 0) throw badInput(`${field} must not be empty.`, field);
  if (name.length > max) throw badInput(`${field} must have at most ${max} characters.`, field);
  if (/[\u0000-\u001f\u007f]/.test(name)) throw badInput(`${field} must not contain control characters.`, field);
  return name;
}
