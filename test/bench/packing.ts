// What packing a page into one JSON value buys (src/db/reader.ts): the license page statement (51 rows of
// a reseller, customer and reseller joined in) read through the app's Reader plain and packed, A B A B, in
// one process, with the process's CPU time per read (the driver's work included; on PostgreSQL not the
// database server's) and the main thread's busy time per read.
//
//   npm run build && node dist/test/bench/packing.js [--db postgres://...] [--reads 3000]
import 'reflect-metadata';
import { loadConfig } from '../../src/config';
import { migrate, openOrm } from '../../src/db/orm';
import { createReader, type Packing } from '../../src/db/reader';
import { licenseFromRow, pageStatement } from '../../src/modules/licenses/license-page';
import { SCALES } from './options';
import { seed } from './seed';
import { benchDatabase } from './servers';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const db = arg('--db');
  const reads = Number(arg('--reads') ?? 3000);
  const { env, drop } = benchDatabase('lp-packing', db);
  const config = loadConfig(env);
  const orm = await openOrm(config.database);
  const reader = createReader(config.database);
  try {
    await migrate(orm);
    await seed(orm, db ? 'postgresql' : 'sqlite', SCALES.small, config.secretKey, () => undefined);
    const em = orm.em.fork();
    const [first] = await em.getConnection().execute<{ r: string }[]>('select reseller_id as r from license limit 1');
    const page = pageStatement(em);
    const statement = {
      text: `${page.columns}${page.from} where l.reseller_id = ? order by l.created_at desc, l.id desc limit ?`,
      params: [first!.r, 51],
    };
    const packing: Packing = { columns: page.names, orderBy: '"l_createdAt" desc, "l_id" desc' };
    const read = (packed: boolean) => reader.rows<Record<string, unknown>>(em, statement, packed ? packing : undefined);
    const plainRows = (await read(false)).map(licenseFromRow);
    const packedRows = (await read(true)).map(licenseFromRow);
    if (JSON.stringify(plainRows) !== JSON.stringify(packedRows) || plainRows.length !== 51)
      throw new Error('packed rows differ from the plain rows');
    console.log(`# Packed reads, ${db ? 'PostgreSQL' : 'SQLite'}: the 51-row license page, ${reads} sequential reads per run, A B A B`);
    console.log('\n| run | read | CPU µs per read | main thread busy µs per read | wall µs per read |');
    console.log('| --- | --- | --- | --- | --- |');
    const figures: Record<string, number[]> = { plain: [], packed: [] };
    for (const run of [1, 2])
      for (const packed of [false, true]) {
        for (let i = 0; i < 200; i++) await read(packed);
        const elu = performance.eventLoopUtilization();
        const cpu = process.cpuUsage();
        const started = performance.now();
        for (let i = 0; i < reads; i++) await read(packed);
        const wall = ((performance.now() - started) * 1000) / reads;
        const used = process.cpuUsage(cpu);
        const busy = (performance.eventLoopUtilization(elu).active * 1000) / reads;
        const cpuPerRead = (used.user + used.system) / reads;
        figures[packed ? 'packed' : 'plain']!.push(cpuPerRead);
        console.log(`| ${run} | ${packed ? 'packed' : 'plain'} | ${cpuPerRead.toFixed(0)} | ${busy.toFixed(0)} | ${wall.toFixed(0)} |`);
      }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`\nCPU per read, packed ÷ plain: ${(mean(figures.packed!) / mean(figures.plain!)).toFixed(2)}`);
  } finally {
    await reader.close();
    await orm.close(true);
    await drop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('packing bench failed:', error);
    process.exit(1);
  },
);
