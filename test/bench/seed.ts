// Seeds a fresh database for the benchmark through the ORM: batched em.insertMany inside transactions
// of ~5,000 rows, createdAt spread over time so that keyset pages look like real ones, and users that
// already have 2FA enabled (one password hash computed once, TOTP secrets sealed with the config's key).
import { randomBytes, randomInt } from 'node:crypto';
import { LicenseKind, Role } from '../../src/common/enums';
import { newId } from '../../src/common/ids';
import type { Orm } from '../../src/db/orm';
import { hashPassword } from '../../src/modules/auth/password';
import { SecretBox } from '../../src/modules/auth/secrets';
import { generateTotpSecret } from '../../src/modules/auth/totp';
import { Customer } from '../../src/modules/customers/customer.entity';
import { License } from '../../src/modules/licenses/license.entity';
import { checkCharacter, KEY_ALPHABET } from '../../src/modules/licenses/license-key';
import { Reseller } from '../../src/modules/resellers/reseller.entity';
import { User } from '../../src/modules/users/user.entity';
import type { Scale } from './options';

export const BENCH_PASSWORD = 'bench horse battery staple';

/** Rows per transaction, and rows per INSERT statement (kept under SQLite's 32,766 bound variables). */
const TRANSACTION_ROWS = 5_000;
const STATEMENT_ROWS = 1_000;

const DAY = 86_400_000;
const YEAR = 365 * DAY;

export interface SeededUser {
  id: string;
  email: string;
  password: string;
  /** Base32 TOTP secret. */
  secret: string;
  role: Role;
  resellerId: string | null;
}

export interface SeedResult {
  admin: SeededUser;
  resellerUsers: SeededUser[];
  /** A user that only the login loops use, so their sessions and counters touch nobody else. */
  loginUser: SeededUser;
  /** Licenses of the reseller whose user is resellerUsers[0]. */
  firstResellerLicenses: number;
  counts: { resellers: number; customers: number; licenses: number; users: number };
  ms: { passwordHash: number; resellers: number; customers: number; licenses: number; users: number; total: number };
}

/** A well-formed license key (same alphabet and check character as generateLicenseKey), from one randomBytes call. */
function fastLicenseKey(): string {
  const bytes = randomBytes(24);
  let payload = '';
  // 256 is a multiple of 32: no modulo bias.
  for (const byte of bytes) payload += KEY_ALPHABET[byte % KEY_ALPHABET.length];
  const chars = payload + checkCharacter(payload);
  return chars.match(/.{5}/g)!.join('-');
}

/** Spread `count` instants evenly over [from, to) with up to one step of jitter each, oldest first. */
function spread(from: number, to: number, index: number, count: number): Date {
  const step = (to - from) / count;
  return new Date(Math.floor(from + index * step + Math.random() * step));
}

async function insertInBatches<T extends object>(
  orm: Orm,
  entity: { new (): T },
  total: number,
  row: (index: number) => Record<string, unknown>,
): Promise<void> {
  for (let start = 0; start < total; start += TRANSACTION_ROWS) {
    const end = Math.min(total, start + TRANSACTION_ROWS);
    await orm.em.fork().transactional(async (tx) => {
      for (let from = start; from < end; from += STATEMENT_ROWS) {
        const rows: Record<string, unknown>[] = [];
        for (let i = from; i < Math.min(end, from + STATEMENT_ROWS); i++) rows.push(row(i));
        await tx.insertMany(entity, rows as never[]);
      }
    });
  }
}

