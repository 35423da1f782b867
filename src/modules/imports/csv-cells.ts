// CSV cells as this application writes and reads them: a cell that a spreadsheet would run as a formula
// is written with a leading `'` (FLOWS.md section 8) and read back without it.
import { stringify } from 'csv-stringify/sync';

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
export const stringifyCells = (rows: unknown[][], options: Parameters<typeof stringify>[1] = {}) =>
  stringify(rows, { ...options, cast: { string: escapeCell } });

/** A trimmed, unescaped text cell of a parsed record. */
export const textCell = (record: Record<string, string>, column: string) => unescapeCell((record[column] ?? '').trim());

/** The number of line breaks in a text. */
export const lineBreaks = (text: string) => text.match(/\r\n|\r|\n/g)?.length ?? 0;
