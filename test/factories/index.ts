// Fixtures built directly through the ORM (resellers, customers, licenses, users with 2FA enabled),
// and sign-in helpers that go through the real API.
import { randomBytes } from 'node:crypto';
import { LicenseKind, Role } from '../../src/common/enums';
import { hashPassword } from '../../src/modules/auth/password';
import { SecretBox } from '../../src/modules/auth/secrets';
import { generateTotpSecret, totpCode } from '../../src/modules/auth/totp';
import { Customer } from '../../src/modules/customers/customer.entity';
import { License } from '../../src/modules/licenses/license.entity';
import { generateLicenseKey } from '../../src/modules/licenses/license-key';
import { Reseller } from '../../src/modules/resellers/reseller.entity';
import { User } from '../../src/modules/users/user.entity';
import type { TestServer } from '../helpers/server';

export const PASSWORD = 'correct horse battery staple';
let passwordHash: Promise<string> | undefined;
const cachedHash = () => (passwordHash ??= hashPassword(PASSWORD));

const unique = () => randomBytes(4).toString('hex');

export async function makeReseller(
  s: TestServer,
  data: Partial<Pick<Reseller, 'name' | 'linkedToResellerPortal'>> = {},
): Promise<Reseller> {
  const em = s.app.services.orm.em.fork();
  const reseller = em.create(Reseller, {
    name: data.name ?? `Reseller ${unique()}`,
    linkedToResellerPortal: data.linkedToResellerPortal ?? false,
    createdAt: new Date(),
  });
  await em.persistAndFlush(reseller);
  return reseller;
}

export async function makeCustomer(
  s: TestServer,
  reseller: Reseller,
  data: Partial<Pick<Customer, 'name' | 'contactEmail'>> = {},
): Promise<Customer> {
  const em = s.app.services.orm.em.fork();
  const customer = em.create(Customer, {
    name: data.name ?? `Customer ${unique()}`,
    contactEmail: data.contactEmail ?? null,
    reseller: em.getReference(Reseller, reseller.id),
    createdAt: new Date(),
    updatedAt: new Date(),
  });
  await em.persistAndFlush(customer);
  return customer;
}

export async function makeLicense(
  s: TestServer,
  customer: Customer,
  data: Partial<Pick<License, 'kind' | 'seats' | 'validFrom' | 'validUntil' | 'revokedAt' | 'createdAt'>> = {},
): Promise<License> {
  const em = s.app.services.orm.em.fork();
  const now = Date.now();
  const license = em.create(License, {
    key: generateLicenseKey(),
    kind: data.kind ?? LicenseKind.MDM,
    seats: data.seats ?? 10,
    validFrom: data.validFrom ?? new Date(now - 86_400_000),
    validUntil: data.validUntil ?? new Date(now + 365 * 86_400_000),
    revokedAt: data.revokedAt ?? null,
    customer: em.getReference(Customer, customer.id),
    reseller: em.getReference(Reseller, customer.reseller.id),
    idempotencyOwnerId: null,
    idempotencyKey: null,
    createdAt: data.createdAt ?? new Date(),
    updatedAt: new Date(),
  });
  await em.persistAndFlush(license);
  return license;
}

export interface TestUser {
  user: User;
  email: string;
  password: string;
  /** Base32 TOTP secret; null when 2FA is not enabled. */
  secret: string | null;
}

