// License keys: five groups of five characters from an alphabet without 0/O/1/I, the last character a
// check character, so that a mistyped or swapped character is recognised. Luhn mod 32 would miss
// swapping the first and last alphabet characters ("2Z" <-> "Z2"), so the check is computed in GF(32).
import { pooledRandomBytes } from '../../common/random-pool';

export const KEY_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
const N = KEY_ALPHABET.length;
const GROUPS = 5;
const GROUP_LENGTH = 5;

/** Multiplication by x in GF(2^5) modulo the primitive polynomial x^5 + x^2 + 1. */
function timesX(value: number): number {
  const shifted = value << 1;
  return shifted & N ? shifted ^ 0b100101 : shifted;
}

/**
 * The check character c for a payload p[0..k-1]: the weighted sum of p[i] * x^(k-i) plus c is zero in
 * GF(32). Every weight is a distinct power of a primitive element, so any single substitution and any
 * transposition of two characters less than 31 apart (adjacent ones included, also with the check
 * character) changes the sum.
 */
export function checkCharacter(payload: string): string {
  let sum = 0;
  for (const char of payload) {
    const code = KEY_ALPHABET.indexOf(char);
    if (code < 0) throw new Error('character outside the key alphabet');
    sum = timesX(sum) ^ code;
  }
  return KEY_ALPHABET[timesX(sum)]!;
}

const GROUP = new RegExp(`.{1,${GROUP_LENGTH}}`, 'g');

function group(chars: string): string {
  return chars.match(GROUP)!.join('-');
}

/** A new random key (120 bits of entropy), e.g. 7KX9M-Q2RTA-... */
export function generateLicenseKey(): string {
  let payload = '';
  // 256 is a multiple of 32: the low five bits of a random byte are a uniform character.
  for (const byte of pooledRandomBytes(GROUPS * GROUP_LENGTH - 1)) payload += KEY_ALPHABET[byte & (N - 1)];
  return group(payload + checkCharacter(payload));
}

/** Whether a key (any case, dashes optional) is well-formed with a correct check character. */
export function isValidLicenseKey(key: string): boolean {
  const chars = key.toUpperCase().replace(/-/g, '');
  if (chars.length !== GROUPS * GROUP_LENGTH || ![...chars].every((c) => KEY_ALPHABET.includes(c))) return false;
  return checkCharacter(chars.slice(0, -1)) === chars.slice(-1);
}
