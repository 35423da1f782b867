// Licenses: created by admins and resellers for visible customers; status derived from the validity
// window and revocation; idempotent creation per caller, safe under concurrent retries.
import { UniqueConstraintViolationException, type EntityManager, type FilterQuery } from '@mikro-orm/core';
import { LicenseKind, LicenseStatus } from '../../common/enums';
import { decodeCursor, keysetSql, pageOf, pageSize, paginateGroups, type Page, type PageArgs } from '../../common/pagination';
import type { Reader } from '../../db/reader';
import { and, or, readBoolean, readTime, readTimeOrNull, sql, timeParam, type Sql } from '../../db/sql';
import { badInput, notFound } from '../../errors';
import { checkDate, checkIdempotencyKey, checkSeats, checkWindow } from './license-rules';
import { visibleCustomers, visibleLicenses, visibleLicensesSql, within } from '../access/visibility';
import { audit, AuditAction, target, type AuditBy } from '../audit/audit.service';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { Customer } from '../customers/customer.entity';
import { Reseller } from '../resellers/reseller.entity';
import { generateLicenseKey } from './license-key';
import { statusCondition, statusSql } from './license-status';
import { License } from './license.entity';

export interface LicenseFilterData {
  status?: LicenseStatus[] | null;
  kind?: LicenseKind | null;
  customerId?: string | null;
  expiresBefore?: Date | null;
}

/** One row of the license page statement: the license, its customer (c_) and its reseller (r_). */
interface LicensePageRow {
  id: string;
  key: string;
  kind: LicenseKind;
  seats: number;
  valid_from: Date | number;
  valid_until: Date | number;
  revoked_at: Date | number | null;
  created_at: Date | number;
  c_id: string;
  c_name: string;
  c_contact_email: string | null;
  c_reseller_id: string;
  c_created_at: Date | number;
  r_id: string;
  r_name: string;
  r_linked: boolean | number;
  r_created_at: Date | number;
  /** With the count: the number of rows matching the filter, whatever the cursor. */
  total_count?: number | string;
}

// The left joins keep license the driving table (its keyset index decides the order); the foreign keys
// are not null, so they match exactly what inner joins would.
const PAGE_COLUMNS =
  'select l.id, l."key", l.kind, l.seats, l.valid_from, l.valid_until, l.revoked_at, l.created_at,' +
  ' c.id as c_id, c.name as c_name, c.contact_email as c_contact_email, c.reseller_id as c_reseller_id, c.created_at as c_created_at,' +
  ' r.id as r_id, r.name as r_name, r.linked_to_reseller_portal as r_linked, r.created_at as r_created_at';
const PAGE_FROM = ' from license l left join customer c on c.id = l.customer_id left join reseller r on r.id = l.reseller_id';

/**
 * A page row as the object the License, Customer and Reseller field resolvers read (a Parent<T>):
 * the customer's reseller stays an id, which Customer.reseller loads when it is asked for.
 */
function licenseFromRow(row: LicensePageRow): License {
  return {
    id: row.id,
    key: row.key,
    kind: row.kind,
    seats: row.seats,
    validFrom: readTime(row.valid_from),
    validUntil: readTime(row.valid_until),
    revokedAt: readTimeOrNull(row.revoked_at),
    createdAt: readTime(row.created_at),
    customer: { id: row.c_id, name: row.c_name, contactEmail: row.c_contact_email, reseller: row.c_reseller_id, createdAt: readTime(row.c_created_at) },
    reseller: { id: row.r_id, name: row.r_name, linkedToResellerPortal: readBoolean(row.r_linked), createdAt: readTime(row.r_created_at) },
  } as unknown as License;
}

/** What a new license is made of, checked by the caller (license-rules.ts). */
export interface NewLicense {
  kind: LicenseKind;
  seats: number;
  validFrom: Date;
  validUntil: Date;
  customer: Pick<Customer, 'id' | 'reseller'>;
  idempotencyOwnerId: string | null;
  idempotencyKey: string | null;
}

/** MAX_KEY_ATTEMPTS fresh keys at most when a key collides (120 random bits: practically never). */
export const MAX_KEY_ATTEMPTS = 4;

