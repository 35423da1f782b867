// Reading a license CSV file: the columns, the records with the line each starts on, and one row's cells
// parsed and checked like createLicense's arguments (the customer is resolved later, in license-csv.ts).
import { parse } from 'csv-parse/sync';
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

/**
 * Parses the whole file; a missing column or unreadable CSV fails the file before anything is written.
 * Each record comes with the line of the file it starts on (the header is line 1), counting skipped
 * blank lines and line breaks inside quoted fields, so that the report points at the right line. A
 * record with more or fewer fields than the header is one bad row (`problem`), not a bad file.
 */
export function readCsvLines(text: string): { line: number; record: Record<string, string>; problem?: string }[] {
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
