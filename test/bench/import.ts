// CSV import throughput ([throughput] goal 2): `npm run cli -- import-licenses` on a generated file of N
// rows (10 customers of one open reseller; three rows in four with an idempotencyKey, the fourth keyed by
// its content), as an operator runs it: a child process with the node flags of `npm run cli`, its report
// read from stdout as it comes, its RSS sampled from /proc. Against, in the same run and on the same
// database, what the rows cost the database alone: the same number of licenses, LICENSE_CREATED audit
// events and webhook messages (a) as the ORM's plain multi-row inserts (bind parameters, the statement
// split to stay under SQLite's bound), and (b) through src/db/writes.ts (one statement per table with
// one JSON parameter), both in transactions of the import's batch size.
//
// Standalone: node dist/test/bench/import.js --rows 50000 [--db postgres://...] [--scale small|default] [--no-baselines]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { LicenseKind } from '../../src/common/enums';
import { newId } from '../../src/common/ids';
import { loadConfig } from '../../src/config';
import { migrate, openOrm, type Orm } from '../../src/db/orm';
import { insertRows, type InsertRow } from '../../src/db/writes';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { IMPORT_BATCH } from '../../src/modules/imports/license-csv';
import { generateLicenseKey } from '../../src/modules/licenses/license-key';
import { License } from '../../src/modules/licenses/license.entity';
import { WebhookEvent } from '../../src/modules/webhooks/webhook-event.entity';
import { licenseData } from '../../src/modules/webhooks/webhook-events';
import { benchDatabase } from './servers';

const ROOT = resolve(__dirname, '../../..');
const MB = 1024 * 1024;

export interface ImportFigures {
  rows: number;
  /** The import as the CLI times it (reading, checks, writes, report), and the whole process (start-up, migrations check). */
  importMs: number;
  wallMs: number;
  rowsPerSecond: number;
  /** The same rows as the ORM's plain multi-row inserts, and through writes.ts's JSON statements. */
  plainInsertMs: number;
  plainRowsPerSecond: number;
  jsonInsertMs: number;
  jsonRowsPerSecond: number;
  ratio: number;
  peakRssMb: number;
}

/** The node flags of `npm run cli`, so that the import runs as an operator runs it. */
function cliNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { cli: string } };
  const command = pkg.scripts.cli.split('&&').pop()!.trim().split(/\s+/);
  return command.slice(1).filter((word) => word.startsWith('--'));
}