export async function seed(
  orm: Orm,
  engine: 'sqlite' | 'postgresql',
  scale: Scale,
  secretKey: string,
  log: (line: string) => void = () => undefined,
): Promise<SeedResult> {
  const started = performance.now();
  const lap = (() => {
    let last = started;
    return () => {
      const now = performance.now();
      const ms = now - last;
      last = now;
      return Math.round(ms);
    };
  })();
  const now = Date.now();
  const box = new SecretBox(secretKey);

  const passwordHash = await hashPassword(BENCH_PASSWORD);
  const msHash = lap();

  // Resellers: created 5 to 4 years ago.
  const resellerIds: string[] = [];
  await insertInBatches(orm, Reseller, scale.resellers, (i) => {
    const id = newId('Reseller');
    resellerIds.push(id);
    return {
      id,
      name: `Reseller ${String(i + 1).padStart(4, '0')}`,
      linkedToResellerPortal: i % 3 === 0,
      createdAt: spread(now - 5 * YEAR, now - 4 * YEAR, i, scale.resellers),
    };
  });
  const msResellers = lap();
  log(`  resellers: ${scale.resellers} in ${msResellers} ms`);

  // Customers: round-robin over the resellers, created 4 to 3 years ago.
  const customerIds: string[] = [];
  const customerReseller: string[] = [];
  await insertInBatches(orm, Customer, scale.customers, (i) => {
    const id = newId('Customer');
    const reseller = resellerIds[i % resellerIds.length]!;
    customerIds.push(id);
    customerReseller.push(reseller);
    const createdAt = spread(now - 4 * YEAR, now - 3 * YEAR, i, scale.customers);
    return {
      id,
      name: `Customer ${String(i + 1).padStart(6, '0')}`,
      contactEmail: `it-${i + 1}@customer.bench.test`,
      reseller: reseller,
      createdAt,
      updatedAt: createdAt,
    };
  });
  const msCustomers = lap();
  log(`  customers: ${scale.customers} in ${msCustomers} ms`);

  // Licenses: each of a random customer (and so of its reseller), created over the last 3 years;
  // a mix of active, expired, pending and revoked ones, of both kinds.
  let firstResellerLicenses = 0;
  await insertInBatches(orm, License, scale.licenses, (i) => {
    const c = randomInt(customerIds.length);
    const reseller = customerReseller[c]!;
    if (reseller === resellerIds[0]) firstResellerLicenses++;
    const createdAt = spread(now - 3 * YEAR, now - 60_000, i, scale.licenses);
    const roll = randomInt(100);
    const validFrom = roll < 3 ? new Date(createdAt.getTime() + 30 * DAY) : createdAt;
    const validUntil = new Date(validFrom.getTime() + (1 + randomInt(3)) * YEAR);
    const revokedAt = roll >= 97 ? new Date(Math.min(now - 1000, validFrom.getTime() + randomInt(1, 180) * DAY)) : null;
    return {
      id: newId('License'),
      key: fastLicenseKey(),
      kind: roll % 2 === 0 ? LicenseKind.MDM : LicenseKind.MOBILE_SECURITY,
      seats: 1 + randomInt(500),
      validFrom,
      validUntil,
      revokedAt,
      customer: customerIds[c]!,
      reseller,
      idempotencyOwnerId: null,
      idempotencyKey: null,
      createdAt,
      updatedAt: createdAt,
    };
  });
  const msLicenses = lap();
  log(`  licenses: ${scale.licenses} in ${msLicenses} ms`);

  // Users: one RESELLER user per reseller, one ADMIN, one ADMIN for the login loops. 2FA enabled.
  const users: SeededUser[] = [];
  const user = (role: Role, email: string, resellerId: string | null): SeededUser => {
    const u = { id: newId('User'), email, password: BENCH_PASSWORD, secret: generateTotpSecret(), role, resellerId };
    users.push(u);
    return u;
  };
  const admin = user(Role.ADMIN, 'admin@bench.test', null);
  const loginUser = user(Role.ADMIN, 'login-loop@bench.test', null);
  const resellerUsers = resellerIds.map((id, i) => user(Role.RESELLER, `reseller-${i + 1}@bench.test`, id));
  await insertInBatches(orm, User, users.length, (i) => {
    const u = users[i]!;
    const createdAt = new Date(now - 3 * YEAR + i * 1000);
    return {
      id: u.id,
      email: u.email,
      name: u.role === Role.ADMIN ? `Admin ${i + 1}` : `Reseller user ${i + 1}`,
      role: u.role,
      reseller: u.resellerId,
      customer: null,
      passwordHash,
      totpSecretSealed: box.seal(u.secret, u.id),
      twoFactorEnabled: true,
      totpLastStep: null,
      linkedToResellerPortal: false,
      createdAt,
      updatedAt: createdAt,
    };
  });
  const msUsers = lap();

  if (engine === 'postgresql') {
    // The steady state of a live database: autovacuum analyses freshly loaded tables and, since
    // PostgreSQL 13, vacuums them after inserts too, which sets the visibility map that index-only
    // scans (the count of a reseller's licenses) need. Measure that, not a cold load.
    await orm.em.getConnection().execute('vacuum analyze');
  }

  return {
    admin,
    resellerUsers,
    loginUser,
    firstResellerLicenses,
    counts: { resellers: scale.resellers, customers: scale.customers, licenses: scale.licenses, users: users.length },
    ms: {
      passwordHash: msHash,
      resellers: msResellers,
      customers: msCustomers,
      licenses: msLicenses,
      users: msUsers,
      total: Math.round(performance.now() - started),
    },
  };
}

