// Opens the database described by the config: SQLite (WAL, foreign keys on) or PostgreSQL, same
// entities and migrations. Migrations are the only way the schema changes.
import { MikroORM as PgORM, type Options as PgOptions } from '@mikro-orm/postgresql';
import { MikroORM as SqliteORM, type Options as SqliteOptions } from '@mikro-orm/sqlite';
import { Migrator } from '@mikro-orm/migrations';
import { dirname } from 'node:path';
import { makeFolder, privateSqliteFile } from '../common/private-files';
import type { DatabaseConfig } from '../config';
import { migrationsList } from '../../migrations';
import { entities } from './entities';
import { isPostgres } from './sql';

export type Orm = SqliteORM | PgORM;

interface SqliteConnectionHandle {
  run(sql: string, cb: (err: Error | null) => void): void;
}

// busy_timeout first: switching to WAL needs a lock too, and a second process opening the file while the
// first one writes would otherwise fail at once with SQLITE_BUSY instead of waiting.
const SQLITE_PRAGMAS = [
  'pragma busy_timeout = 5000',
  'pragma journal_mode = WAL',
  'pragma foreign_keys = ON',
  'pragma synchronous = NORMAL',
];

function sqlitePragmas(conn: SqliteConnectionHandle, done: (err: Error | null, conn: unknown) => void): void {
  const next = (i: number): void => {
    if (i === SQLITE_PRAGMAS.length) return done(null, conn);
    conn.run(SQLITE_PRAGMAS[i]!, (err) => (err ? done(err, conn) : next(i + 1)));
  };
  next(0);
}

export interface OrmOptions {
  debug?: boolean;
  /** Receives every SQL statement (used by the statement-count tests and the benchmark). */
  onQuery?: (sql: string) => void;
}

function commonOptions(options: OrmOptions) {
  return {
    entities,
    extensions: [Migrator],
    migrations: { migrationsList, transactional: true, allOrNothing: true, snapshot: false },
    allowGlobalContext: false,
    forceUtcTimezone: true,
    ignoreUndefinedInQuery: true,
    debug: options.onQuery ? (['query'] as const) : false,
    logger: options.onQuery ? (message: string) => options.onQuery!(message) : () => undefined,
    discovery: { warnWhenNoEntities: true },
  };
}

export async function openOrm(database: DatabaseConfig, options: OrmOptions = {}): Promise<Orm> {
  if (database.engine === 'sqlite') {
    if (database.path !== ':memory:') {
      makeFolder(dirname(database.path));
      privateSqliteFile(database.path);
    }
    const sqliteOptions: SqliteOptions = {
      ...commonOptions(options),
      dbName: database.path,
      pool: { min: 1, max: 1, afterCreate: sqlitePragmas },
    } as SqliteOptions;
    return SqliteORM.init(sqliteOptions);
  }
  const schema = database.schema;
  const pgOptions: PgOptions = {
    ...commonOptions(options),
    clientUrl: database.url,
    ...(schema ? { schema } : {}),
    pool: {
      min: 0,
      max: 10,
      // A named schema (used for isolated test and CI runs) is selected through search_path, so the
      // same unqualified migrations work in it.
      afterCreate: schema
        ? (conn: { query(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) =>
            conn.query(`create schema if not exists "${schema}"; set search_path to "${schema}"`, (err) => done(err, conn))
        : undefined,
    },
  } as PgOptions;
  return PgORM.init(pgOptions);
}

/** How long a process starting next to another one on the same SQLite file waits for that one's migrations. */
const SQLITE_MIGRATION_WAIT_MS = 30_000;

/**
 * Applies pending migrations. Several processes may start at once on one database (scale-out, rolling
 * deploys, concurrent CLI runs): only one of them may migrate, the others must then find nothing pending.
 */
export async function migrate(orm: Orm): Promise<void> {
  if (isPostgres(orm.em)) {
    // One migrator per schema at a time: an advisory lock held by a transaction on a connection of its
    // own (the migrator uses other pool connections) until the migrations are committed.
    const knex = (orm as PgORM).em.getConnection().getKnex();
    await knex.transaction(async (trx) => {
      await trx.raw(`select pg_advisory_xact_lock(hashtext('license-portal:migrate:' || current_schema()))`);
      await orm.getMigrator().up();
    });
    return;
  }
  // SQLite: a second process migrating the same file at the same moment fails (SQLITE_BUSY, or a table
  // the first one just created). Its transaction was rolled back whole; look again for pending ones, for
  // as long as the first one may reasonably take (every migration, on a busy machine).
  const deadline = Date.now() + SQLITE_MIGRATION_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      await orm.getMigrator().up();
      return;
    } catch (error) {
      const busy = /SQLITE_BUSY|already exists/i.test(error instanceof Error ? error.message : String(error));
      if (!busy || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 100 * attempt) + Math.random() * 100));
    }
  }
}
