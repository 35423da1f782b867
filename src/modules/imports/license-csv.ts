// CSV import and export of licenses for operators (npm run cli -- import-licenses / export-licenses).
// Import: every row is validated like createLicense; valid rows are created in batches, each batch in
// one transaction; a bad row is reported and skipped, never taking valid rows with it. Rows are
// idempotent across runs through their idempotencyKey (derived from the row when the column is empty).
// A customer name resolves only among the customers of the row's reseller (its `reseller` column or
// --reseller): the same name at another reseller must never receive the license. Cells that a
// spreadsheet would run as a formula are written with a leading `'` and read back without it.
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/core';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { createHash } from 'node:crypto';
import { LicenseKind } from '../../common/enums';
import { AppError, ErrorCode, badInput, isAppError } from '../../errors';
import { keysetCondition } from '../../common/pagination';
import { toFilter } from '../access/condition';
import { scopeCondition } from '../access/scope';
import { Customer } from '../customers/customer.entity';
import { Reseller } from '../resellers/reseller.entity';
import { checkIdempotencyKey, checkKind, checkSeats, checkWindow } from '../licenses/license-rules';
import { License } from '../licenses/license.entity';
import { MAX_KEY_ATTEMPTS, persistNewLicense } from '../licenses/license.service';

const LICENSE_COLUMNS = ['customer', 'kind', 'seats', 'validFrom', 'validUntil', 'idempotencyKey'] as const;
/** `reseller` (optional) scopes the row's customer name; the export names customers by id and needs none. */
export const IMPORT_COLUMNS = [...LICENSE_COLUMNS, 'reseller'] as const;
const REQUIRED_COLUMNS = ['customer', 'kind', 'seats', 'validUntil'];
const EXPORT_COLUMNS = [...LICENSE_COLUMNS, 'key', 'status'] as const;
/** Imported licenses belong to this caller for idempotency (keys are unique per caller). */
const IMPORT_OWNER = 'cli:import';
const BATCH = 500;

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
  rows: RowResult[];
  created: number;
  existing: number;
  failed: number;
}

interface ParsedRow {
  line: number;
  customerRef: string;
  /** The row's reseller id (its column, else --reseller); null when neither names one. */
  resellerId: string | null;
  kind: LicenseKind;
  seats: number;
  validFrom: Date;
  validUntil: Date;
  /** The idempotencyKey column; null: derived from the row once its customer is known. */
  givenKey: string | null;
  /** The row's content that a derived key hashes, besides the customer's id. */
  content: string[];
}

type ReadyRow = ParsedRow & { customer: Customer; idempotencyKey: string };

export class CsvFormatError extends Error {}

/**
 * What spreadsheets (Excel, LibreOffice, Google Sheets; Apple Numbers also the full-width forms) run as
 * a formula when a cell starts with it. csv-stringify's `escape_formulas` knows the same characters,
 * but we also escape a value that already starts with `'` before one of them, so that reading the
 * export back (`unescapeCell`) returns every value exactly as it was: "=x" <-> "'=x", "'=x" <-> "''=x".
 */
const FORMULA_START = /^'*[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

/** A cell as written to a CSV file: a possible formula is prefixed with `'` (shown, not run). */
export function escapeCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** The inverse of escapeCell, for the free-text cells of an imported file. */
export function unescapeCell(value: string): string {
  return value.startsWith("'") && FORMULA_START.test(value) ? value.slice(1) : value;
}

/** Every string cell of every CSV this module writes goes through escapeCell. */
const stringifyCells = (rows: unknown[][], options: Parameters<typeof stringify>[1] = {}) =>
  stringify(rows, { ...options, cast: { string: escapeCell } });

const textCell = (record: Record<string, string>, column: string) => unescapeCell((record[column] ?? '').trim());

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function parseDate(value: string, field: string): Date | null {
  if (value === '') return null;
  if (!ISO_DATE.test(value)) throw badInput(`${field} must be an ISO 8601 date such as 2027-01-31 or 2027-01-31T00:00:00Z.`, field);
  const date = new Date(value.length === 10 ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(date.getTime())) throw badInput(`${field} is not a valid date.`, field);
  return date;
}

