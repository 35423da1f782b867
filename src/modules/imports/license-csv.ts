// CSV import and export of licenses for operators (npm run cli -- import-licenses / export-licenses).
// Import: every row is validated like createLicense; valid rows are created in batches, each batch in
// one transaction; a bad row is reported and skipped, never taking valid rows with it. Rows are
// idempotent across runs through their idempotencyKey (derived from the row when the column is empty).
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/core';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { createHash } from 'node:crypto';
import { LicenseKind } from '../../common/enums';
import { AppError, ErrorCode, badInput, isAppError } from '../../errors';
import { keysetCondition } from '../../common/pagination';
import { Customer } from '../customers/customer.entity';
import { checkIdempotencyKey, checkKind, checkSeats, checkWindow } from '../licenses/license-rules';
import { License } from '../licenses/license.entity';
import { MAX_KEY_ATTEMPTS, persistNewLicense } from '../licenses/license.service';

export const IMPORT_COLUMNS = ['customer', 'kind', 'seats', 'validFrom', 'validUntil', 'idempotencyKey'] as const;
const EXPORT_COLUMNS = [...IMPORT_COLUMNS, 'key', 'status'] as const;
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
  kind: LicenseKind;
  seats: number;
  validFrom: Date;
  validUntil: Date;
  idempotencyKey: string;
}

export class CsvFormatError extends Error {}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function parseDate(value: string, field: string): Date | null {
  if (value === '') return null;
  if (!ISO_DATE.test(value)) throw badInput(`${field} must be an ISO 8601 date such as 2027-01-31 or 2027-01-31T00:00:00Z.`, field);
  const date = new Date(value.length === 10 ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(date.getTime())) throw badInput(`${field} is not a valid date.`, field);
  return date;
}

function parseRow(record: Record<string, string>, line: number, now: Date): ParsedRow {
  const customerRef = (record.customer ?? '').trim();
  if (!customerRef) throw badInput('customer is empty.', 'customer');
  const kind = checkKind((record.kind ?? '').trim().toUpperCase());
  const seatsText = (record.seats ?? '').trim();
  if (!/^\d+$/.test(seatsText)) throw badInput('seats must be a whole number.', 'seats');
  const seats = checkSeats(Number(seatsText));
  const until = parseDate((record.validUntil ?? '').trim(), 'validUntil');
  if (!until) throw badInput('validUntil is empty.', 'validUntil');
  const window = checkWindow(parseDate((record.validFrom ?? '').trim(), 'validFrom'), until, now);
  const given = (record.idempotencyKey ?? '').trim();
  // Without a key, the row's own content is its key: re-running the file still creates nothing twice.
  const idempotencyKey =
    checkIdempotencyKey(given || null) ??
    `row:${createHash('sha256').update([customerRef, kind, seats, (record.validFrom ?? '').trim(), until.toISOString()].join('\u0000')).digest('hex').slice(0, 40)}`;
  return { line, customerRef, kind, seats, ...window, idempotencyKey };
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
  const missing = IMPORT_COLUMNS.filter((c) => c !== 'validFrom' && c !== 'idempotencyKey' && !header.includes(c));
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

async function resolveCustomers(em: EntityManager, refs: string[]): Promise<Map<string, Customer | 'ambiguous'>> {
  const result = new Map<string, Customer | 'ambiguous'>();
  const unique = [...new Set(refs)];
  for (let i = 0; i < unique.length; i += BATCH) {
    const chunk = unique.slice(i, i + BATCH);
    const found = await em.find(Customer, { $or: [{ id: { $in: chunk } }, { name: { $in: chunk } }] });
    for (const customer of found) {
      if (chunk.includes(customer.id)) result.set(customer.id, customer);
      if (chunk.includes(customer.name)) {
        const seen = result.get(customer.name);
        result.set(customer.name, seen && seen !== customer ? 'ambiguous' : customer);
      }
    }
  }
  return result;
}

export async function importLicenses(
  em: EntityManager,
  text: string,
  options: { dryRun?: boolean; now?: Date; onProgress?: (done: number, total: number) => void } = {},
): Promise<ImportSummary> {
  const now = options.now ?? new Date();
  const records = readCsvLines(text);
  const results: RowResult[] = [];
  const parsed: ParsedRow[] = [];
  records.forEach(({ line, record, problem }) => {
    try {
      if (problem) throw badInput(problem);
      parsed.push(parseRow(record, line, now));
    } catch (error) {
      results.push(errorRow(line, error));
    }
  });

  const customers = await resolveCustomers(em, parsed.map((row) => row.customerRef));
  const ready: (ParsedRow & { customer: Customer })[] = [];
  for (const row of parsed) {
    const customer = customers.get(row.customerRef);
    if (!customer) results.push(errorRow(row.line, new AppError(ErrorCode.NOT_FOUND, `No customer with the id or exact name "${row.customerRef}".`, { field: 'customer' })));
    else if (customer === 'ambiguous') results.push(errorRow(row.line, badInput(`Several customers are named "${row.customerRef}": use the id.`, 'customer')));
    else ready.push({ ...row, customer });
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

async function createBatch(em: EntityManager, rows: (ParsedRow & { customer: Customer })[], attempt = 0): Promise<RowResult[]> {
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
  return stringify(
    rows.map((r) => [r.line, r.status, r.licenseId ?? '', r.key ?? '', r.code ?? '', r.field ?? '', r.message ?? '']),
    { header: true, columns: ['line', 'status', 'licenseId', 'key', 'code', 'field', 'message'] },
  );
}

/** Streams every license (optionally of one reseller) as CSV, oldest first, page by page. */
export async function* exportLicenses(em: EntityManager, options: { resellerId?: string; now?: Date } = {}): AsyncGenerator<string> {
  const now = options.now ?? new Date();
  yield stringify([[...EXPORT_COLUMNS]]);
  let after: { createdAt: Date; id: string } | null = null;
  for (;;) {
    const where: Record<string, unknown> = options.resellerId ? { reseller: options.resellerId } : {};
    const page: License[] = await em.fork().find(
      License,
      after ? { $and: [where, keysetCondition<License>(em, 'createdAt', { at: after.createdAt, id: after.id }, '>')] } : where,
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit: BATCH },
    );
    if (page.length === 0) return;
    yield stringify(
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
