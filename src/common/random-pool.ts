// Random bytes for ids and keys, drawn from a pool filled by crypto.randomBytes 8 KB at a time (as Node's
// own crypto.randomUUID keeps a cache of entropy): the same CSPRNG bytes, each handed out once, without a
// call into OpenSSL per id. A bulk write makes three ids and a license key per row.
import { randomBytes } from 'node:crypto';

const POOL_SIZE = 8192;
let pool = Buffer.alloc(0);
let offset = 0;

/** `n` (<= 8192) fresh random bytes; the returned view is never handed out again. */
export function pooledRandomBytes(n: number): Buffer {
  if (offset + n > pool.length) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + n);
  offset += n;
  return bytes;
}