function parseRow(record: Record<string, string>, line: number, now: Date, resellerOption: string | null): ParsedRow {
  const customerRef = textCell(record, 'customer');
  if (!customerRef) throw badInput('customer is empty.', 'customer');
  const resellerCell = textCell(record, 'reseller');
  if (resellerCell && resellerOption && resellerCell !== resellerOption) {
    throw badInput(`The row's reseller ${resellerCell} is not the --reseller ${resellerOption} of this import.`, 'reseller');
  }
  const kind = checkKind((record.kind ?? '').trim().toUpperCase());
  const seatsText = (record.seats ?? '').trim();
  if (!/^\d+$/.test(seatsText)) throw badInput('seats must be a whole number.', 'seats');
  const seats = checkSeats(Number(seatsText));
  const until = parseDate((record.validUntil ?? '').trim(), 'validUntil');
  if (!until) throw badInput('validUntil is empty.', 'validUntil');
  const window = checkWindow(parseDate((record.validFrom ?? '').trim(), 'validFrom'), until, now);
  const givenKey = checkIdempotencyKey(textCell(record, 'idempotencyKey') || null);
  const content = [kind, String(seats), (record.validFrom ?? '').trim(), until.toISOString()];
  return { line, customerRef, resellerId: resellerCell || resellerOption, kind, seats, ...window, givenKey, content };
}

/**
 * Without a key, the row's own content is its key: re-running the file still creates nothing twice.
 * The customer enters by its id (for a row naming it by id the same text as ever), so "Acme" of two
 * resellers are two licenses, not one.
 */
function derivedKey(customer: Customer, row: ParsedRow): string {
  return `row:${createHash('sha256').update([customer.id, ...row.content].join('\u0000')).digest('hex').slice(0, 40)}`;
}

function errorRow(line: number, error: unknown): RowResult {
  if (isAppError(error)) {
    const field = typeof error.extensions.field === 'string' ? error.extensions.field : undefined;
    return { line, status: 'error', code: error.code, field, message: error.message };
  }
  throw error;
}

const lineBreaks = (text: string) => text.match(/\r\n|\r|\n/g)?.length ?? 0;

/**
 * Parses the whole file; a missing column or unreadable CSV fails the file before anything is written.
 * Each record comes with the line of the file it starts on (the header is line 1), counting skipped
 * blank lines and line breaks inside quoted fields, so that the report points at the right line. A
 * record with more or fewer fields than the header is one bad row (`problem`), not a bad file.
 */
function readCsvLines(text: string): { line: number; record: Record<string, string>; problem?: string }[] {
  let rows: { record: Record<string, string>; raw: string; info: { columns?: unknown[]; error?: { code?: string; record?: unknown[] } } }[];
  // The header as the parser reads it (quotes and all), names trimmed: the record keys are these names.
  let header: string[] = [];
  try {
    rows = parse(text, {
      columns: (names: string[]) => (header = names.map((name) => name.trim())),
      skip_empty_lines: true,
      bom: true,
      relax_column_count: true,
      trim: false,
      raw: true,
      info: true,
    });
  } catch (error) {
    throw new CsvFormatError(`the file is not valid CSV: ${(error as Error).message}`);
  }
  const missing = REQUIRED_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length) throw new CsvFormatError(`missing column(s): ${missing.join(', ')} (expected: ${IMPORT_COLUMNS.join(',')})`);
  // A record's raw text starts with the blank lines skipped before it and ends with its line break.
  let next = 2;
  return rows.map(({ record, raw, info }) => {
    const blank = /^(?:\r\n|\r|\n)*/.exec(raw)![0];
    const line = next + lineBreaks(blank);
    next = line + lineBreaks(raw.slice(blank.length));
    if (info.error?.code === 'CSV_RECORD_INCONSISTENT_COLUMNS') {
      const fields = info.error.record?.length ?? 0;
      return { line, record, problem: `The row has ${fields} field(s) where the header has ${info.columns?.length ?? 0}.` };
    }
    return { line, record };
  });
}

