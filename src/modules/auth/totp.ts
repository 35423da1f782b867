// The only module that talks to speakeasy (unmaintained): RFC 6238, SHA-1, 6 digits, 30 s steps,
// a window of one step either side, and no step accepted twice; and the QR image of the otpauth URL.
import { randomBytes } from 'node:crypto';
import speakeasy from 'speakeasy';
import QRCode from 'qrcode';

const STEP_SECONDS = 30;
const CODE_SHAPE = /^[0-9]{6}$/;
const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Encode(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** A new 160-bit secret, base32 without padding. */
export function generateTotpSecret(): string {
  return base32Encode(randomBytes(20));
}

export function isWellFormedCode(code: string): boolean {
  return CODE_SHAPE.test(code);
}

export function currentStep(now = Date.now()): number {
  return Math.floor(now / 1000 / STEP_SECONDS);
}

/**
 * The time step the code belongs to, or null when it matches no step in the window or its step is not
 * newer than lastAcceptedStep (a replay). The caller must still record the step atomically.
 */
export function matchTotp(secret: string, code: string, lastAcceptedStep: number | null, now = Date.now()): number | null {
  if (!isWellFormedCode(code)) return null;
  const result = speakeasy.totp.verifyDelta({
    secret,
    encoding: 'base32',
    token: code,
    window: 1,
    step: STEP_SECONDS,
    time: Math.floor(now / 1000),
  });
  if (!result) return null;
  const step = currentStep(now) + result.delta;
  if (lastAcceptedStep !== null && step <= lastAcceptedStep) return null;
  return step;
}

/** The code for a secret at a time: used by tests and the CLI's self-check, never to verify. */
export function totpCode(secret: string, now = Date.now()): string {
  return speakeasy.totp({ secret, encoding: 'base32', step: STEP_SECONDS, time: Math.floor(now / 1000) });
}

export function otpauthUrl(secret: string, accountName: string, issuer: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(accountName)}`;
  // encodeURIComponent, not URLSearchParams: some authenticator apps show a '+' for a space literally.
  const params = { secret, issuer, algorithm: 'SHA1', digits: '6', period: String(STEP_SECONDS) };
  const query = Object.entries(params)
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join('&');
  return `otpauth://totp/${label}?${query}`;
}

/** The otpauth:// URL as the QR code image (a PNG data: URL) shown by the API and the setup page alike. */
export function qrCodeDataUrl(otpauthUrl: string): Promise<string> {
  return QRCode.toDataURL(otpauthUrl, { errorCorrectionLevel: 'M', margin: 2 });
}