/**
 * A new license with a fresh key, of the customer and the customer's reseller, and its LICENSE_CREATED
 * audit event, both persisted in `tx` (the caller's transaction). The one way licenses are made: by the
 * API and by the CSV import.
 */
export async function persistNewLicense(tx: EntityManager, data: NewLicense, by: AuditBy): Promise<License> {
  const now = new Date();
  const license = tx.create(License, {
    key: generateLicenseKey(),
    kind: data.kind,
    seats: data.seats,
    validFrom: data.validFrom,
    validUntil: data.validUntil,
    customer: tx.getReference(Customer, data.customer.id),
    reseller: tx.getReference(Reseller, data.customer.reseller.id),
    idempotencyOwnerId: data.idempotencyOwnerId,
    idempotencyKey: data.idempotencyKey,
    revokedAt: null,
    createdAt: now,
    updatedAt: now,
  });
  await audit(tx, AuditAction.LICENSE_CREATED, target.license({ id: license.id, customer: data.customer, reseller: data.customer.reseller }), by);
  return license;
}

export interface CreateLicenseData {
  customerId: string;
  kind: LicenseKind;
  seats: number;
  validFrom?: Date | null;
  validUntil: Date;
  idempotencyKey?: string | null;
}

export interface UpdateLicenseData {
  seats?: number | null;
  validUntil?: Date | null;
}

export class LicenseService {
  constructor(
    private readonly reader: Reader,
    private readonly now: () => Date = () => new Date(),
  ) {}

  filterCondition(p: AuthenticatedPrincipal, filter: LicenseFilterData | null | undefined, now = this.now()): FilterQuery<License> {
    const parts: FilterQuery<License>[] = [];
    if (filter?.status?.length) {
      parts.push({ $or: [...new Set(filter.status)].map((s) => statusCondition(s, now)) });
    }
    if (filter?.kind) parts.push({ kind: filter.kind });
    if (filter?.customerId) parts.push({ customer: filter.customerId });
    if (filter?.expiresBefore) parts.push({ validUntil: { $lt: checkDate(filter.expiresBefore, 'expiresBefore') } });
    return within(visibleLicenses(p), ...parts);
  }

  /** filterCondition as SQL over the alias `l`, for the hand-written page statement of `list`. */
  private filterSql(em: EntityManager, p: AuthenticatedPrincipal, filter: LicenseFilterData | null | undefined): Sql {
    const now = timeParam(em, this.now());
    const parts = [visibleLicensesSql(p)];
    // In a fixed order: the same statuses in any order are one statement text (one prepared statement).
    if (filter?.status?.length) parts.push(or([...new Set(filter.status)].sort().map((s) => statusSql(s, now))));
    if (filter?.kind) parts.push(sql('l.kind = ?', filter.kind));
    if (filter?.customerId) parts.push(sql('l.customer_id = ?', filter.customerId));
    if (filter?.expiresBefore) parts.push(sql('l.valid_until < ?', timeParam(em, checkDate(filter.expiresBefore, 'expiresBefore'))));
    return and(parts);
  }

  /**
   * The reseller portal's hot path: one statement for the page with its customer and reseller joined
   * in and, when `options.count` says the total is wanted, the count as a scalar subquery of the same
   * statement (evaluated once). Plain rows, no entities: the conditions of filterCondition written as
   * SQL (see src/db/sql.ts for why). The count needs a statement of its own only when it was not asked
   * for up front, or when a page after a cursor is empty.
   */
  async list(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    args: PageArgs & { filter?: LicenseFilterData | null },
    options: { count?: boolean } = {},
  ): Promise<Page<License>> {
    const size = pageSize(args.first);
    const where = this.filterSql(em, p, args.filter);
    const pageWhere = args.after ? and([where, keysetSql(em, 'l', 'createdAt', decodeCursor(args.after))]) : where;
    const countSql = `select count(*) as n from license l where ${where.text}`;
    const rows = await this.reader.rows<LicensePageRow>(em, {
      text:
        PAGE_COLUMNS +
        (options.count ? `, (${countSql}) as total_count` : '') +
        `${PAGE_FROM} where ${pageWhere.text} order by l.created_at desc, l.id desc limit ?`,
      params: [...(options.count ? where.params : []), ...pageWhere.params, size + 1],
    });
    const first = rows[0];
    const count = async () => {
      if (first?.total_count !== undefined) return Number(first.total_count);
      // No cursor and no rows: nothing matches the filter.
      if (!args.after && !first) return 0;
      const [row] = await this.reader.rows<{ n: number | string }>(em, { text: countSql, params: where.params });
      return Number(row!.n);
    };
    return pageOf(rows.map(licenseFromRow), size, count);
  }