/** The customers the rows' references can mean: by id, or by exact name at any reseller. */
async function findCandidates(em: EntityManager, refs: string[]): Promise<{ byId: Map<string, Customer>; byName: Map<string, Customer[]> }> {
  const byId = new Map<string, Customer>();
  const byName = new Map<string, Customer[]>();
  const unique = [...new Set(refs)];
  for (let i = 0; i < unique.length; i += BATCH) {
    const chunk = new Set(unique.slice(i, i + BATCH));
    const found = await em.find(Customer, { $or: [{ id: { $in: [...chunk] } }, { name: { $in: [...chunk] } }] });
    for (const customer of found) {
      if (chunk.has(customer.id)) byId.set(customer.id, customer);
      if (chunk.has(customer.name)) byName.set(customer.name, [...(byName.get(customer.name) ?? []), customer]);
    }
  }
  return { byId, byName };
}

async function existingResellers(em: EntityManager, ids: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += BATCH) {
    for (const r of await em.find(Reseller, { id: { $in: unique.slice(i, i + BATCH) } }, { fields: ['id'] })) found.add(r.id);
  }
  return found;
}

/**
 * The row's customer, or why there is none. An id is unambiguous on its own, but with a reseller given
 * it must be one of that reseller's customers. A name is looked up among the row's reseller's
 * customers only; without a reseller it is refused, since a name alone may mean another reseller's
 * customer (today or after the next customer is created).
 */
function resolveRow(
  row: ParsedRow,
  candidates: { byId: Map<string, Customer>; byName: Map<string, Customer[]> },
  resellers: Set<string>,
): Customer {
  if (row.resellerId && !resellers.has(row.resellerId)) {
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
    if (named.length === 0) throw new AppError(ErrorCode.NOT_FOUND, `No customer with the id or exact name "${row.customerRef}".`, { field: 'customer' });
    throw badInput(`A customer name needs the row's reseller (a reseller column or --reseller): name "${row.customerRef}", or use the customer's id.`, 'customer');
  }
  const own = named.filter((c) => c.reseller.id === row.resellerId);
  if (own.length === 1) return own[0]!;
  if (own.length > 1) throw badInput(`Several customers of reseller ${row.resellerId} are named "${row.customerRef}": use the id.`, 'customer');
  if (named.length > 0) throw badInput(`Reseller ${row.resellerId} has no customer named "${row.customerRef}" (another reseller has).`, 'customer');
  throw new AppError(ErrorCode.NOT_FOUND, `Reseller ${row.resellerId} has no customer with the id or exact name "${row.customerRef}".`, { field: 'customer' });
}

export async function importLicenses(
  em: EntityManager,
  text: string,
  options: { dryRun?: boolean; now?: Date; resellerId?: string; onProgress?: (done: number, total: number) => void } = {},
): Promise<ImportSummary> {
  const now = options.now ?? new Date();
  const resellerOption = options.resellerId ?? null;
  // A wrong --reseller fails the file before anything is read or written.
  if (resellerOption && !(await existingResellers(em, [resellerOption])).has(resellerOption)) {
    throw new AppError(ErrorCode.NOT_FOUND, `No reseller with the id "${resellerOption}".`, { field: 'reseller' });
  }
  const records = readCsvLines(text);
  const results: RowResult[] = [];
  const parsed: ParsedRow[] = [];
  records.forEach(({ line, record, problem }) => {
    try {
      if (problem) throw badInput(problem);
      parsed.push(parseRow(record, line, now, resellerOption));
    } catch (error) {
      results.push(errorRow(line, error));
    }
  });

  const candidates = await findCandidates(em, parsed.map((row) => row.customerRef));
  const resellers = await existingResellers(em, parsed.flatMap((row) => (row.resellerId ? [row.resellerId] : [])));
  const ready: ReadyRow[] = [];
  for (const row of parsed) {
    try {
      const customer = resolveRow(row, candidates, resellers);
      ready.push({ ...row, customer, idempotencyKey: row.givenKey ?? derivedKey(customer, row) });
    } catch (error) {
      results.push(errorRow(row.line, error));
    }
  }

  let done = 0;
  // Keys of earlier rows of this file: a repeat is "exists" in a dry run too, whichever batch it is in.
  const seen = new Set<string>();
  for (let i = 0; i < ready.length; i += BATCH) {
    const chunk = ready.slice(i, i + BATCH);
    const existing = new Map(
      (await em.find(License, { idempotencyOwnerId: IMPORT_OWNER, idempotencyKey: { $in: chunk.map((r) => r.idempotencyKey) } })).map((l) => [l.idempotencyKey!, l]),
    );
    const toCreate: typeof chunk = [];
    for (const row of chunk) {
      const found = existing.get(row.idempotencyKey);
      if (found) results.push({ line: row.line, status: 'exists', licenseId: found.id, key: found.key });
      else if (seen.has(row.idempotencyKey)) results.push({ line: row.line, status: 'exists' });
      else {
        seen.add(row.idempotencyKey);
        toCreate.push(row);
      }
    }
    if (options.dryRun) {
      for (const row of toCreate) results.push({ line: row.line, status: 'valid' });
    } else {
      results.push(...(await createBatch(em, toCreate)));
    }
    done += chunk.length;
    options.onProgress?.(done, ready.length);
  }

  results.sort((a, b) => a.line - b.line);
  return {
    rows: results,
    created: results.filter((r) => r.status === 'created').length,
    existing: results.filter((r) => r.status === 'exists').length,
    failed: results.filter((r) => r.status === 'error').length,
  };
}

