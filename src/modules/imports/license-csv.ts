// CSV import of licenses for operators (npm run cli -- import-licenses; the export is license-export.ts).
// Import: the file is read as it arrives and handled in batches; every row is validated like
// createLicense; valid rows are created with one transaction per batch, as set operations (one statement
// for the batch's customers, one for its idempotency keys, one multi-row insert each for the licenses,
// their audit events and their webhook messages); a bad row is reported and skipped, never taking valid
// rows with it. Each batch's report rows are handed out before the next batch is read, so neither the
// file nor the report is ever held whole. Rows are idempotent across runs through their idempotencyKey
// (derived from the row when the column is empty).
// A customer name resolves only among the customers of the row's reseller (its `reseller` column or
// --reseller): the same name at another reseller must never receive the license. Cells that a
// spreadsheet would run as a formula are written with a leading `'` and read back without it.
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/core';
import { createHash } from 'node:crypto';
import { isPostgres } from '../../db/sql';
import { bound, inJsonList, type InsertRow } from '../../db/writes';
import { AppError, ErrorCode, badInput, isAppError } from '../../errors';
import { customerProblems, resellerSuspended } from '../resellers/reseller-suspension';
import type { License } from '../licenses/license.entity';
import { MAX_KEY_ATTEMPTS } from '../licenses/license.service';
import { insertNewLicenses, newLicenseRow } from '../licenses/license-writes';
import { stringifyCells } from './csv-cells';
import { parseRow, readCsvRecords, type CsvRecord, type ParsedRow } from './license-rows';

/** Imported licenses belong to this caller for idempotency (keys are unique per caller). */
const IMPORT_OWNER = 'cli:import';
/** Rows per batch (one transaction each): wide enough that per-statement costs vanish, small enough to hold. */
export const IMPORT_BATCH = 2000;

export type RowStatus = 'created' | 'exists' | 'valid' | 'error';

export interface RowResult {
  /** The line in the file (the header is line 1). */
  line: number;
  status: RowStatus;
  licenseId?: string;
  key?: string;
  code?: string;
  field?: string;
  message?: string;
}

export interface ImportSummary {
  rows: number;
  created: number;
  existing: number;
  failed: number;
}

export interface ImportOptions {
  dryRun?: boolean;
  now?: Date;
  resellerId?: string;
  /** Each batch's report rows, in line order, before the next batch is read (awaited: backpressure). */
  onRows?: (rows: RowResult[]) => unknown;
  /** Rows handled so far, after each batch. */
  onProgress?: (done: number) => void;
  batchSize?: number;
}

/** A customer a row's reference can mean, with whether its reseller is suspended. */
interface Candidate {
  id: string;
  name: string;
  reseller: { id: string };
}

interface Candidates {
  byId: Map<string, Candidate>;
  byName: Map<string, Candidate[]>;
  /** The resellers of the rows and of the candidates that exist: suspended or not. */
  resellers: Map<string, { suspended: boolean }>;
}

type ReadyRow = ParsedRow & { customer: Candidate; idempotencyKey: string };

/**
 * Without a key, the row's own content is its key: re-running the file still creates nothing twice.
 * The customer enters by its id (for a row naming it by id the same text as ever), so "Acme" of two
 * resellers are two licenses, not one.
 */
function derivedKey(customer: Candidate, row: ParsedRow): string {
  return `row:${createHash('sha256')
    .update([customer.id, ...row.content].join('\u0000'))
    .digest('hex')
    .slice(0, 40)}`;
}

function errorRow(line: number, error: unknown): RowResult {
  if (isAppError(error)) {
    const field = typeof error.extensions.field === 'string' ? error.extensions.field : undefined;
    return { line, status: 'error', code: error.code, field, message: error.message };
  }
  throw error;
}

type CustomerRow = { id: string; name: string | null; reseller_id: string; suspended_at: unknown };

const isSet = (value: unknown) => value !== null && value !== undefined;

/**
 * The customers the references can mean and the resellers named, in one statement: customers by id and
 * resellers by id; then, only for references that are no customer's id, customers by exact name at any
 * reseller (a second statement, only when the batch names customers).
 */