  /** The nested Customer.licenses connection of many customers at once (no statement per customer). */
  listForCustomers(em: EntityManager, p: AuthenticatedPrincipal, customerIds: readonly string[], args: PageArgs & { filter?: LicenseFilterData | null }) {
    const now = this.now();
    return paginateGroups(em, License, () => this.filterCondition(p, args.filter, now), 'customer', customerIds, args);
  }

  findVisible(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<License | null> {
    return em.findOne(License, within(visibleLicenses(p), { id }));
  }

  private findByIdempotencyKey(em: EntityManager, p: AuthenticatedPrincipal, key: string): Promise<License | null> {
    return em.findOne(License, within(visibleLicenses(p), { idempotencyOwnerId: p.userId, idempotencyKey: key }));
  }

  /**
   * Creates a license, or returns the one this caller already created with the same idempotencyKey.
   * The unique (owner, key) index decides between concurrent retries: the losers read the winner's row.
   */
  async create(em: EntityManager, p: AuthenticatedPrincipal, input: CreateLicenseData, clientAddress: string | null): Promise<License> {
    const idempotencyKey = checkIdempotencyKey(input.idempotencyKey);
    if (idempotencyKey !== null) {
      const existing = await this.findByIdempotencyKey(em, p, idempotencyKey);
      if (existing) return existing;
    }
    const seats = checkSeats(input.seats);
    const { validFrom, validUntil } = checkWindow(input.validFrom, input.validUntil, this.now());
    const customer = await em.findOne(Customer, within(visibleCustomers(p), { id: input.customerId }));
    if (!customer) throw notFound('customer');

    for (let attempt = 0; ; attempt++) {
      try {
        // A fresh EntityManager per attempt: a failed insert leaves nothing behind in the request's one.
        return await em
          .fork()
          .transactional(async (tx) =>
            persistNewLicense(
              tx,
              { kind: input.kind, seats, validFrom, validUntil, customer, idempotencyOwnerId: idempotencyKey !== null ? p.userId : null, idempotencyKey },
              { actorId: p.userId, clientAddress },
            ),
          );
      } catch (error) {
        if (!(error instanceof UniqueConstraintViolationException)) throw error;
        if (idempotencyKey !== null) {
          const winner = await this.findByIdempotencyKey(em.fork(), p, idempotencyKey);
          if (winner) return winner;
        }
        // A key collision: try a fresh key.
        if (attempt + 1 >= MAX_KEY_ATTEMPTS) throw error;
      }
    }
  }

  async update(em: EntityManager, p: AuthenticatedPrincipal, id: string, input: UpdateLicenseData, clientAddress: string | null): Promise<License> {
    const license = await this.findVisible(em, p, id);
    if (!license) throw notFound('license');
    if (license.revokedAt) throw badInput('A revoked license cannot be changed.', 'id');
    const seats = input.seats !== undefined && input.seats !== null ? checkSeats(input.seats) : license.seats;
    const { validUntil } = checkWindow(license.validFrom, input.validUntil ?? license.validUntil, this.now());
    await em.transactional(async (tx) => {
      license.seats = seats;
      license.validUntil = validUntil;
      await audit(tx, AuditAction.LICENSE_UPDATED, target.license(license), { actorId: p.userId, clientAddress });
    });
    return license;
  }

  /** Revocation is final; revoking again changes nothing and returns the license as it is. */
  async revoke(em: EntityManager, p: AuthenticatedPrincipal, id: string, clientAddress: string | null): Promise<License> {
    const license = await this.findVisible(em, p, id);
    if (!license) throw notFound('license');
    if (license.revokedAt) return license;
    await em.transactional(async (tx) => {
      license.revokedAt = this.now();
      await audit(tx, AuditAction.LICENSE_REVOKED, target.license(license), { actorId: p.userId, clientAddress });
    });
    return license;
  }
}