async function createBatch(em: EntityManager, rows: ReadyRow[], attempt = 0): Promise<RowResult[]> {
  if (rows.length === 0) return [];
  try {
    return await em.fork().transactional(async (tx) => {
      const created: RowResult[] = [];
      for (const row of rows) {
        const license = await persistNewLicense(tx, { ...row, idempotencyOwnerId: IMPORT_OWNER }, { actorId: null, clientAddress: 'cli:import' });
        created.push({ line: row.line, status: 'created', licenseId: license.id, key: license.key });
      }
      return created;
    });
  } catch (error) {
    if (!(error instanceof UniqueConstraintViolationException)) throw error;
    if (rows.length === 1) {
      // Another import created it meanwhile, or its key collided (then a fresh key, like createLicense).
      const row = rows[0]!;
      const winner = await em.fork().findOne(License, { idempotencyOwnerId: IMPORT_OWNER, idempotencyKey: row.idempotencyKey });
      if (winner) return [{ line: row.line, status: 'exists', licenseId: winner.id, key: winner.key }];
      if (attempt + 1 >= MAX_KEY_ATTEMPTS) throw error;
      return createBatch(em, rows, attempt + 1);
    }
    // Some of the batch exist meanwhile (or a key collided): one row at a time.
    const out: RowResult[] = [];
    for (const row of rows) out.push(...(await createBatch(em, [row])));
    return out;
  }
}

export function reportCsv(rows: RowResult[]): string {
  return stringifyCells(
    rows.map((r) => [r.line, r.status, r.licenseId ?? '', r.key ?? '', r.code ?? '', r.field ?? '', r.message ?? '']),
    { header: true, columns: ['line', 'status', 'licenseId', 'key', 'code', 'field', 'message'] },
  );
}

/** Streams every license (optionally of one reseller) as CSV, oldest first, page by page. */
export async function* exportLicenses(em: EntityManager, options: { resellerId?: string; now?: Date } = {}): AsyncGenerator<string> {
  const now = options.now ?? new Date();
  yield stringifyCells([[...EXPORT_COLUMNS]]);
  let after: { createdAt: Date; id: string } | null = null;
  for (;;) {
    // The operator's export: everything, or one reseller's licenses through that reseller's scope.
    const where = toFilter(scopeCondition('License', options.resellerId ? { by: 'reseller', id: options.resellerId } : 'all'));
    const page: License[] = await em.fork().find(
      License,
      after ? { $and: [where, keysetCondition<License>(em, 'createdAt', { at: after.createdAt, id: after.id }, '>')] } : where,
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit: BATCH },
    );
    if (page.length === 0) return;
    yield stringifyCells(
      page.map((l) => [
        l.customer.id,
        l.kind,
        l.seats,
        l.validFrom.toISOString(),
        l.validUntil.toISOString(),
        l.idempotencyKey ?? '',
        l.key,
        l.statusAt(now),
      ]),
    );
    const last = page[page.length - 1]!;
    after = { createdAt: last.createdAt, id: last.id };
  }
}