async function findCandidates(em: EntityManager, refs: string[], resellerIds: string[]): Promise<Candidates> {
  const rows = (await bound(
    em,
    `select c.id, c.name, c.reseller_id, r.suspended_at from customer c join reseller r on r.id = c.reseller_id where ${inJsonList(em, 'c.id')}` +
      ` union all select null, null, r.id, r.suspended_at from reseller r where ${inJsonList(em, 'r.id')}`,
    [JSON.stringify(refs), JSON.stringify(resellerIds)],
  )) as CustomerRow[];
  const found: Candidates = { byId: new Map(), byName: new Map(), resellers: new Map() };
  const add = (row: CustomerRow) => {
    found.resellers.set(row.reseller_id, { suspended: isSet(row.suspended_at) });
    if (row.name === null) return undefined;
    return { id: row.id, name: row.name, reseller: { id: row.reseller_id } };
  };
  for (const row of rows) {
    const customer = add(row);
    if (customer) found.byId.set(customer.id, customer);
  }
  const names = refs.filter((ref) => !found.byId.has(ref));
  if (names.length > 0) {
    const named = (await bound(
      em,
      `select c.id, c.name, c.reseller_id, r.suspended_at from customer c join reseller r on r.id = c.reseller_id where ${inJsonList(em, 'c.name')}`,
      [JSON.stringify(names)],
    )) as CustomerRow[];
    for (const row of named) {
      const customer = add(row)!;
      found.byName.set(customer.name, [...(found.byName.get(customer.name) ?? []), customer]);
    }
  }
  return found;
}

/**
 * The row's customer, or why there is none. An id is unambiguous on its own, but with a reseller given
 * it must be one of that reseller's customers. A name is looked up among the row's reseller's
 * customers only; without a reseller it is refused, since a name alone may mean another reseller's
 * customer (today or after the next customer is created).
 */
function resolveRow(row: ParsedRow, candidates: Candidates): Candidate {
  if (row.resellerId && !candidates.resellers.has(row.resellerId)) {
    throw new AppError(ErrorCode.NOT_FOUND, `No reseller with the id "${row.resellerId}".`, { field: 'reseller' });
  }
  const byId = candidates.byId.get(row.customerRef);
  if (byId) {
    if (row.resellerId && byId.reseller.id !== row.resellerId) {
      throw badInput(`Customer ${byId.id} is not a customer of reseller ${row.resellerId}.`, 'customer');
    }
    return byId;
  }
  const named = candidates.byName.get(row.customerRef) ?? [];
  if (!row.resellerId) {
    if (named.length === 0)
      throw new AppError(ErrorCode.NOT_FOUND, `No customer with the id or exact name "${row.customerRef}".`, { field: 'customer' });
    throw badInput(
      `A customer name needs the row's reseller (a reseller column or --reseller): name "${row.customerRef}", or use the customer's id.`,
      'customer',
    );
  }
  const own = named.filter((c) => c.reseller.id === row.resellerId);
  if (own.length === 1) return own[0]!;
  if (own.length > 1)
    throw badInput(`Several customers of reseller ${row.resellerId} are named "${row.customerRef}": use the id.`, 'customer');
  if (named.length > 0)
    throw badInput(`Reseller ${row.resellerId} has no customer named "${row.customerRef}" (another reseller has).`, 'customer');
  throw new AppError(ErrorCode.NOT_FOUND, `Reseller ${row.resellerId} has no customer with the id or exact name "${row.customerRef}".`, {
    field: 'customer',
  });
}

/**
 * The licenses this import created earlier under these keys (one statement). On PostgreSQL one unique-index
 * probe per key (a lateral subquery with a limit is never flattened into a join): a plan the statistics
 * could pick instead (a scan of the license table testing each row against the whole list, or hashing the
 * import's every license) grows with the table.
 */
async function existingByKey(em: EntityManager, keys: string[]): Promise<Map<string, { id: string; key: string }>> {
  const rows = (await (isPostgres(em)
    ? bound(
        em,
        'select l.id, l.key, l.idempotency_key from json_array_elements_text(?::json) as k(value) cross join lateral' +
          ' (select id, key, idempotency_key from license where idempotency_owner_id = ? and idempotency_key = k.value limit 1) l',
        [JSON.stringify(keys), IMPORT_OWNER],
      )
    : bound(em, `select id, key, idempotency_key from license where idempotency_owner_id = ? and ${inJsonList(em, 'idempotency_key')}`, [
        IMPORT_OWNER,
        JSON.stringify(keys),
      ]))) as { id: string; key: string; idempotency_key: string }[];
  return new Map(rows.map((row) => [row.idempotency_key, { id: row.id, key: row.key }]));
}

