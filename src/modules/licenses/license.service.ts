// Licenses: created by admins and resellers for visible customers; status derived from the validity
// window and revocation; idempotent creation per caller, safe under concurrent retries.
import { UniqueConstraintViolationException, type EntityManager, type FilterQuery } from '@mikro-orm/core';
import { LicenseKind, LicenseStatus } from '../../common/enums';
import { cursorSql, keysetPage, pageRequest, readOrder, type Page, type PageArgs } from '../../common/pagination';
import type { Reader } from '../../db/reader';
import { byGroup, groupedPages, groupPagesSql } from '../../db/group-pages';
import { and, sql } from '../../db/sql';
import { badInput, ErrorCode, isAppError, notFound, type AppError } from '../../errors';
import { requiredReason } from '../../common/validation';
import { checkDate, checkIdempotencyKey, checkKind, checkSeats, checkWindow } from './license-rules';
import { allOf, always, anyOf, columnOf, eq, lt, metadataOf, quote, toFilter, toSql, within, type Condition } from '../access/condition';
import { scopeCondition, scopeOf, scopeSql, scopeWhere } from '../access/scope';
import { audit, AuditAction, changesOf, target, type AuditBy, type Changes } from '../audit/audit.service';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { Customer } from '../customers/customer.entity';
import { assertCustomerOpen, customerProblems } from '../resellers/reseller-suspension';
import { insertNewLicenses, newLicenseRow, type CreatedLicense, type NewLicense } from './license-writes';
import { inJsonList, type InsertRow } from '../../db/writes';

export type { NewLicense } from './license-writes';
import { licenseFromRow, nestedLicenseFromRow, pageStatement, type NestedLicense, type PageLicense } from './license-page';
import { statusCondition } from './license-status';
import { License } from './license.entity';

export interface LicenseFilterData {
  status?: LicenseStatus[] | null;
  kind?: LicenseKind | null;
  customerId?: string | null;
  expiresBefore?: Date | null;
}

/** A customer as createMany needs it: who it is and whose. */
type VisibleCustomer = { id: string; reseller: { id: string } };

/** MAX_KEY_ATTEMPTS fresh keys at most when a key collides (120 random bits: practically never). */
export const MAX_KEY_ATTEMPTS = 4;

/** How often a creation follows its customer to another reseller when transfers keep racing it. */
const MAX_CUSTOMER_MOVES = 3;

/**
 * A new license with a fresh key, of the customer and the customer's reseller, and its LICENSE_CREATED
 * audit event (and webhook message), persisted in `tx` (the caller's transaction) with its flush: createLicense's
 * one license. Batches (createLicenses, the CSV import) insert rows of the same newLicenseRow with
 * insertNewLicenses instead. Under a suspended reseller: FORBIDDEN (RESELLER_SUSPENDED).
 */
export async function persistNewLicense(
  tx: EntityManager,
  data: NewLicense,
  by: AuditBy,
  options: { customerLocked?: boolean } = {},
): Promise<License> {
  // A batch checks (and locks) each of its customers once, before its rows (createMany, the CSV import).
  if (!options.customerLocked) await assertCustomerOpen(tx, data.customer.id, data.customer.reseller.id);
  const license = tx.create(License, newLicenseRow(data));
  await audit(tx, AuditAction.LICENSE_CREATED, target.license(license), by);
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
  kind?: LicenseKind | null;
}

