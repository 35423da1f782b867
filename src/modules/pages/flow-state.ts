// The state of one reset or activation flow between page requests: sealed with AES-256-GCM under a key
// derived from SECRET_KEY and kept in an httpOnly, SameSite=Lax cookie. Nothing is stored on the
// server, so a flow survives restarts and works behind several instances; the browser cannot read or
// change it. The account token moves from the link into this state on the first GET and is never put
// into a URL again. Each flow carries a random CSRF token that every form must echo (synchronizer token).
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { safeEqual } from '../auth/secrets';
import type { MessageKey } from './i18n';

/** How long a flow lives after its last step (the TOTP setup token lives one hour too). */
export const FLOW_TTL_MS = 60 * 60 * 1000;

export type FlowKind = 'reset' | 'activation' | 'request';

export type FlowStep =
  /** reset: the account token is known good; waiting for the new password. */
  | 'password'
  /** activation: the reseller-portal token is known good; waiting for "Start setup". */
  | 'start'
  /** both: the secret is shown; waiting for a code. */
  | 'totp'
  | 'done'
  /** the link (or the setup) can no longer be used: offer a new link. */
  | 'invalid'
  /** activation link of an account that already has 2FA. */
  | 'already-active'
  /** the "request a new link" form was sent. */
  | 'sent';

export interface FlashError {
  /** The form field the message belongs to (its id), or null for the whole form. */
  field: string | null;
  /** The message in the page's language; null: show `text` (the service's English message) as it is. */
  key: MessageKey | null;
  text?: string;
}

export interface FlowState {
  csrf: string;
  exp: number;
  kind: FlowKind;
  step: FlowStep;
  /** The account's e-mail address, shown as the account name. */
  account?: string;
  /** password/start: the single-use token from the link. */
  accountToken?: string;
  /** totp: what the enrolment returned. */
  setupToken?: string;
  secret?: string;
  otpauthUrl?: string;
  alreadyEnrolled?: boolean;
  /** totp: a fresh key for an account with 2FA enrolled (TOTP_SECRET_REDISPLAY=never). */
  replacesEnrolled?: boolean;
  /** done (reset): the password was changed. */
  passwordChanged?: boolean;
  /** invalid: why. */
  reason?: 'link' | 'setup-expired';
  /** An error to show once on the next GET (POST-redirect-GET). */
  flash?: FlashError;
}

const COOKIE = 'lp_flow';
/** On HTTPS the __Host- prefix pins the cookie to this exact host, path / and Secure. */
const SECURE_COOKIE = '__Host-lp_flow';

/**
 * Whether the page cookies of this request are Secure: always when PUBLIC_URL is https (the server
 * often speaks plain HTTP behind a TLS proxy and cannot tell), else when the request itself came over
 * HTTPS. With an http PUBLIC_URL on plain HTTP they are not, since a browser would drop a Secure cookie.
 */
export function secureCookies(publicUrl: string, req: Request): boolean {
  return publicUrl.startsWith('https:') || req.secure;
}
const VERSION = 'v1';

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

export function serializeCookie(name: string, value: string, options: { maxAgeSeconds: number; secure: boolean }): string {
  return [
    `${name}=${value}`,
    'Path=/',
    `Max-Age=${options.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

export class FlowStore {
  private readonly key: Buffer;

  constructor(
    secretKey: string,
    private readonly publicUrl: string,
    private readonly now: () => number = Date.now,
  ) {
    this.key = Buffer.from(hkdfSync('sha256', secretKey, 'license-portal', 'pages-flow-v1', 32));
  }

  /** Reader and writer decide alike, so the flow is read back under the name it was written. */
  private cookieName(req: Request): string {
    return secureCookies(this.publicUrl, req) ? SECURE_COOKIE : COOKIE;
  }

  seal(state: FlowState): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(VERSION));
    const body = Buffer.concat([cipher.update(JSON.stringify(state), 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** The state, or null when it is missing, tampered with, from another key or expired. */
  open(value: string | undefined): FlowState | null {
    if (!value || value.length > 3000 || !value.startsWith(`${VERSION}.`)) return null;
    try {
      const raw = Buffer.from(value.slice(VERSION.length + 1), 'base64url');
      if (raw.length < 29) return null;
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(VERSION));
      decipher.setAuthTag(raw.subarray(12, 28));
      const state = JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as FlowState;
      return typeof state.exp === 'number' && state.exp > this.now() && typeof state.csrf === 'string' ? state : null;
    } catch {
      return null;
    }
  }

  read(req: Request): FlowState | null {
    return this.open(parseCookies(req.headers.cookie).get(this.cookieName(req)));
  }

  /** A new flow with a fresh CSRF token. */
  create(kind: FlowKind, step: FlowStep, extra: Partial<FlowState> = {}): FlowState {
    return { ...extra, csrf: randomBytes(32).toString('base64url'), exp: 0, kind, step };
  }

  write(req: Request, res: Response, state: FlowState): void {
    const sealed = this.seal({ ...state, exp: this.now() + FLOW_TTL_MS });
    res.append(
      'Set-Cookie',
      serializeCookie(this.cookieName(req), sealed, { maxAgeSeconds: FLOW_TTL_MS / 1000, secure: secureCookies(this.publicUrl, req) }),
    );
  }

  /** The CSRF token of the form matches the flow's (constant time). */
  static csrfMatches(state: FlowState | null, submitted: unknown): state is FlowState {
    return state !== null && typeof submitted === 'string' && submitted.length > 0 && safeEqual(submitted, state.csrf);
  }
}