function vm(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function writeCsv(path: string, rows: number, customers: string[], tag: string): Promise<void> {
  const out = createWriteStream(path);
  out.write('customer,kind,seats,validFrom,validUntil,idempotencyKey\n');
  for (let i = 0; i < rows; i++) {
    const until = new Date(Date.UTC(2030, 0, 1) + i * 60_000).toISOString();
    const line = `${customers[i % customers.length]},${i % 2 ? 'MDM' : 'MOBILE_SECURITY'},${(i % 500) + 1},2026-01-01,${until},${i % 4 === 0 ? '' : `imp-${tag}-${i}`}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}

/** Runs the CLI import; resolves with its own timing, the wall time and the peak RSS. */
async function runImport(env: Record<string, string>, file: string, rows: number) {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...cliNodeFlags(), join(ROOT, 'dist/src/cli/index.js'), 'import-licenses', '--file', file], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, vm(child.pid!, 'VmHWM'), vm(child.pid!, 'VmRSS'))), 50);
  let created = 0;
  let tail = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const text = tail + chunk;
    const end = text.lastIndexOf('\n');
    tail = text.slice(end + 1);
    created += text.slice(0, end + 1).split(',created,').length - 1;
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const [code] = (await once(child, 'close')) as [number | null];
  clearInterval(sampler);
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (code !== 0 || created !== rows) throw new Error(`import: exit ${code}, ${created}/${rows} created: ${stderr}`);
  const seconds = /\(([\d.]+) s\)\s*$/.exec(stderr);
  return { importMs: seconds ? Number(seconds[1]) * 1000 : wallMs, wallMs, peakRssMb: Math.round((peak / MB) * 10) / 10 };
}

/** The rows an import of `count` licenses writes, batch by batch (built outside the timed inserts). */
function* batchesOfRows(count: number, customers: { id: string; resellerId: string }[], tag: string) {
  for (let done = 0; done < count; done += IMPORT_BATCH) {
    const now = new Date();
    const licenses: InsertRow<License>[] = [];
    const events: InsertRow<AuditEvent>[] = [];
    const messages: InsertRow<WebhookEvent>[] = [];
    for (let i = done; i < Math.min(count, done + IMPORT_BATCH); i++) {
      const customer = customers[i % customers.length]!;
      const license: InsertRow<License> = {
        id: newId('License'),
        key: generateLicenseKey(),
        kind: i % 2 ? LicenseKind.MDM : LicenseKind.MOBILE_SECURITY,
        seats: (i % 500) + 1,
        validFrom: now,
        validUntil: new Date(Date.UTC(2030, 0, 1) + i * 60_000),
        revokedAt: null,
        customer: customer.id,
        reseller: customer.resellerId,
        idempotencyOwnerId: 'bench:import',
        idempotencyKey: `base-${tag}-${i}`,
        createdAt: now,
        updatedAt: now,
        suspendedAt: null,
        resellerSuspendedAt: null,
      };
      licenses.push(license);
      const facts = { ...license, customer: { id: license.customer }, reseller: { id: license.reseller } };
      events.push({
        id: newId('AuditEvent'),
        action: 'LICENSE_CREATED',
        actorId: null,
        targetType: 'License',
        targetId: license.id,
        resellerId: customer.resellerId,
        customerId: customer.id,
        formerResellerId: null,
        clientAddress: 'cli:import',
        at: now,
        changes: null,
        reason: null,
      });
      messages.push({
        id: newId('WebhookEvent'),
        type: 'license.created',
        licenseId: license.id,
        resellerId: customer.resellerId,
        formerResellerId: null,
        data: JSON.stringify({ license: licenseData(facts, now), action: 'LICENSE_CREATED' }),
        createdAt: now,
        // Written as dispatched: these measurement rows are no one's events, and a later row of the same run
        // (the webhook row) must not find 100,000 of them queued ahead of its own.
        dispatchedAt: now,
      });
    }
    yield { licenses, events, messages };
  }
}

/** Times the inserts of the same rows (three tables, one transaction per batch); the row building is not timed. */
async function timeInserts(orm: Orm, count: number, customers: { id: string; resellerId: string }[], json: boolean): Promise<number> {
  const tag = randomBytes(4).toString('hex');
  let ms = 0;
  // Bind parameters per statement under SQLite's 32,766.
  const plain = async <T extends object>(tx: Orm['em'], entity: new () => T, rows: InsertRow<T>[], perStatement: number) => {
    for (let i = 0; i < rows.length; i += perStatement) await tx.insertMany(entity, rows.slice(i, i + perStatement) as never[]);
  };
  for (const batch of batchesOfRows(count, customers, tag)) {
    const started = process.hrtime.bigint();
    await orm.em.fork().transactional(async (tx) => {
      if (json) {
        await insertRows(tx, License, batch.licenses);
        await insertRows(tx, AuditEvent, batch.events);
        await insertRows(tx, WebhookEvent, batch.messages);
      } else {
        await plain(tx as Orm['em'], License, batch.licenses, 2000);
        await plain(tx as Orm['em'], AuditEvent, batch.events, 2000);
        await plain(tx as Orm['em'], WebhookEvent, batch.messages, 2000);
      }
    });
    ms += Number(process.hrtime.bigint() - started) / 1e6;
  }
  return ms;
}

/**
 * The import figure: `rows` rows through the CLI, then the same number of rows as plain multi-row inserts
 * and as writes.ts's JSON inserts, on the database `env` describes (already migrated and seeded).
 */
export async function importThroughput(
  env: Record<string, string>,
  rows: number,
  log: (line: string) => void = () => undefined,
  options: { baselines?: boolean } = {},
): Promise<ImportFigures> {
  const config = loadConfig(env);
  const orm = await openOrm(config.database);
  const dir = mkdtempSync(join(tmpdir(), 'lp-import-'));
  try {
    const customers = (await orm.em
      .getConnection()
      .execute(
        'select c.id, c.reseller_id from customer c join reseller r on r.id = c.reseller_id where r.suspended_at is null order by c.id limit 10',
      )) as { id: string; reseller_id: string }[];
    if (customers.length === 0) throw new Error('import bench: no customer of an open reseller');
    const file = join(dir, 'import.csv');
    await writeCsv(
      file,
      rows,
      customers.map((c) => c.id),
      randomBytes(4).toString('hex'),
    );
    const run = await runImport(env, file, rows);
    log(
      `import-licenses: ${rows} rows in ${Math.round(run.importMs)} ms (${Math.round(run.wallMs)} ms with process start-up), peak RSS ${run.peakRssMb} MB`,
    );
    const targets = customers.map((c) => ({ id: c.id, resellerId: c.reseller_id }));
    // Without baselines (a long run for the RSS figure alone): NaN.
    const baselines = options.baselines ?? true;
    const plainInsertMs = baselines ? await timeInserts(orm, rows, targets, false) : NaN;
    const jsonInsertMs = baselines ? await timeInserts(orm, rows, targets, true) : NaN;
    const perSecond = (ms: number) => Math.round(rows / (ms / 1000));
    const figures: ImportFigures = {
      rows,
      importMs: Math.round(run.importMs),
      wallMs: Math.round(run.wallMs),
      rowsPerSecond: perSecond(run.importMs),
      plainInsertMs: Math.round(plainInsertMs),
      plainRowsPerSecond: perSecond(plainInsertMs),
      jsonInsertMs: Math.round(jsonInsertMs),
      jsonRowsPerSecond: perSecond(jsonInsertMs),
      ratio: Math.round((plainInsertMs / run.importMs) * 100) / 100,
      peakRssMb: run.peakRssMb,
    };
    log(
      `the same rows (licenses, audit events, webhook messages) as plain multi-row inserts: ${figures.plainRowsPerSecond} rows/s; ` +
        `as writes.ts JSON inserts: ${figures.jsonRowsPerSecond} rows/s; import ÷ plain = ${figures.ratio}`,
    );
    return figures;
  } finally {
    await orm.close(true);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The figure's row of `npm run bench`'s table. */
export function importFigure(f: ImportFigures, engineLabel: string) {
  return {
    figure: `CSV import of ${f.rows.toLocaleString('en')} rows (import-licenses, ${engineLabel}; ÷ the same licenses, audit events and webhook messages as plain multi-row inserts), peak RSS`,
    value: `${f.rowsPerSecond} rows/s ÷ ${f.plainRowsPerSecond} rows/s = ${f.ratio} (writes.ts JSON inserts alone: ${f.jsonRowsPerSecond} rows/s); ${f.peakRssMb} MB`,
    goal: '>= 20000 rows/s; RSS < 250 MB at 1,000,000 rows (--import-rows 1000000) ([throughput] goal 2)',
    met: f.rowsPerSecond >= 20_000 && f.peakRssMb < 250,
    data: { ...f },
  };
}

/** Standalone: a fresh database (temporary SQLite file, or a fresh PostgreSQL schema dropped after), seeded. */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const rows = Number(arg('--rows') ?? 50_000);
  const db = arg('--db');
  const { SCALES } = await import('./options');
  const { seed } = await import('./seed');
  const scale = SCALES[(arg('--scale') ?? 'small') as keyof typeof SCALES];
  const { env, drop } = benchDatabase('lp-import-bench', db);
  const config = loadConfig(env);
  try {
    const orm = await openOrm(config.database);
    try {
      await migrate(orm);
      await seed(orm, db ? 'postgresql' : 'sqlite', scale, config.secretKey);
    } finally {
      await orm.close(true);
    }
    const figures = await importThroughput(env, rows, (line) => console.log(line), { baselines: !args.includes('--no-baselines') });
    console.log(JSON.stringify(figures));
  } finally {
    await drop();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error('import bench failed:', error);
      process.exit(1);
    },
  );
}