export class LicenseService {
  constructor(
    private readonly reader: Reader,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * What the caller sees of the licenses matching the filter: one declaration, rendered for em.find and
   * em.find (filterCondition) and for the hand-written page (toSql in `list`).
   */
  condition(p: AuthenticatedPrincipal, filter: LicenseFilterData | null | undefined, now: Date): Condition<License> {
    return allOf<License>(
      scopeCondition('License', scopeOf(p)),
      // In a fixed order: the same statuses in any order are one statement text (one prepared statement).
      filter?.status?.length ? anyOf(...[...new Set(filter.status)].sort().map((s) => statusCondition(s, now))) : always(),
      filter?.kind ? eq('kind', filter.kind) : always(),
      filter?.customerId ? eq('customer', filter.customerId) : always(),
      filter?.expiresBefore ? lt('validUntil', checkDate(filter.expiresBefore, 'expiresBefore')) : always(),
    );
  }

  filterCondition(p: AuthenticatedPrincipal, filter: LicenseFilterData | null | undefined, now = this.now()): FilterQuery<License> {
    return toFilter(this.condition(p, filter, now));
  }

  /**
   * The reseller portal's hot path: one statement for the page with its customer and reseller joined
   * in and, when `options.count` says the total is wanted, the count as a scalar subquery of the same
   * statement (evaluated once). Plain rows, no entities (see src/db/sql.ts for why): `condition` rendered
   * as SQL, the columns of license-page.ts. The count needs a statement of its own only when it was not asked
   * for up front, or when a page after or before a cursor is empty. A backward page (last/before) reads
   * the rows before its cursor oldest first and reverses them (pagination.ts).
   */
  async list(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    args: PageArgs & { filter?: LicenseFilterData | null },
    options: { count?: boolean } = {},
  ): Promise<Page<PageLicense>> {
    const request = pageRequest(args);
    const where = toSql(em, 'License', 'l', this.condition(p, args.filter, this.now()));
    const pageWhere = and([where, ...cursorSql(em, 'l', 'createdAt', request)]);
    const direction = readOrder(request);
    const page = pageStatement(em);
    const countSql = `select count(*) as n from ${page.table} l where ${where.text}`;
    const rows = await this.reader.rows<Record<string, unknown> & { total_count?: number | string }>(
      em,
      {
        text:
          page.columns +
          (options.count ? `, (${countSql}) as total_count` : '') +
          `${page.from} where ${pageWhere.text} order by l.created_at ${direction}, l.id ${direction} limit ?`,
        params: [...(options.count ? where.params : []), ...pageWhere.params, request.size + 1],
      },
      { columns: options.count ? [...page.names, 'total_count'] : page.names, orderBy: `"l_createdAt" ${direction}, "l_id" ${direction}` },
    );
    return keysetPage(rows, request, licenseFromRow, { reader: this.reader, em, statement: { text: countSql, params: where.params } });
  }

  /**
   * The nested Customer.licenses connection of many customers at once, through the same engine as the
   * root page (`condition` as SQL, the license's own columns of license-page.ts, plain rows): one statement for the
   * pages of all customers (groupPagesSql: per customer an index range that stops at the page size; ranked
   * from the cursor's side: newest first forward, oldest first backward), skipped when no row is selected
   * (`options.rows` false: only totalCount), and, when a totalCount is selected, one statement counting each.
   */
  async listForCustomers(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    customerIds: readonly string[],
    args: PageArgs & { filter?: LicenseFilterData | null },
    options: { rows?: boolean } = {},
  ): Promise<Map<string, Page<NestedLicense>>> {
    const request = pageRequest(args);
    const page = pageStatement(em);
    const ids = [...new Set(customerIds)];
    if (ids.length === 0) return new Map();
    const now = this.now();
    const condition = this.condition(p, args.filter, now);
    let groups = new Map<string, NestedLicense[]>();
    if (options.rows !== false) {
      const query = groupPagesSql(
        em,
        {
          columns: sql(page.nestedColumns),
          table: quote(page.table),
          alias: 'l',
          joins: '',
          groupColumn: page.customerColumn,
          where: (alias) => and([toSql(em, 'License', alias, condition), ...cursorSql(em, alias, 'createdAt', request)]),
          direction: readOrder(request),
          limit: request.size + 1,
        },
        ids,
      );
      const rows = await this.reader.rows<Record<string, unknown>>(em, query, { columns: page.nestedNames });
      groups = byGroup(rows.map(nestedLicenseFromRow), (row) => row.customer);
    }
    return groupedPages(
      this.reader,
      em,
      customerIds,
      groups,
      request,
      { table: quote(page.table), alias: 'l', groupColumn: page.customerColumn, where: (alias) => toSql(em, 'License', alias, condition) },
      ids,
    );
  }

  findVisible(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<License | null> {
    return em.findOne(License, scopeWhere('License', p, { id }));
  }

  /**
   * The licenses an idempotency key may name for this caller: its own (it created them with a key) that it
   * still sees. One definition for create (one key, through the ORM) and createMany (many keys, as SQL).
   */
  private ownKeyed(p: AuthenticatedPrincipal): Condition<License> {
    return allOf<License>(scopeCondition('License', scopeOf(p)), eq('idempotencyOwnerId', p.userId));
  }

  private findByIdempotencyKey(em: EntityManager, p: AuthenticatedPrincipal, key: string): Promise<License | null> {
    return em.findOne(License, within(toFilter(this.ownKeyed(p)), { idempotencyKey: key }));
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
    const found = await em.findOne(Customer, scopeWhere('Customer', p, { id: input.customerId }));
    if (!found) throw notFound('customer');
    let customer: Pick<Customer, 'id' | 'reseller'> = found;

    for (let attempt = 0, moves = 0; ;) {
      try {
        // A fresh EntityManager per attempt: a failed insert leaves nothing behind in the request's one.
        return await em.fork().transactional(async (tx) =>
          persistNewLicense(
            tx,
            {
              kind: input.kind,
              seats,
              validFrom,
              validUntil,
              customer,
              idempotencyOwnerId: idempotencyKey !== null ? p.userId : null,
              idempotencyKey,
            },
            { actorId: p.userId, clientAddress },
          ),
        );
      } catch (error) {
        if (isAppError(error) && error.code === ErrorCode.NOT_FOUND && moves < MAX_CUSTOMER_MOVES) {
          // The customer left the reseller read above (a concurrent transfer committed in between). NOT_FOUND
          // only if the caller can no longer see it (FLOWS.md section 2); otherwise create it under its
          // customer's reseller now. A fresh EntityManager: the request's one holds the customer as first read.
          const current = await em.fork().findOne(Customer, scopeWhere('Customer', p, { id: input.customerId }));
          if (!current) throw error;
          customer = current;
          moves++;
          continue;
        }
        if (!(error instanceof UniqueConstraintViolationException)) throw error;
        if (idempotencyKey !== null) {
          const winner = await this.findByIdempotencyKey(em.fork(), p, idempotencyKey);
          if (winner) return winner;
        }
        // A key collision: try a fresh key.
        if (++attempt >= MAX_KEY_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * createLicenses: every row authorized, validated and idempotent exactly like `create`, with the same
   * answer row for row, but as set operations: one statement for the caller's earlier idempotency keys,
   * one for the visible customers, one check (and lock) for all of their resellers, and one transaction that
   * inserts the licenses, their audit events and their webhook messages as one multi-row insert per table. Anything unusual on the way
   * (a concurrent retry of the same key, a key collision, a customer moved or suspended meanwhile) sends
   * the rows still pending through `create`, one by one, which knows how to settle each of them.
   */
  async createMany(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    inputs: CreateLicenseData[],
    clientAddress: string | null,
  ): Promise<(License | CreatedLicense | NestedLicense | AppError)[]> {
    const results: (License | CreatedLicense | NestedLicense | AppError | undefined)[] = new Array(inputs.length).fill(undefined);
    const settle = (i: number, work: () => unknown) => {
      try {
        return work();
      } catch (error) {
        if (!isAppError(error)) throw error;
        results[i] = error;
        return undefined;
      }
    };
    // 1. Idempotency keys (checked first, as in create: a known key answers with its license).
    const keys = inputs.map((input, i) => settle(i, () => checkIdempotencyKey(input.idempotencyKey)) as string | null | undefined);
    const wanted = [...new Set(keys.filter((key): key is string => typeof key === 'string'))];
    const known = wanted.length > 0 ? await this.byIdempotencyKeys(em, p, wanted) : new Map<string, NestedLicense>();
    // 2. The fields, then the customers the caller sees.
    const now = this.now();
    const checked = inputs.map((input, i) => {
      if (results[i]) return undefined;
      const key = keys[i] ?? null;
      if (key !== null && known.has(key)) {
        results[i] = known.get(key)!;
        return undefined;
      }
      return settle(i, () => ({ seats: checkSeats(input.seats), ...checkWindow(input.validFrom, input.validUntil, now), key })) as
        { seats: number; validFrom: Date; validUntil: Date; key: string | null } | undefined;
    });
    const customerIds = [...new Set(inputs.filter((_, i) => checked[i]).map((input) => input.customerId))];
    const customers = customerIds.length > 0 ? await this.visibleCustomers(em, p, customerIds) : new Map<string, VisibleCustomer>();
    const pending: number[] = [];
    checked.forEach((row, i) => {
      if (!row) return;
      if (!customers.has(inputs[i]!.customerId)) results[i] = notFound('customer');
      else pending.push(i);
    });
    // 3. One transaction for the rest. A repeated key within the batch: its first row creates, the others
    // answer with that license (as sequential calls would).
    const firstOfKey = new Map<string, number>();
    const creating = pending.filter((i) => {
      const key = checked[i]!.key;
      if (key === null) return true;
      if (firstOfKey.has(key)) return false;
      firstOfKey.set(key, i);
      return true;
    });
    let created: Map<number, CreatedLicense> | null = null;
    try {
      created = await em.fork().transactional(async (tx) => {
        // A customer moved or suspended since it was read: its rows are settled one by one below.
        const problems = await customerProblems(
          tx,
          [...new Set(creating.map((i) => inputs[i]!.customerId))].map((id) => ({ id, resellerId: customers.get(id)!.reseller.id })),
        );
        const made = new Map<number, CreatedLicense>();
        const rows: InsertRow<License>[] = [];
        for (const i of creating.filter((row) => !problems.has(inputs[row]!.customerId))) {
          const input = inputs[i]!;
          const row = checked[i]!;
          const license = newLicenseRow({
            kind: input.kind,
            seats: row.seats,
            validFrom: row.validFrom,
            validUntil: row.validUntil,
            customer: customers.get(input.customerId)!,
            idempotencyOwnerId: row.key !== null ? p.userId : null,
            idempotencyKey: row.key,
          });
          rows.push(license);
          made.set(i, license);
        }
        // The licenses, their audit events and their webhook messages: one multi-row insert per table.
        await insertNewLicenses(tx, rows, { actorId: p.userId, clientAddress });
        return made;
      });
    } catch (error) {
      // Settled row by row instead (see above); a plain database failure is not ours to hide.
      if (!(error instanceof UniqueConstraintViolationException) && !isAppError(error)) throw error;
    }
    for (const i of pending) {
      const key = checked[i]!.key;
      const origin = key === null ? i : firstOfKey.get(key)!;
      const license = created?.get(origin);
      if (license) results[i] = license;
      else {
        try {
          results[i] = await this.create(em, p, inputs[i]!, clientAddress);
        } catch (error) {
          if (!isAppError(error)) throw error;
          results[i] = error;
        }
      }
    }
    return results as (License | CreatedLicense | NestedLicense | AppError)[];
  }

  /**
   * createMany's lookups, as one hand-written statement each through the Reader (on SQLite its read
   * connections: they do not queue behind the writer, where the webhook worker dispatches the previous
   * call's messages), their conditions rendered from the same scope declaration as every other read.
   * The licenses that this caller created with these idempotency keys and still sees, by key.
   */
  private async byIdempotencyKeys(em: EntityManager, p: AuthenticatedPrincipal, keys: string[]): Promise<Map<string, NestedLicense>> {
    const page = pageStatement(em);
    const key = `l.${quote(columnOf(metadataOf(em, License), 'idempotencyKey'))}`;
    const where = and([toSql(em, 'License', 'l', this.ownKeyed(p)), sql(inJsonList(em, key), JSON.stringify(keys))]);
    const rows = await this.reader.rows<Record<string, unknown>>(
      em,
      {
        text: `${page.nestedColumns}, ${key} as "k" from ${quote(page.table)} l where ${where.text}`,
        params: where.params,
      },
      { columns: [...page.nestedNames, 'k'] },
    );
    return new Map(rows.map((row) => [row.k as string, nestedLicenseFromRow(row)]));
  }

  /** Of these customers, those the caller sees, with their reseller (createMany). */
  private async visibleCustomers(em: EntityManager, p: AuthenticatedPrincipal, ids: string[]): Promise<Map<string, VisibleCustomer>> {
    const meta = metadataOf(em, Customer);
    const id = `c.${quote(columnOf(meta, 'id'))}`;
    const where = and([scopeSql(em, 'Customer', 'c', p), sql(inJsonList(em, id), JSON.stringify(ids))]);
    const rows = await this.reader.rows<{ id: string; reseller: string }>(
      em,
      {
        text: `select ${id} as "id", c.${quote(columnOf(meta, 'reseller'))} as "reseller" from ${quote(meta.tableName)} c where ${where.text}`,
        params: where.params,
      },
      { columns: ['id', 'reseller'] },
    );
    return new Map(rows.map((row) => [row.id, { id: row.id, reseller: { id: row.reseller } }]));
  }

  /**
   * Seats, end date and kind (FLOWS.md section 10). A later end is a renewal, MDM -> MOBILE_SECURITY an
   * upgrade (the other way is BAD_USER_INPUT); each kind of change is its own audit event with its
   * { from, to }, in one transaction. A revoked license cannot be changed; unchanged input writes nothing.
   */
  async update(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    id: string,
    input: UpdateLicenseData,
    clientAddress: string | null,
  ): Promise<License> {
    const license = await this.findVisible(em, p, id);
    if (!license) throw notFound('license');
    if (license.revokedAt) throw badInput('A revoked license cannot be changed.', 'id');
    const seats = input.seats !== undefined && input.seats !== null ? checkSeats(input.seats) : license.seats;
    const { validUntil } = checkWindow(license.validFrom, input.validUntil ?? license.validUntil, this.now());
    const kind = input.kind !== undefined && input.kind !== null ? checkKind(input.kind) : license.kind;
    if (license.kind === LicenseKind.MOBILE_SECURITY && kind === LicenseKind.MDM) {
      throw badInput('A license can be upgraded from MDM to MOBILE_SECURITY, not downgraded.', 'kind', 'DOWNGRADE');
    }
    const renewed = validUntil.getTime() > license.validUntil.getTime();
    const events: [AuditAction, Changes][] = renewed
      ? [
          [AuditAction.LICENSE_UPGRADED, changesOf(license, { kind })],
          [AuditAction.LICENSE_RENEWED, changesOf(license, { validUntil })],
          [AuditAction.LICENSE_UPDATED, changesOf(license, { seats })],
        ]
      : [
          [AuditAction.LICENSE_UPGRADED, changesOf(license, { kind })],
          [AuditAction.LICENSE_UPDATED, changesOf(license, { seats, validUntil })],
        ];
    const changed = events.filter(([, changes]) => Object.keys(changes).length > 0);
    if (changed.length === 0) return license;
    await em.transactional(async (tx) => {
      Object.assign(license, { seats, validUntil, kind });
      for (const [action, changes] of changed) {
        await audit(tx, action, target.license(license), { actorId: p.userId, clientAddress }, { changes });
      }
    });
    return license;
  }

  /**
   * Suspends a license (e.g. its customer has not paid): status SUSPENDED until reinstated. Suspending a
   * suspended license changes nothing; a revoked one cannot be suspended (BAD_USER_INPUT).
   */
  async suspend(em: EntityManager, p: AuthenticatedPrincipal, id: string, reason: string, clientAddress: string | null): Promise<License> {
    const why = requiredReason(reason);
    const license = await this.findVisible(em, p, id);
    if (!license) throw notFound('license');
    if (license.revokedAt) throw badInput('A revoked license cannot be suspended.', 'id', 'REVOKED');
    if (license.suspendedAt) return license;
    const now = this.now();
    await em.transactional(async (tx) => {
      license.suspendedAt = now;
      const changes = { suspendedAt: { from: null, to: now.toISOString() } };
      await audit(
        tx,
        AuditAction.LICENSE_SUSPENDED,
        target.license(license),
        { actorId: p.userId, clientAddress },
        { changes, reason: why },
      );
    });
    return license;
  }

  /** Lifts the license's own suspension (a suspended reseller's licenses stay SUSPENDED until it is reinstated). */
  async reinstate(em: EntityManager, p: AuthenticatedPrincipal, id: string, clientAddress: string | null): Promise<License> {
    const license = await this.findVisible(em, p, id);
    if (!license) throw notFound('license');
    if (license.revokedAt) throw badInput('A revoked license cannot be reinstated.', 'id', 'REVOKED');
    if (!license.suspendedAt) return license;
    const changes = { suspendedAt: { from: license.suspendedAt.toISOString(), to: null } };
    await em.transactional(async (tx) => {
      license.suspendedAt = null;
      await audit(tx, AuditAction.LICENSE_REINSTATED, target.license(license), { actorId: p.userId, clientAddress }, { changes });
    });
    return license;
  }

  /**
   * Moves a license booked on the wrong customer to another customer of the same reseller. The target must
   * be visible (else NOT_FOUND) and the license's reseller's (else BAD_USER_INPUT); a revoked license stays.
   */
  async move(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    id: string,
    toCustomerId: string,
    clientAddress: string | null,
  ): Promise<License> {
    const license = await this.findVisible(em, p, id);
    if (!license) throw notFound('license');
    const to = await em.findOne(Customer, scopeWhere('Customer', p, { id: toCustomerId }));
    if (!to) throw notFound('customer');
    if (to.reseller.id !== license.reseller.id) {
      throw badInput("A license moves only among its reseller's customers; transferCustomer moves a customer.", 'toCustomerId');
    }
    if (license.revokedAt) throw badInput('A revoked license cannot be moved.', 'id', 'REVOKED');
    const from = license.customer.id;
    if (from === to.id) return license;
    await em.fork().transactional(async (tx) => {
      await assertCustomerOpen(tx, to.id, license.reseller.id);
      // Conditional on what was read: a concurrent transfer or move of this license wins, this one fails.
      const moved = await tx.nativeUpdate(
        License,
        { id: license.id, customer: from, reseller: license.reseller.id },
        { customer: to.id, updatedAt: this.now() },
      );
      if (moved !== 1) throw notFound('license');
      await audit(
        tx,
        AuditAction.LICENSE_MOVED,
        target.license({ ...license, customer: to }),
        { actorId: p.userId, clientAddress },
        { changes: { customerId: { from, to: to.id } } },
      );
    });
    await em.refresh(license);
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