/** Customers and licenses per customer of the dense reseller: enough to fill the dearest allowed request. */
export const DENSE = { customers: 100, licensesPerCustomer: 100 };

/**
 * One more reseller, with DENSE.customers customers of DENSE.licensesPerCustomer licenses each and a
 * RESELLER user: the data on which the dearest request the cost limit allows returns every row it may.
 * Seeded after the other figures were taken, so they are not affected.
 */
export async function seedDenseReseller(orm: Orm, engine: 'sqlite' | 'postgresql', secretKey: string): Promise<SeededUser> {
  const now = Date.now();
  const resellerId = newId('Reseller');
  await insertInBatches(orm, Reseller, 1, () => ({
    id: resellerId,
    name: 'Dense reseller',
    linkedToResellerPortal: false,
    createdAt: new Date(now - 5 * YEAR),
  }));
  const customerIds: string[] = [];
  await insertInBatches(orm, Customer, DENSE.customers, (i) => {
    const id = newId('Customer');
    customerIds.push(id);
    const createdAt = spread(now - 4 * YEAR, now - 3 * YEAR, i, DENSE.customers);
    return {
      id,
      name: `Dense customer ${String(i + 1).padStart(3, '0')}`,
      contactEmail: null,
      reseller: resellerId,
      createdAt,
      updatedAt: createdAt,
    };
  });
  const total = DENSE.customers * DENSE.licensesPerCustomer;
  await insertInBatches(orm, License, total, (i) => {
    const createdAt = spread(now - 3 * YEAR, now - 60_000, i, total);
    const validUntil = new Date(createdAt.getTime() + (1 + randomInt(3)) * YEAR);
    return {
      id: newId('License'),
      key: fastLicenseKey(),
      kind: i % 2 === 0 ? LicenseKind.MDM : LicenseKind.MOBILE_SECURITY,
      seats: 1 + randomInt(500),
      validFrom: createdAt,
      validUntil,
      revokedAt: null,
      customer: customerIds[i % DENSE.customers]!,
      reseller: resellerId,
      idempotencyOwnerId: null,
      idempotencyKey: null,
      createdAt,
      updatedAt: createdAt,
    };
  });
  const user: SeededUser = {
    id: newId('User'),
    email: 'dense-reseller@bench.test',
    password: BENCH_PASSWORD,
    secret: generateTotpSecret(),
    role: Role.RESELLER,
    resellerId,
  };
  const passwordHash = await hashPassword(BENCH_PASSWORD);
  await insertInBatches(orm, User, 1, () => ({
    id: user.id,
    email: user.email,
    name: 'Dense reseller user',
    role: user.role,
    reseller: resellerId,
    customer: null,
    passwordHash,
    totpSecretSealed: new SecretBox(secretKey).seal(user.secret, user.id),
    twoFactorEnabled: true,
    totpLastStep: null,
    linkedToResellerPortal: false,
    createdAt: new Date(now - YEAR),
    updatedAt: new Date(now - YEAR),
  }));
  // As after the main seed: measure a database whose statistics know the new rows.
  if (engine === 'postgresql') await orm.em.getConnection().execute('vacuum analyze');
  return user;
}
