// The read path of the hand-written hot statements (src/db/sql.ts): prepared statements run on the
// driver directly, without the ORM's query builder, knex's runner or inlined parameters.
//
// - SQLite (a file): its own read connections (query_only), as WAL mode allows: reads never wait
//   behind the single writer connection of the ORM, where sign-ins and other writes queue.
// - PostgreSQL: a connection from the ORM's pool, with a named prepared statement per SQL text.
// - Inside a transaction, or on an in-memory SQLite database: the ORM's own connection.
//
// Every statement is reported to the ORM's query logger, so statement counts see them all.
import type { EntityManager } from '@mikro-orm/core';
import type { AbstractSqlConnection } from '@mikro-orm/knex';
import { createHash } from 'node:crypto';
import type { DatabaseConfig } from '../config';
import type { Sql } from './sql';

export interface Reader {
  /**
   * The rows of one read-only statement, in the request's transaction when there is one. With `packed`
   * (the statement's result columns, and the order of its rows in terms of them), the database returns
   * them as one JSON text (see packedSql): the same rows, in the same order, with the types JSON has
   * (timestamps as stored on SQLite, as ISO 8601 text on PostgreSQL: readTime reads both).
   */
  rows<R>(em: EntityManager, statement: Sql, packed?: Packing): Promise<R[]>;
  close(): Promise<void>;
}

/** The result columns of a statement (their aliases, in order) and the order of its rows over them. */
export interface Packing {
  columns: readonly string[];
  /** e.g. `"l_createdAt" desc, "l_id" desc`; none when the caller does not need an order. */
  orderBy?: string;
}

/** Distinct SQL texts kept prepared per connection (the unfiltered pages and the session lookup are a handful). */
const MAX_PREPARED = 200;
/** SQLite read connections: reads run in parallel with the writer and with each other. */
const SQLITE_READ_CONNECTIONS = 2;

interface SqliteStatement {
  all(params: unknown[], cb: (err: Error | null, rows: unknown[]) => void): void;
  finalize(cb?: () => void): void;
}

interface SqliteDatabase {
  prepare(sql: string, cb: (err: Error | null) => void): SqliteStatement;
  exec(sql: string, cb: (err: Error | null) => void): void;
  configure(option: 'busyTimeout', value: number): void;
  close(cb: (err: Error | null) => void): void;
}