/** What a run carries from batch to batch. */
interface ImportRun {
  now: Date;
  resellerOption: string | null;
  dryRun: boolean;
  /**
   * Keys of earlier rows of this file that the database cannot tell about: in a dry run every key (nothing
   * is written); in a real run the keys whose creation failed (a created row's key is found in the database).
   * A later row with such a key is "exists", as a repeat of an earlier row.
   */
  seen: Set<string>;
}

export async function importLicenses(
  em: EntityManager,
  source: AsyncIterable<Buffer | string> | string,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const run: ImportRun = {
    now: options.now ?? new Date(),
    resellerOption: options.resellerId ?? null,
    dryRun: options.dryRun ?? false,
    seen: new Set(),
  };
  // A wrong --reseller fails the file before anything is read or written.
  if (run.resellerOption && !(await findCandidates(em, [], [run.resellerOption])).resellers.has(run.resellerOption)) {
    throw new AppError(ErrorCode.NOT_FOUND, `No reseller with the id "${run.resellerOption}".`, { field: 'reseller' });
  }
  const size = options.batchSize ?? IMPORT_BATCH;
  const summary: ImportSummary = { rows: 0, created: 0, existing: 0, failed: 0 };
  const settle = async (batch: ParsedBatch) => {
    const results = await importBatch(em, batch, run);
    for (const r of results) {
      if (r.status === 'created') summary.created++;
      else if (r.status === 'exists') summary.existing++;
      else if (r.status === 'error') summary.failed++;
    }
    summary.rows += results.length;
    await options.onRows?.(results);
    options.onProgress?.(summary.rows);
  };
  // One batch in the database while the next is read and parsed (the database works in its own thread or
  // process): the batches still reach the database, and their reports the caller, one after the other.
  let inFlight: Promise<void> = Promise.resolve();
  const flush = async (records: CsvRecord[]) => {
    const batch = parseBatch(records, run);
    const previous = inFlight;
    inFlight = previous.then(() => settle(batch));
    // Awaited below or at the end; a failure meanwhile is not an unhandled rejection.
    inFlight.catch(() => undefined);
    await previous;
  };
  try {
    let batch: CsvRecord[] = [];
    for await (const records of readCsvRecords(typeof source === 'string' ? toAsync(source) : source)) {
      for (const record of records) {
        batch.push(record);
        if (batch.length === size) {
          await flush(batch);
          batch = [];
        }
      }
    }
    if (batch.length > 0) await flush(batch);
  } finally {
    // Also when reading failed: nothing is left running against the database.
    await inFlight.catch(() => undefined);
  }
  await inFlight;
  return summary;
}

async function* toAsync(text: string): AsyncGenerator<string> {
  yield text;
}

interface ParsedBatch {
  /** The rows that failed to parse, reported as they are. */
  results: RowResult[];
  parsed: ParsedRow[];
}

/** A batch's records checked like createLicense's arguments (no database needed). */
function parseBatch(records: CsvRecord[], run: ImportRun): ParsedBatch {
  const results: RowResult[] = [];
  const parsed: ParsedRow[] = [];
  for (const { line, record, problem } of records) {
    try {
      if (problem) throw badInput(problem);
      parsed.push(parseRow(record, line, run.now, run.resellerOption));
    } catch (error) {
      results.push(errorRow(line, error));
    }
  }
  return { results, parsed };
}

