// Hand-written SQL for the read paths that every request takes (the session lookup, the license
// page): the same statement on SQLite and PostgreSQL, without the QueryBuilder and entity mapping,
// which cost more than the database does on these paths. Only parameters carry values; the SQL text is fixed. Reader
// (reader.ts) runs them.
import type { EntityManager } from '@mikro-orm/core';
import { PostgreSqlPlatform } from '@mikro-orm/postgresql';

/** A SQL fragment and its `?` parameters. */
export interface Sql {
  text: string;
  params: unknown[];
}

export function sql(text: string, ...params: unknown[]): Sql {
  return { text, params };
}

/** The fragments joined with AND; no fragment means no condition ("1 = 1"). */
export function and(parts: readonly Sql[]): Sql {
  if (parts.length === 0) return sql('1 = 1');
  if (parts.length === 1) return parts[0]!;
  return { text: parts.map((p) => `(${p.text})`).join(' and '), params: parts.flatMap((p) => p.params) };
}

/** The fragments joined with OR (none: matches nothing). */
export function or(parts: readonly Sql[]): Sql {
  if (parts.length === 0) return sql('1 = 0');
  return { text: parts.map((p) => `(${p.text})`).join(' or '), params: parts.flatMap((p) => p.params) };
}

export function isPostgres(em: EntityManager): boolean {
  return em.getPlatform() instanceof PostgreSqlPlatform;
}

/** A timestamp parameter as the engine stores it: epoch milliseconds on SQLite, a timestamptz on PostgreSQL. */
export function timeParam(em: EntityManager, at: Date): Date | number {
  return isPostgres(em) ? at : at.getTime();
}

/** A timestamp column as read without entity mapping (a Date, or epoch ms / ISO text on SQLite). */
export function readTime(value: Date | number | string): Date {
  return value instanceof Date ? value : new Date(value);
}

export function readTimeOrNull(value: Date | number | string | null): Date | null {
  return value === null ? null : readTime(value);
}

/** A boolean column as read without mapping (0/1 on SQLite). */
export function readBoolean(value: boolean | number): boolean {
  return value === true || value === 1;
}