interface PgClient {
  query(config: { name?: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

interface KnexClient {
  acquireConnection(): Promise<PgClient>;
  releaseConnection(connection: PgClient): Promise<unknown>;
}

/**
 * A page of rows as one value: the driver turns each result column of each row into a JS value through its
 * native (sqlite3) or JavaScript (pg) row builder, which cost more than the statement itself on the license
 * page (test/bench/packing.ts, 51 rows: about half the process's CPU per read on either engine). The
 * database makes one JSON array of arrays instead, which JSON.parse reads at once. The ORM's query log
 * shows the statement as written, not its wrapping.
 */
function packedSql(statement: Sql, packing: Packing, postgres: boolean): Sql {
  const values = packing.columns.map((column) => `p.${quoteAlias(column)}`).join(', ');
  const order = packing.orderBy
    ? ` order by ${packing.orderBy.replace(/"([^"]+)"/g, (_, column: string) => `p.${quoteAlias(column)}`)}`
    : '';
  const text = postgres
    ? `select coalesce(json_agg(json_build_array(${values})${order}), '[]')::text as j from (${statement.text}) p`
    : // group_concat, not json_group_array: SQLite's aggregate ORDER BY loses the JSON subtype of its values.
      `select '[' || coalesce(group_concat(json_array(${values}), ','${order}), '') || ']' as j from (${statement.text}) p`;
  return { text, params: statement.params };
}

function quoteAlias(column: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(column)) throw new Error(`not a column alias: ${column}`);
  return `"${column}"`;
}

/**
 * Per column list, a function that makes a row object from its array of values with one object literal
 * (constant keys: one hidden class, no per-column keyed stores). The lists are the code's own (a handful),
 * and every name has passed quoteAlias's check before it gets here.
 */
const rowMakers = new Map<string, (values: unknown[]) => unknown>();

function rowMaker(columns: readonly string[]): (values: unknown[]) => unknown {
  const key = columns.join(',');
  let make = rowMakers.get(key);
  if (!make) {
    make = new Function('v', `return { ${columns.map((column, i) => `${JSON.stringify(column)}: v[${i}]`).join(', ')} };`) as (
      values: unknown[],
    ) => unknown;
    rowMakers.set(key, make);
  }
  return make;
}

function unpack<R>(rows: { j: string }[], packing: Packing): R[] {
  const make = rowMaker(packing.columns);
  return (JSON.parse(rows[0]!.j) as unknown[][]).map((values) => make(values) as R);
}

function ormRows<R>(em: EntityManager, statement: Sql): Promise<R[]> {
  const connection = em.getConnection() as AbstractSqlConnection;
  return connection.execute(statement.text, statement.params, 'all', em.getTransactionContext()) as Promise<R[]>;
}

function logQuery(em: EntityManager, text: string, started: number, results: number): void {
  em.config.getLogger().logQuery({ query: text, took: Date.now() - started, results, level: 'info' });
}

/** Keeps at most MAX_PREPARED entries, dropping (and finalizing) the oldest. */
class PreparedCache<S> {
  private readonly entries = new Map<string, S>();

  constructor(private readonly dispose: (statement: S) => void = () => undefined) {}

  delete(text: string): S | undefined {
    const statement = this.entries.get(text);
    this.entries.delete(text);
    return statement;
  }

  get(text: string, prepare: () => S): S {
    let statement = this.entries.get(text);
    if (statement === undefined) {
      statement = prepare();
      this.entries.set(text, statement);
      if (this.entries.size > MAX_PREPARED) {
        const [oldest, dropped] = this.entries.entries().next().value as [string, S];
        this.entries.delete(oldest);
        this.dispose(dropped);
      }
    }
    return statement;
  }

  clear(): S[] {
    const all = [...this.entries.values()];
    this.entries.clear();
    return all;
  }
}

class SqliteReadConnection {
  private readonly statements = new PreparedCache<SqliteStatement>((s) => s.finalize());

  private constructor(private readonly db: SqliteDatabase) {}

  static async open(path: string): Promise<SqliteReadConnection> {
    // Loaded here: only a SQLite deployment needs the driver.
    const sqlite3 = (await import('sqlite3')).default as unknown as {
      Database: new (path: string, mode: number, cb: (err: Error | null) => void) => SqliteDatabase;
      OPEN_READWRITE: number;
    };
    const db = await new Promise<SqliteDatabase>((resolve, reject) => {
      const opened: SqliteDatabase = new sqlite3.Database(path, sqlite3.OPEN_READWRITE, (err) => (err ? reject(err) : resolve(opened)));
    });
    db.configure('busyTimeout', 5000);
    // A read connection can only read, whatever statement reaches it.
    await new Promise<void>((resolve, reject) => db.exec('pragma query_only = ON', (err) => (err ? reject(err) : resolve())));
    return new SqliteReadConnection(db);
  }

  all<R>(statement: Sql): Promise<R[]> {
    const prepared = this.statements.get(statement.text, () =>
      // A statement that fails to prepare reports the error again in all() below.
      this.db.prepare(statement.text, () => undefined),
    );
    return new Promise((resolve, reject) =>
      prepared.all(statement.params, (err, rows) => {
        if (!err) return resolve(rows as R[]);
        // Prepared again next time: a statement that failed (to prepare, or with a changed schema) is not kept.
        this.statements.delete(statement.text)?.finalize();
        reject(err);
      }),
    );
  }

  close(): Promise<void> {
    for (const statement of this.statements.clear()) statement.finalize();
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}

class SqliteReader implements Reader {
  private connections: Promise<SqliteReadConnection[]> | undefined;
  private closed = false;
  private next = 0;

  constructor(private readonly path: string) {}

  private open(): Promise<SqliteReadConnection[]> {
    // Opened on first use (the CLI's commands mostly never read this way); a failed open is retried.
    this.connections ??= Promise.all(Array.from({ length: SQLITE_READ_CONNECTIONS }, () => SqliteReadConnection.open(this.path))).catch(
      (error: unknown) => {
        this.connections = undefined;
        throw error;
      },
    );
    return this.connections;
  }

  async rows<R>(em: EntityManager, statement: Sql, packed?: Packing): Promise<R[]> {
    // After close (shutdown), a late read goes to the ORM, which answers as a closed database does.
    if (em.getTransactionContext() || this.closed) return ormRows(em, statement);
    const connections = await this.open();
    const connection = connections[this.next++ % connections.length]!;
    const started = Date.now();
    // Timestamps arrive as stored (timeParam: epoch milliseconds on SQLite).
    const rows = packed
      ? unpack<R>(await connection.all<{ j: string }>(packedSql(statement, packed, false)), packed)
      : await connection.all<R>(statement);
    logQuery(em, statement.text, started, rows.length);
    return rows;
  }

  async close(): Promise<void> {
    this.closed = true;
    const connections = this.connections;
    this.connections = undefined;
    if (connections) await Promise.all((await connections.catch(() => [])).map((c) => c.close()));
  }
}

/** `?` placeholders as PostgreSQL's $1, $2, ... (the hot statements hold no `?` inside literals). */
function numbered(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

class PostgresReader implements Reader {
  /**
   * The first MAX_PREPARED distinct texts become named statements, which every pooled connection
   * prepares (and plans) once; rarer shapes beyond them run unnamed, so no connection ever holds more
   * than MAX_PREPARED prepared statements.
   */
  private readonly named = new Map<string, { name?: string; text: string }>();

  private prepared(text: string): { name?: string; text: string } {
    let prepared = this.named.get(text);
    if (!prepared) {
      prepared = { text: numbered(text) };
      if (this.named.size < MAX_PREPARED) {
        prepared.name = `lp_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
        this.named.set(text, prepared);
      }
    }
    return prepared;
  }

  async rows<R>(em: EntityManager, statement: Sql, packed?: Packing): Promise<R[]> {
    if (em.getTransactionContext()) return ormRows(em, statement);
    const run = packed ? packedSql(statement, packed, true) : statement;
    const prepared = this.prepared(run.text);
    const client = (em.getConnection() as AbstractSqlConnection).getKnex().client as unknown as KnexClient;
    const started = Date.now();
    const connection = await client.acquireConnection();
    try {
      const result = await connection.query({ ...prepared, values: run.params });
      const rows = packed ? unpack<R>(result.rows as { j: string }[], packed) : (result.rows as R[]);
      logQuery(em, statement.text, started, rows.length);
      return rows;
    } finally {
      await client.releaseConnection(connection);
    }
  }

  async close(): Promise<void> {
    // The connections belong to the ORM's pool, closed with the ORM.
  }
}

class OrmReader implements Reader {
  rows<R>(em: EntityManager, statement: Sql): Promise<R[]> {
    return ormRows(em, statement);
  }

  async close(): Promise<void> {}
}

export function createReader(database: DatabaseConfig): Reader {
  if (database.engine === 'postgresql') return new PostgresReader();
  // A second connection to ':memory:' would be a different, empty database.
  if (database.path === ':memory:') return new OrmReader();
  return new SqliteReader(database.path);
}
