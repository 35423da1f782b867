// Reading a license CSV file: the columns, the records with the line each starts on, and one row's cells
// parsed and checked like createLicense's arguments (the customer is resolved later, in license-csv.ts).
import { Parser } from 'csv-parse';
import { LicenseKind } from '../../common/enums';
import { badInput } from '../../errors';
import { checkIdempotencyKey, checkKind, checkSeats, checkWindow } from '../licenses/license-rules';
import { CsvFormatError, lineBreaks, textCell } from './csv-cells';

export const LICENSE_COLUMNS = ['customer', 'kind', 'seats', 'validFrom', 'validUntil', 'idempotencyKey'] as const;
/** `reseller` (optional) scopes the row's customer name; the export names customers by id and needs none. */
export const IMPORT_COLUMNS = [...LICENSE_COLUMNS, 'reseller'] as const;
const REQUIRED_COLUMNS = ['customer', 'kind', 'seats', 'validUntil'];

export interface ParsedRow {
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

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function parseDate(value: string, field: string): Date | null {
  if (value === '') return null;
  if (!ISO_DATE.test(value)) throw badInput(`${field} must be an ISO 8601 date such as 2027-01-31 or 2027-01-31T00:00:00Z.`, field);
  const date = new Date(value.length === 10 ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(date.getTime())) throw badInput(`${field} is not a valid date.`, field);
  return date;
}

export function parseRow(record: Record<string, string>, line: number, now: Date, resellerOption: string | null): ParsedRow {
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

/** A record of the file: the line it starts on (the header is line 1) and its cells by column name. */
export interface CsvRecord {
  line: number;
  record: Record<string, string>;
  /** Set when the record has more or fewer fields than the header: a bad row, not a bad file. */
  problem?: string;
}

/** The transform API under csv-parse's stream (6.1.0, pinned): records pushed synchronously, with its counters. */
interface CsvParseApi {
  parse(chunk: Buffer | undefined, end: boolean, push: (record: string[]) => void, close: () => void): Error | undefined;
  info: { empty_lines: number };
}

/**
 * Reads the file as it arrives: yields its records chunk by chunk (one array per chunk read), so that a
 * file of any size is never held whole. A missing column or unreadable CSV throws CsvFormatError (a
 * missing column before any record is yielded). Each record comes with the line of the file it starts
 * on, counting skipped blank lines (the parser's counter, read as each record is pushed) and line
 * breaks inside quoted fields (counted in the fields: the parser's own line counter counts a quoted
 * CRLF twice). A record with more or fewer fields than the header is one bad row (`problem`).
 */
export async function* readCsvRecords(source: AsyncIterable<Buffer | string>): AsyncGenerator<CsvRecord[]> {
  const parser = new Parser({ skip_empty_lines: true, bom: true, relax_column_count: true });
  const api = (parser as unknown as { api: CsvParseApi }).api;
  let header: string[] | null = null;
  // Where each column's cells are: the header's names trimmed; of a name given twice, the last.
  let positions: [string, number][] = [];
  let lastLine = 1;
  let emptyLines = 0;
  let out: CsvRecord[] = [];
  const push = (cells: string[]) => {
    const skipped = api.info.empty_lines - emptyLines;
    emptyLines = api.info.empty_lines;
    if (header === null) {
      header = cells.map((name) => name.trim());
      const missing = REQUIRED_COLUMNS.filter((c) => !header!.includes(c));
      if (missing.length) throw new CsvFormatError(`missing column(s): ${missing.join(', ')} (expected: ${IMPORT_COLUMNS.join(',')})`);
      positions = IMPORT_COLUMNS.flatMap((c) => (header!.includes(c) ? [[c, header!.lastIndexOf(c)] as [string, number]] : []));
      return;
    }
    const line = lastLine + 1 + skipped;
    let breaks = 0;
    for (const cell of cells) if (cell.includes('\n') || cell.includes('\r')) breaks += lineBreaks(cell);
    lastLine = line + breaks;
    const record: Record<string, string> = {};
    for (const [column, at] of positions) if (at < cells.length) record[column] = cells[at]!;
    out.push(
      cells.length === header.length
        ? { line, record }
        : { line, record, problem: `The row has ${cells.length} field(s) where the header has ${header.length}.` },
    );
  };
  const feed = (chunk: Buffer | undefined, end: boolean) => {
    const error = api.parse(chunk, end, push, () => undefined);
    if (error) throw new CsvFormatError(`the file is not valid CSV: ${error.message}`);
  };
  for await (const chunk of source) {
    feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, false);
    if (out.length > 0) {
      yield out;
      out = [];
    }
  }
  feed(undefined, true);
  if (header === null)
    throw new CsvFormatError(`missing column(s): ${REQUIRED_COLUMNS.join(', ')} (expected: ${IMPORT_COLUMNS.join(',')})`);
  if (out.length > 0) yield out;
}