/** One parsed batch through the database: its report rows in line order. */
async function importBatch(em: EntityManager, { results, parsed }: ParsedBatch, run: ImportRun): Promise<RowResult[]> {
  const ready: ReadyRow[] = [];
  if (parsed.length > 0) {
    const candidates = await findCandidates(
      em,
      [...new Set(parsed.map((row) => row.customerRef))],
      [...new Set(parsed.flatMap((row) => (row.resellerId ? [row.resellerId] : [])))],
    );
    for (const row of parsed) {
      try {
        const customer = resolveRow(row, candidates);
        // Nothing is imported under a suspended reseller (checked again in the transaction).
        if (candidates.resellers.get(customer.reseller.id)?.suspended) throw resellerSuspended();
        ready.push({ ...row, customer, idempotencyKey: row.givenKey ?? derivedKey(customer, row) });
      } catch (error) {
        results.push(errorRow(row.line, error));
      }
    }
  }
  if (ready.length > 0) {
    const existing = await existingByKey(em, [...new Set(ready.map((r) => r.idempotencyKey))]);
    // A key repeated within the batch: its first row creates, the others are "exists" (with its license).
    const firstOfKey = new Map<string, ReadyRow>();
    const repeats: ReadyRow[] = [];
    const toCreate: ReadyRow[] = [];
    for (const row of ready) {
      const found = existing.get(row.idempotencyKey);
      if (found) results.push({ line: row.line, status: 'exists', licenseId: found.id, key: found.key });
      else if (run.seen.has(row.idempotencyKey)) results.push({ line: row.line, status: 'exists' });
      else if (firstOfKey.has(row.idempotencyKey)) repeats.push(row);
      else {
        firstOfKey.set(row.idempotencyKey, row);
        toCreate.push(row);
      }
    }
    const outcome = new Map<string, RowResult>();
    if (run.dryRun) {
      for (const row of toCreate) {
        run.seen.add(row.idempotencyKey);
        outcome.set(row.idempotencyKey, { line: row.line, status: 'valid' });
      }
    } else {
      const byLine = new Map(toCreate.map((row) => [row.line, row.idempotencyKey]));
      for (const result of await createBatch(em, toCreate)) {
        const key = byLine.get(result.line)!;
        outcome.set(key, result);
        if (result.status === 'error') run.seen.add(key);
      }
    }
    for (const row of toCreate) results.push(outcome.get(row.idempotencyKey)!);
    for (const row of repeats) {
      const first = outcome.get(row.idempotencyKey)!;
      results.push(
        first.status === 'created' || first.status === 'exists'
          ? { line: row.line, status: 'exists', licenseId: first.licenseId, key: first.key }
          : { line: row.line, status: 'exists' },
      );
    }
  }
  return results.sort((a, b) => a.line - b.line);
}

/**
 * Creates the rows in one transaction: their customers checked (and locked) at once, then one multi-row
 * insert per table. A customer suspended or transferred since the rows were resolved fails its rows, the
 * others go on. A unique violation (another import created a row meanwhile, or a key collided) rolls the
 * batch back and settles its rows one at a time.
 */
async function createBatch(em: EntityManager, rows: ReadyRow[], attempt = 0): Promise<RowResult[]> {
  if (rows.length === 0) return [];
  try {
    return await em.fork().transactional(async (tx) => {
      const customers = [...new Map(rows.map((row) => [row.customer.id, row.customer])).values()];
      const problems = await customerProblems(
        tx,
        customers.map((customer) => ({ id: customer.id, resellerId: customer.reseller.id })),
      );
      const results: RowResult[] = [];
      const licenses: InsertRow<License>[] = [];
      for (const row of rows) {
        const problem = problems.get(row.customer.id);
        if (problem) {
          results.push(errorRow(row.line, problem));
          continue;
        }
        const license = newLicenseRow({ ...row, idempotencyOwnerId: IMPORT_OWNER });
        licenses.push(license);
        results.push({ line: row.line, status: 'created', licenseId: license.id, key: license.key });
      }
      await insertNewLicenses(tx, licenses, { actorId: null, clientAddress: 'cli:import' });
      return results;
    });
  } catch (error) {
    if (!(error instanceof UniqueConstraintViolationException)) throw error;
    if (rows.length > 1) {
      const out: RowResult[] = [];
      for (const row of rows) out.push(...(await createBatch(em, [row])));
      return out;
    }
    // Another import created it meanwhile, or its key collided (then a fresh key, like createLicense).
    const row = rows[0]!;
    const [winner] = (await existingByKey(em.fork(), [row.idempotencyKey])).values();
    if (winner) return [{ line: row.line, status: 'exists', licenseId: winner.id, key: winner.key }];
    if (attempt + 1 >= MAX_KEY_ATTEMPTS) throw error;
    return createBatch(em, rows, attempt + 1);
  }
}

/** The report's header line. */
export const REPORT_HEADER = stringifyCells([['line', 'status', 'licenseId', 'key', 'code', 'field', 'message']]);

/** Report lines (without the header). */
export function reportLines(rows: RowResult[]): string {
  return stringifyCells(rows.map((r) => [r.line, r.status, r.licenseId ?? '', r.key ?? '', r.code ?? '', r.field ?? '', r.message ?? '']));
}