export async function makeUser(
  s: TestServer,
  options: {
    role: Role;
    reseller?: Reseller | null;
    customer?: Customer | null;
    twoFactor?: boolean;
    password?: boolean;
    linkedToResellerPortal?: boolean;
    email?: string;
    /** User.locale (default en, like the column). */
    locale?: string;
  },
): Promise<TestUser> {
  const em = s.app.services.orm.em.fork();
  const email = options.email ?? `${options.role.toLowerCase()}-${unique()}@example.test`;
  const twoFactor = options.twoFactor ?? true;
  const secret = twoFactor ? generateTotpSecret() : null;
  const user = em.create(User, {
    email,
    name: `${options.role} ${unique()}`,
    role: options.role,
    reseller: options.reseller ? em.getReference(Reseller, options.reseller.id) : null,
    customer: options.customer ? em.getReference(Customer, options.customer.id) : null,
    passwordHash: options.password === false ? null : await cachedHash(),
    twoFactorEnabled: twoFactor,
    linkedToResellerPortal: options.linkedToResellerPortal ?? false,
    locale: options.locale ?? 'en',
    createdAt: new Date(),
    updatedAt: new Date(),
  });
  if (secret) user.totpSecretSealed = new SecretBox(s.config.secretKey).seal(secret, user.id);
  await em.persistAndFlush(user);
  return { user, email, password: PASSWORD, secret };
}

/**
 * A code for the user that the server has not seen yet: the current step if free, else the next one
 * (the server accepts one step either side). Tests of replay protection build their codes by hand.
 */
const usedSteps = new Map<string, number>();

/** A well-formed code that matches none of the steps around now (the server accepts one either side). */
export function wrongCode(secret: string): string {
  const now = Date.now();
  const near = new Set([-3, -2, -1, 0, 1, 2, 3].map((d) => totpCode(secret, now + d * 30_000)));
  for (let n = 0; ; n++) {
    const code = String((314159 + n * 7919) % 1_000_000).padStart(6, '0');
    if (!near.has(code)) return code;
  }
}

export function freshCode(u: TestUser): string {
  const step = Math.floor(Date.now() / 30000);
  const last = usedSteps.get(u.user.id) ?? -1;
  const next = Math.max(step, last + 1);
  if (next > step + 1) throw new Error('no fresh TOTP step left for this user: use another user');
  usedSteps.set(u.user.id, next);
  return totpCode(u.secret!, next * 30000);
}

/**
 * The current TOTP step, with at least `marginMs` left before it ends (else waits for the next step).
 * The server accepts one step either side of its own, and each accepted code of a user must be of a
 * newer step: a test that needs three accepted codes of one user within one step of the server uses
 * the steps base - 1, base and base + 1, which stay acceptable until the step ends.
 */
export async function settledStep(marginMs = 10_000): Promise<number> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < marginMs) await new Promise((r) => setTimeout(r, left + 100));
  return Math.floor(Date.now() / 30_000);
}

/** Password + TOTP through the API: an AUTHENTICATED session token. */
export async function signIn(s: TestServer, u: TestUser): Promise<string> {
  const res = await s.gql<{ login: { token: string; stage: string } }>(
    'mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage } }',
    { e: u.email, p: u.password, c: freshCode(u) },
  );
  if (res.data?.login.stage !== 'AUTHENTICATED') throw new Error(`sign-in failed: ${JSON.stringify(res.errors)}`);
  return res.data.login.token;
}

/** Password only: a limited session token (TOTP_REQUIRED or TWO_FACTOR_SETUP_REQUIRED). */
export async function passwordOnly(
  s: TestServer,
  u: TestUser,
): Promise<{ token: string; stage: string; twoFactorActivation: string | null }> {
  const res = await s.gql<{ login: { token: string; stage: string; twoFactorActivation: string | null } }>(
    'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token stage twoFactorActivation } }',
    { e: u.email, p: u.password },
  );
  if (!res.data) throw new Error(`login failed: ${JSON.stringify(res.errors)}`);
  return res.data.login;
}

/**
 * The reseller portal's credential: an API token of purpose RESELLER_PORTAL created by an admin through
 * the API (the only caller that may redeem reseller-portal activation tokens).
 */
export async function resellerPortalToken(s: TestServer): Promise<string> {
  const admin = await makeUser(s, { role: Role.ADMIN });
  const res = await s.gql<{ createApiToken: { token: string } }>(
    'mutation { createApiToken(name: "Reseller portal", purpose: RESELLER_PORTAL) { token } }',
    {},
    await signIn(s, admin),
  );
  if (!res.data) throw new Error(`createApiToken failed: ${JSON.stringify(res.errors)}`);
  return res.data.createApiToken.token;
}
