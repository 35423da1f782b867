// Token and secret handling: random bearer tokens stored as SHA-256, and AES-256-GCM for TOTP secrets.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefixes make leaked tokens recognisable to secret scanners. */
export const TokenPrefix = {
  session: 'lps_',
  account: 'lpa_',
  apiToken: 'lpt_',
} as const;

/** A new bearer token: prefix + 256 random bits, base64url. Only its hash is ever stored. */
export function newToken(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

const TOKEN_SHAPE = /^lp[sat]_[A-Za-z0-9_-]{43}$/;

export function isWellFormedToken(token: string, prefix?: string): boolean {
  return TOKEN_SHAPE.test(token) && (prefix === undefined || token.startsWith(prefix));
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** AES-256-GCM under a key derived from SECRET_KEY; the associated data binds a ciphertext to its owner. */
export class SecretBox {
  private readonly key: Buffer;

  constructor(secretKey: string) {
    this.key = Buffer.from(hkdfSync('sha256', secretKey, 'license-portal', 'totp-secret-v1', 32));
  }

  seal(plaintext: string, associatedData: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join(':');
  }

  open(sealed: string, associatedData: string): string {
    const [version, iv, tag, body] = sealed.split(':');
    if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('unknown secret format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  }
}
