// The database as the server leaves it after start-up: migrations match the entities on both engines,
// and SQLite runs in WAL mode with foreign keys enforced. The hot read path (src/db/reader.ts): reads
// never wait behind a write transaction nor see its uncommitted rows, read inside a transaction through
// it, and cannot write on SQLite's read connections.
import { expect } from 'chai';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Role } from '../../src/common/enums';
import { openOrm, type Orm } from '../../src/db/orm';
import { sql } from '../../src/db/sql';
import { License } from '../../src/modules/licenses/license.entity';
import { makeCustomer, makeLicense, makeReseller, makeUser, signIn } from '../factories';
import { startTestServer, usingPostgres, type TestServer } from '../helpers/server';

const SEATS = '{ licenses(first: 10) { totalCount edges { node { id seats } } } }';

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

  describe('the hot read path', () => {
    it('answers the license list while another request holds a write transaction, without its uncommitted change', async () => {
      const reseller = await makeReseller(s);
      const license = await makeLicense(s, await makeCustomer(s, reseller), { seats: 5 });
      const token = await signIn(s, await makeUser(s, { role: Role.RESELLER, reseller }));
      const seatsSeen = async () => {
        const res = await s.gql<{ licenses: { totalCount: number; edges: { node: { id: string; seats: number } }[] } }>(SEATS, {}, token);
        expect(res.status, JSON.stringify(res.errors)).to.equal(200);
        return res.data!.licenses.edges.map((e) => e.node.seats);
      };
      await s.app.services.orm.em.fork().transactional(async (tx) => {
        // On SQLite this transaction holds the ORM's only connection and the write lock until it ends.
        await tx.nativeUpdate(License, { id: license.id }, { seats: 99 });
        expect(await seatsSeen()).to.deep.equal([5]);
      });
      expect(await seatsSeen()).to.deep.equal([99]);
    });

    it('reads inside a transaction through that transaction, seeing its own uncommitted rows', async () => {
      const license = await makeLicense(s, await makeCustomer(s, await makeReseller(s)), { seats: 5 });
      const { reader } = s.app.services;
      const seatsOf = (rows: { seats: number }[]) => rows.map((r) => r.seats);
      await s.app.services.orm.em.fork().transactional(async (tx) => {
        await tx.nativeUpdate(License, { id: license.id }, { seats: 42 });
        expect(seatsOf(await reader.rows(tx, sql('select seats from license where id = ?', license.id)))).to.deep.equal([42]);
      });
    });

    it('on SQLite: the read connections refuse to write', async function () {
      if (usingPostgres()) this.skip();
      const license = await makeLicense(s, await makeCustomer(s, await makeReseller(s)), { seats: 5 });
      const em = s.app.services.orm.em.fork();
      let error: Error | null = null;
      try {
        await s.app.services.reader.rows(em, sql('update license set seats = 1 where id = ?', license.id));
      } catch (caught) {
        error = caught as Error;
      }
      expect(error?.message).to.match(/readonly|read-only/i);
      const [row] = await s.app.services.reader.rows<{ seats: number }>(em, sql('select seats from license where id = ?', license.id));
      expect(row!.seats).to.equal(5);
    });
  });

  describe('files', () => {
    const modeOf = (path: string) => statSync(path).mode & 0o777;
    const dataFiles = (dataDir: string) => [dataDir, ...readdirSync(dataDir).map((name) => join(dataDir, name))];
    let root: string;
    let umask: number;
    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), 'lp-files-'));
      // The usual umask, under which files are created readable by everyone unless made otherwise.
      umask = process.umask(0o022);
    });
    afterEach(() => {
      process.umask(umask);
      rmSync(root, { recursive: true, force: true });
    });

    function env(dataDir: string): Record<string, string> {
      // SQLite in a data folder that does not exist yet; no SECRET_KEY, so the development key is kept there too.
      return { DATA_DIR: dataDir, DATABASE_URL: `sqlite:${join(dataDir, 'portal.sqlite')}`, SECRET_KEY: '' };
    }

    it('on a fresh start the data folder, the SQLite file with its -wal and -shm, and secret.key are readable by the owner only', async () => {
      const dataDir = join(root, 'new', 'data');
      const server = await startTestServer(env(dataDir));
      try {
        await makeReseller(server);
        const names = readdirSync(dataDir).sort();
        expect(names).to.include.members(['portal.sqlite', 'portal.sqlite-wal', 'portal.sqlite-shm', 'secret.key']);
        expect(modeOf(dataDir).toString(8)).to.equal('700');
        for (const name of names) expect(modeOf(join(dataDir, name)).toString(8), name).to.equal('600');
      } finally {
        await server.stop();
      }
    });

    it('an older install with a readable data folder and SQLite file (and a leftover -wal and -shm) is tightened at start', async () => {
      const dataDir = join(root, 'data');
      const first = await startTestServer(env(dataDir));
      await first.stop();
      // As an older version left them: rwxr-xr-x and rw-r--r--.
      chmodSync(dataDir, 0o755);
      chmodSync(join(dataDir, 'portal.sqlite'), 0o644);
      for (const leftover of ['portal.sqlite-wal', 'portal.sqlite-shm'])
        writeFileSync(join(dataDir, leftover), '', { flag: 'a', mode: 0o644 });
      chmodSync(join(dataDir, 'portal.sqlite-wal'), 0o644);
      chmodSync(join(dataDir, 'portal.sqlite-shm'), 0o644);

      const second = await startTestServer(env(dataDir));
      try {
        expect(await makeReseller(second)).to.have.property('id');
        for (const path of dataFiles(dataDir)) expect(modeOf(path) & 0o077, path).to.equal(0);
        expect(readdirSync(dataDir)).to.include.members(['portal.sqlite-wal', 'portal.sqlite-shm']);
      } finally {
        await second.stop();
      }
    });
  });
});
