// CSV import of licenses for operators (npm run cli -- import-licenses; the export is license-export.ts).
// Import: every row is validated like createLicense; valid rows are created in batches, each batch in
// one transaction; a bad row is reported and skipped, never taking valid rows with it. Rows are
// idempotent across runs through their idempotencyKey (derived from the row when the column is empty).
// A customer name resolves only among the customers of the row's reseller (its `reseller` column or
// --reseller): the same name at another reseller must never receive the license. Cells that a
// spreadsheet would run as a formula are written with a leading `'` and read back without it.
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/core';
import { createHash } from 'node:crypto';
import { AppError, ErrorCode, badInput, isAppError } from '../../errors';
import { Customer } from '../customers/customer.entity';
import { Reseller } from '../resellers/reseller.entity';
import { customerProblems, resellerSuspended } from '../resellers/reseller-suspension';
import { License } from '../licenses/license.entity';
import { MAX_KEY_ATTEMPTS, persistNewLicense } from '../licenses/license.service';
import { stringifyCells } from './csv-cells';
import { parseRow, readCsvLines, type ParsedRow } from './license-rows';

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

type ReadyRow = ParsedRow & { customer: Customer; idempotencyKey: string };

/**
 * Without a key, the row's own content is its key: re-running the file still creates nothing twice.
 * The customer enters by its id (for a row naming it by id the same text as ever), so "Acme" of two
 * resellers are two licenses, not one.
 */
function derivedKey(customer: Customer, row: ParsedRow): string {
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

/** The customers the rows' references can mean: by id, or by exact name at any reseller. */
async function findCandidates(
  em: EntityManager,
  refs: string[],
): Promise<{ byId: Map<string, Customer>; byName: Map<string, Customer[]> }> {
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

/** The resellers of these ids that exist, each with whether it is suspended (one lookup per BATCH ids). */
async function resellersByIds(em: EntityManager, ids: string[]): Promise<Map<string, { suspended: boolean }>> {
  const found = new Map<string, { suspended: boolean }>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += BATCH) {
    const chunk = unique.slice(i, i + BATCH);
    for (const r of await em.find(Reseller, { id: { $in: chunk } }, { fields: ['id', 'suspendedAt'] })) {
      found.set(r.id, { suspended: r.suspendedAt !== null });
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
function resolveRow(
  row: ParsedRow,
  candidates: { byId: Map<string, Customer>; byName: Map<string, Customer[]> },
  resellers: ReadonlyMap<string, unknown>,
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

export async function importLicenses(
  em: EntityManager,
  text: string,
  options: { dryRun?: boolean; now?: Date; resellerId?: string; onProgress?: (done: number, total: number) => void } = {},
): Promise<ImportSummary> {
  const now = options.now ?? new Date();
  const resellerOption = options.resellerId ?? null;
  // A wrong --reseller fails the file before anything is read or written.
  if (resellerOption && !(await resellersByIds(em, [resellerOption])).has(resellerOption)) {
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

  const candidates = await findCandidates(
    em,
    parsed.map((row) => row.customerRef),
  );
  // The rows' reseller column and the candidate customers' resellers, in one lookup.
  const resellers = await resellersByIds(em, [
    ...parsed.flatMap((row) => (row.resellerId ? [row.resellerId] : [])),
    ...[...candidates.byId.values(), ...[...candidates.byName.values()].flat()].map((customer) => customer.reseller.id),
  ]);
  const ready: ReadyRow[] = [];
  for (const row of parsed) {
    try {
      const customer = resolveRow(row, candidates, resellers);
      // Nothing is imported under a suspended reseller (persistNewLicense checks again in the transaction).
      if (resellers.get(customer.reseller.id)?.suspended) throw resellerSuspended();
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
      (await em.find(License, { idempotencyOwnerId: IMPORT_OWNER, idempotencyKey: { $in: chunk.map((r) => r.idempotencyKey) } })).map(
        (l) => [l.idempotencyKey!, l],
      ),
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
      // The batch's customers are checked (and locked) at once, then the rows go out with one flush.
      const customers = [...new Map(rows.map((row) => [row.customer.id, row.customer])).values()];
      const problems = await customerProblems(
        tx,
        customers.map((customer) => ({ id: customer.id, resellerId: customer.reseller.id })),
      );
      const [problem] = problems.values();
      if (problem) throw problem;
      const created: RowResult[] = [];
      for (const row of rows) {
        const license = await persistNewLicense(
          tx,
          { ...row, idempotencyOwnerId: IMPORT_OWNER },
          { actorId: null, clientAddress: 'cli:import' },
          { customerLocked: true },
        );
        created.push({ line: row.line, status: 'created', licenseId: license.id, key: license.key });
      }
      return created;
    });
  } catch (error) {
    // A customer suspended or transferred since the rows were resolved: that row fails, the others go on.
    if (isAppError(error)) {
      if (rows.length === 1) return [errorRow(rows[0]!.line, error)];
      const out: RowResult[] = [];
      for (const row of rows) out.push(...(await createBatch(em, [row])));
      return out;
    }
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
