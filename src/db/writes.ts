// Bulk writes as set operations: many rows of one table as ONE insert statement whose rows travel as ONE
// JSON parameter (an array of arrays), unpacked by the database (SQLite json_each, PostgreSQL
// json_array_elements). Thousands of rows would otherwise be tens of thousands of bind parameters (over
// SQLite's limit at 2,000 rows of 15 columns, and slow to build for the ORM), and the statement text is
// the same for every batch of a table. The columns come from the ORM's metadata, so the insert follows
// the entity; the row type names every column, so the compiler checks that a row is complete.
import type { EntityManager, EntityMetadata, EntityName, Ref } from '@mikro-orm/core';
import type { AbstractSqlConnection } from '@mikro-orm/knex';
import { isPostgres } from './sql';

/** A complete row of an entity: every property (not the methods); a relation by its id. */
export type InsertRow<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]-?: T[K] extends Ref<object> ? string : T[K];
};

interface Column {
  property: string;
  /** Dates go as epoch milliseconds on SQLite (as the ORM stores them) and as ISO 8601 text on PostgreSQL. */
  time: boolean;
}

interface TableInsert {
  columns: Column[];
  text: string;
}

const statements = new WeakMap<EntityMetadata, Map<'sqlite' | 'postgresql', TableInsert>>();

function tableInsert(em: EntityManager, entity: EntityName<object>): TableInsert {
  const meta = em.getMetadata().get(entity);
  const engine = isPostgres(em) ? 'postgresql' : 'sqlite';
  let byEngine = statements.get(meta);
  if (!byEngine) statements.set(meta, (byEngine = new Map()));
  const cached = byEngine.get(engine);
  if (cached) return cached;
  const props = meta.props.filter((p) => p.persist !== false && (p.kind === 'scalar' || p.kind === 'm:1') && p.fieldNames?.length === 1);
  const columns = props.map((p) => ({ property: p.name, time: p.runtimeType === 'Date' || p.type === 'datetime' }));
  const names = props.map((p) => `"${p.fieldNames[0]}"`).join(', ');
  const text =
    engine === 'postgresql'
      ? `insert into "${meta.tableName}" (${names}) select ${props
          .map((p, i) => `(r->>${i})::${p.columnTypes[0]}`)
          .join(', ')} from json_array_elements(?::json) as r`
      : `insert into "${meta.tableName}" (${names}) select ${props.map((_, i) => `json_extract(value, '$[${i}]')`).join(', ')} from json_each(?)`;
  const insert = { columns, text };
  byEngine.set(engine, insert);
  return insert;
}

/**
 * Inserts the rows in one statement, in `em`'s transaction when it has one. A constraint violation fails
 * the whole statement (and so the caller's transaction), as the ORM's own multi-row insert would.
 */
export async function insertRows<T extends object>(em: EntityManager, entity: EntityName<T>, rows: readonly InsertRow<T>[]): Promise<void> {
  if (rows.length === 0) return;
  const { columns, text } = tableInsert(em, entity as EntityName<object>);
  const postgres = isPostgres(em);
  const values = rows.map((row) =>
    columns.map(({ property, time }) => {
      const value = (row as Record<string, unknown>)[property];
      if (value === undefined) throw new Error(`insertRows: ${property} is missing`);
      if (time && value instanceof Date) return postgres ? value.toISOString() : value.getTime();
      return value;
    }),
  );
  await bound(em, text, [JSON.stringify(values)]);
}

/**
 * Runs a statement with its parameters bound (the ORM's `execute` would inline them into the SQL text:
 * megabytes of JSON escaped, copied and parsed again as a literal), in `em`'s transaction when it has
 * one; errors converted like the ORM's (a unique violation is UniqueConstraintViolationException), and
 * reported to its query logger like every other statement.
 */
export async function bound<R = Record<string, unknown>>(em: EntityManager, text: string, params: unknown[]): Promise<R[]> {
  const connection = em.getConnection() as AbstractSqlConnection;
  const query = connection.getKnex().raw(text, params as never[]);
  const ctx = em.getTransactionContext();
  if (ctx) void query.transacting(ctx);
  const started = Date.now();
  let result: unknown;
  try {
    result = await query;
  } catch (error) {
    throw em
      .getPlatform()
      .getExceptionConverter()
      .convertException(error as Error);
  }
  // knex answers with pg's result ({ rows }) on PostgreSQL and the rows themselves on SQLite.
  const rows = (Array.isArray(result) ? result : ((result as { rows?: R[] }).rows ?? [])) as R[];
  em.config.getLogger().logQuery({ query: text, took: Date.now() - started, results: rows.length, level: 'info' });
  return rows;
}

/**
 * `column` is one of a list of values, the list as ONE JSON parameter however many values it holds (one
 * statement text whatever the batch size). On PostgreSQL as `= any(array(...))`, an index condition on the
 * column whatever the planner believes of the table's size (an `in (subquery)` may turn into a scan of every
 * row of the leading column's value joined by hash, which grows with the table while its statistics lag).
 */
export function inJsonList(em: EntityManager, column: string): string {
  return isPostgres(em)
    ? `${column} = any(array(select json_array_elements_text(?::json)))`
    : `${column} in (select value from json_each(?))`;
}
