// Password hashing with scrypt at OWASP parameters: N=2^15, r=8, p=3 is the same work as N=2^17, p=1 in
// a quarter of the memory (32 MiB per hash instead of 128), which matters when logins run at once.
// The parameters are stored with each hash, so they can change without invalidating passwords.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { badInput } from '../../errors';

/**
 * scrypt runs on libuv's thread pool, which the SQLite driver needs too, and each hash keeps a core
 * busy for tens of milliseconds. At most this many hashes run at once, one core fewer than the machine
 * has (at least one), so a burst of logins queues behind itself instead of starving the event loop
 * and every database query of CPU.
 */
const MAX_CONCURRENT_HASHES = Math.max(1, availableParallelism() - 1);
let running = 0;
const waiting: (() => void)[] = [];

async function withHashSlot<T>(work: () => Promise<T>): Promise<T> {
  // A freed slot passes straight to the next waiter, so no newcomer can slip in between.
  if (running >= MAX_CONCURRENT_HASHES) await new Promise<void>((resolve) => waiting.push(resolve));
  else running += 1;
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  }
}

const scrypt = (password: string, salt: Buffer, keylen: number, options: ScryptOptions) =>
  withHashSlot(
    () =>
      new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)))),
  );

const LOG_N = 15;
const R = 8;
const P = 3;
const KEY_LENGTH = 32;
const MAX_MEM = 256 * 1024 * 1024;

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password.normalize('NFC'), salt, KEY_LENGTH, { N: 2 ** LOG_N, r: R, p: P, maxmem: MAX_MEM });
  return ['scrypt', LOG_N, R, P, salt.toString('base64'), key.toString('base64')].join('$');
}

/**
 * A password-grade hash of a random secret under a given salt (recovery codes: one salt per set, so that
 * checking a code costs one scrypt whatever the number of codes). Same format as hashPassword.
 */
export async function hashWithSalt(secret: string, salt: Buffer): Promise<string> {
  const key = await scrypt(secret.normalize('NFC'), salt, KEY_LENGTH, { N: 2 ** LOG_N, r: R, p: P, maxmem: MAX_MEM });
  return ['scrypt', LOG_N, R, P, salt.toString('base64'), key.toString('base64')].join('$');
}

/** The salt of a stored hash (hashWithSalt / hashPassword format), or null. */
export function saltOf(stored: string): Buffer | null {
  const [scheme, , , , salt] = stored.split('$');
  return scheme === 'scrypt' && salt ? Buffer.from(salt, 'base64') : null;
}

/** Constant-time equality of two stored hashes. */
export function sameHash(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, logN, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scrypt(password.normalize('NFC'), Buffer.from(salt, 'base64'), expected.length, {
    N: 2 ** Number(logN),
    r: Number(r),
    p: Number(p),
    maxmem: MAX_MEM,
  });
  return timingSafeEqual(actual, expected);
}

/**
 * Whether a stored hash was made with other parameters than hashPassword uses now. Such a hash costs
 * a different time to check than the dummy hash of unknown accounts, so it is replaced at the next
 * successful sign-in.
 */
export function needsRehash(stored: string): boolean {
  const [scheme, logN, r, p] = stored.split('$');
  return scheme !== 'scrypt' || Number(logN) !== LOG_N || Number(r) !== R || Number(p) !== P;
}

/** A hash of a random password: verifying against it costs the same as a real check, so unknown e-mails take as long. */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
  return dummyHash;
}

/** The password rules, stated to users as: 12 to 128 characters, not your e-mail address. */
export function assertAcceptablePassword(password: string, email: string): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) {
    throw badInput(`The password must have at least ${PASSWORD_MIN_LENGTH} characters.`, 'newPassword', 'PASSWORD_TOO_SHORT');
  }
  if (length > PASSWORD_MAX_LENGTH) {
    throw badInput(`The password must have at most ${PASSWORD_MAX_LENGTH} characters.`, 'newPassword', 'PASSWORD_TOO_LONG');
  }
  const lower = password.toLowerCase();
  if (lower === email.toLowerCase() || lower === email.toLowerCase().split('@')[0]) {
    throw badInput('The password must not be your e-mail address.', 'newPassword', 'PASSWORD_IS_EMAIL');
  }
  if (new Set(password).size < 4) {
    throw badInput('The password is too simple: use at least four different characters.', 'newPassword', 'PASSWORD_TOO_SIMPLE');
  }
}
