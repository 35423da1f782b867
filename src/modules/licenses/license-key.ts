// License keys: five groups of five characters from an alphabet without 0/O/1/I, the last character a
// Luhn mod 32 check character, so that a mistyped or swapped character is recognised.
import { randomInt } from 'node:crypto';

export const KEY_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
const N = KEY_ALPHABET.length;
const GROUPS = 5;
const GROUP_LENGTH = 5;

/** Luhn mod N check character over the payload characters. */
export function checkCharacter(payload: string): string {
  let factor = 2;
  let sum = 0;
  for (let i = payload.length - 1; i >= 0; i--) {
    const code = KEY_ALPHABET.indexOf(payload[i]!);
    if (code < 0) throw new Error('character outside the key alphabet');
    let addend = factor * code;
    factor = factor === 2 ? 1 : 2;
    addend = Math.floor(addend / N) + (addend % N);
    sum += addend;
  }
  return KEY_ALPHABET[(N - (sum % N)) % N]!;
}

function group(chars: string): string {
  return chars.match(new RegExp(`.{1,${GROUP_LENGTH}}`, 'g'))!.join('-');
}

/** A new random key (120 bits of entropy), e.g. 7KX9M-Q2RTA-... */
export function generateLicenseKey(): string {
  let payload = '';
  for (let i = 0; i < GROUPS * GROUP_LENGTH - 1; i++) payload += KEY_ALPHABET[randomInt(N)];
  return group(payload + checkCharacter(payload));
}

/** Whether a key (any case, dashes optional) is well-formed with a correct check character. */
export function isValidLicenseKey(key: string): boolean {
  const chars = key.toUpperCase().replace(/-/g, '');
  if (chars.length !== GROUPS * GROUP_LENGTH || ![...chars].every((c) => KEY_ALPHABET.includes(c))) return false;
  return checkCharacter(chars.slice(0, -1)) === chars.slice(-1);
}
