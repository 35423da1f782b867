// The database as the server leaves it after start-up: migrations match the entities on both engines,
// and SQLite runs in WAL mode with foreign keys enforced.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openOrm, type Orm } from '../../src/db/orm';
import { startTestServer, usingPostgres, type TestServer } from '../helpers/server';

describe('database', () => {
  let s: TestServer;
  before(async () => (s = await startTestServer()));
  after(() => s.stop());

  it('on PostgreSQL: is migrated to exactly the schema the entities describe (no pending difference)', async function () {
    if (!usingPostgres()) this.skip();
    // dropTables: false keeps the migrator's own bookkeeping table out of the comparison.
    const diff = await s.app.services.orm.getSchemaGenerator().getUpdateSchemaSQL({
      wrap: false,
      dropTables: false,
      schema: s.config.database.engine === 'postgresql' ? s.config.database.schema : undefined,
    });
    expect(diff.trim()).to.equal('');
  });

  it('on SQLite: has exactly the tables and indexes a schema generated from the entities has', async function () {
    if (usingPostgres()) this.skip();
    // MikroORM's SQLite introspection misreads enum checks and foreign keys, so compare the DDL itself.
    const objects = async (orm: Orm) =>
      (
        await orm.em
          .fork()
          .getConnection()
          .execute<{ type: string; name: string; sql: string }[]>(
            "select type, name, sql from sqlite_master where name not like 'sqlite_%' and name not like 'mikro_orm_%' order by type, name",
          )
      ).map((row) => `${row.type} ${row.name}: ${row.sql.replace(/\s+/g, ' ')}`);
    const dir = mkdtempSync(join(tmpdir(), 'lp-ddl-'));
    const fresh = await openOrm({ engine: 'sqlite', path: join(dir, 'fresh.sqlite') });
    try {
      await fresh.getSchemaGenerator().createSchema();
      expect(await objects(s.app.services.orm)).to.deep.equal(await objects(fresh));
    } finally {
      await fresh.close(true);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('records the applied migrations and applies nothing twice on a second start', async () => {
    const migrator = s.app.services.orm.getMigrator();
    expect(await migrator.getPendingMigrations()).to.deep.equal([]);
    expect((await migrator.getExecutedMigrations()).length).to.be.greaterThan(0);
  });

  it('on SQLite: journal mode is WAL and foreign keys are enforced', async function () {
    if (usingPostgres()) this.skip();
    const conn = s.app.services.orm.em.fork().getConnection();
    const [mode] = await conn.execute<{ journal_mode: string }[]>('pragma journal_mode');
    expect(mode!.journal_mode).to.equal('wal');
    const [fk] = await conn.execute<{ foreign_keys: number }[]>('pragma foreign_keys');
    expect(fk!.foreign_keys).to.equal(1);
    let refused = false;
    try {
      await conn.execute(
        "insert into customer (id, name, reseller_id, created_at, updated_at) values ('cus_000000000000000000000001', 'x', 'rsl_missing', 0, 0)",
      );
    } catch {
      refused = true;
    }
    expect(refused, 'a customer of a missing reseller must be refused').to.equal(true);
  });
});
