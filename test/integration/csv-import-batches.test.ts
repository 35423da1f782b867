// The CSV import's batches ([throughput] goal 2): each batch is one transaction of set operations, and
// what a row gets must not depend on where the batch boundaries fall. In-process with batches of 4 rows
// (importLicenses' batchSize), so that a few rows cross several boundaries; and the streaming itself:
// the report leaves while the file is still being read, through the real CLI reading from a pipe.
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import type { Customer } from '../../src/modules/customers/customer.entity';
import { CsvFormatError } from '../../src/modules/imports/csv-cells';
import { IMPORT_BATCH, importLicenses, type RowResult } from '../../src/modules/imports/license-csv';
import { License } from '../../src/modules/licenses/license.entity';
import type { Reseller } from '../../src/modules/resellers/reseller.entity';
import { WebhookEvent } from '../../src/modules/webhooks/webhook-event.entity';
import { makeCustomer, makeReseller } from '../factories';
import { ROOT } from '../helpers/cli';
import { startTestServer, type TestServer } from '../helpers/server';

const HEADER = 'customer,kind,seats,validFrom,validUntil,idempotencyKey\n';
const unique = () => randomBytes(4).toString('hex');

describe('CSV import in batches', function () {
  this.timeout(120000);
  let s: TestServer;
  let reseller: Reseller;
  let acme: Customer;
  let foreign: Customer;

  const fork = () => s.app.services.orm.em.fork();
  const line = (customer: string, seats: number | string, key: string) => `${customer},MDM,${seats},2026-01-01,2027-01-01,${key}\n`;

  /** Imports `text` in batches of `batchSize`; every report row, in the order handed out. */
  async function importText(text: string, options: { batchSize?: number; dryRun?: boolean; resellerId?: string } = {}) {
    const rows: RowResult[] = [];
    const batches: number[] = [];
    const summary = await importLicenses(fork(), text, {
      batchSize: 4,
      ...options,
      onRows: (batch) => {
        batches.push(batch.length);
        rows.push(...batch);
      },
    });
    return { rows, batches, summary };
  }

  before(async () => {
    s = await startTestServer();
    reseller = await makeReseller(s);
    acme = await makeCustomer(s, reseller);
    foreign = await makeCustomer(s, await makeReseller(s));
  });

  after(() => s.stop());

  it('a failing row in the middle of a batch is reported on its line; the rest of its batch and the next ones are created', async () => {
    const tag = unique();
    const text =
      HEADER +
      [1, 2, 0, 4, 5, 6, 7, 8, 9].map((seats, i) => line(acme.id, seats, `mid-${tag}-${i}`)).join('') +
      `${acme.id},MDM,5,2026-01-01\n`; // line 11: two fields short
    const { rows, batches, summary } = await importText(text);
    expect(batches).to.deep.equal([4, 4, 2]);
    expect(rows.map((r) => [r.line, r.status, r.field ?? ''])).to.deep.equal([
      [2, 'created', ''],
      [3, 'created', ''],
      [4, 'error', 'seats'],
      [5, 'created', ''],
      [6, 'created', ''],
      [7, 'created', ''],
      [8, 'created', ''],
      [9, 'created', ''],
      [10, 'created', ''],
      [11, 'error', ''],
    ]);
    expect(rows[9]!.message).to.equal('The row has 4 field(s) where the header has 6.');
    expect(summary).to.deep.equal({ rows: 10, created: 8, existing: 0, failed: 2 });
    expect(await fork().count(License, { idempotencyKey: { $like: `mid-${tag}-%` } })).to.equal(8);
  });

  it('a key repeated within a batch and across batches is created once; its repeats are "exists" with that license', async () => {
    const tag = unique();
    const keys = ['a', 'a', 'b', 'c', 'd', 'b', 'e', 'a', 'f'].map((k) => `dup-${tag}-${k}`);
    const text = HEADER + keys.map((key, i) => line(acme.id, i + 1, key)).join('');
    const dry = await importText(text, { dryRun: true });
    expect(dry.rows.map((r) => r.status)).to.deep.equal([
      'valid',
      'exists',
      'valid',
      'valid',
      'valid',
      'exists',
      'valid',
      'exists',
      'valid',
    ]);
    const { rows } = await importText(text);
    expect(rows.map((r) => r.status)).to.deep.equal([
      'created',
      'exists',
      'created',
      'created',
      'created',
      'exists',
      'created',
      'exists',
      'created',
    ]);
    // Line 3 repeats line 2 in its batch; line 7 repeats line 4 from the next batch; line 9 repeats line 2 two batches on.
    expect(rows[1]!.licenseId).to.equal(rows[0]!.licenseId).and.to.be.a('string');
    expect(rows[5]!.licenseId).to.equal(rows[2]!.licenseId);
    expect(rows[7]!.licenseId).to.equal(rows[0]!.licenseId);
    expect(rows[7]!.key).to.equal(rows[0]!.key);
    expect(await fork().count(License, { idempotencyKey: { $in: keys } })).to.equal(6);
    // The same file again: every row names the license of the first run.
    const again = await importText(text, { batchSize: 3 });
    expect(again.rows.map((r) => r.status)).to.deep.equal(keys.map(() => 'exists'));
    expect(again.rows.map((r) => r.licenseId)).to.deep.equal(rows.map((r) => r.licenseId));
  });

  it('a row whose customer belongs to another reseller is refused on its own line, whichever batch it is in; its neighbours are created', async () => {
    const tag = unique();
    const customers = [acme, foreign, acme, acme, acme, acme, foreign, acme];
    const text = HEADER + customers.map((c, i) => line(c.id, 1, `foreign-${tag}-${i}`)).join('');
    const { rows } = await importText(text, { resellerId: reseller.id });
    expect(rows.map((r) => [r.line, r.status, r.code ?? '', r.field ?? ''])).to.deep.equal(
      customers.map((c, i) => (c === foreign ? [i + 2, 'error', 'BAD_USER_INPUT', 'customer'] : [i + 2, 'created', '', ''])),
    );
    expect(await fork().count(License, { customer: foreign.id })).to.equal(0);
  });

  it('every created license has exactly one LICENSE_CREATED audit event and one license.created webhook message; existing and failed rows none', async () => {
    const tag = unique();
    const text =
      HEADER +
      [
        line(acme.id, 3, `hook-${tag}-1`),
        line(acme.id, 0, `hook-${tag}-2`), // bad seats
        line(acme.id, 4, `hook-${tag}-3`),
        line(acme.id, 5, `hook-${tag}-1`), // repeat
        line(acme.id, 6, ''), // keyed by content
        line(foreign.id, 7, `hook-${tag}-4`),
      ].join('');
    const { rows } = await importText(text, { batchSize: 2 });
    expect(rows.map((r) => r.status)).to.deep.equal(['created', 'error', 'created', 'exists', 'created', 'created']);
    const created = rows.filter((r) => r.status === 'created');
    const ids = created.map((r) => r.licenseId!);
    const events = await fork().find(AuditEvent, { targetId: { $in: ids } });
    expect(events.map((e) => e.action)).to.deep.equal(ids.map(() => 'LICENSE_CREATED'));
    expect(new Set(events.map((e) => e.targetId))).to.deep.equal(new Set(ids));
    for (const event of events) {
      const license = await fork().findOneOrFail(License, event.targetId!);
      expect([event.resellerId, event.customerId, event.clientAddress, event.actorId]).to.deep.equal([
        license.reseller.id,
        license.customer.id,
        'cli:import',
        null,
      ]);
    }
    const messages = await fork().find(WebhookEvent, { licenseId: { $in: ids } });
    expect(messages).to.have.length(ids.length);
    expect(new Set(messages.map((m) => m.licenseId))).to.deep.equal(new Set(ids));
    for (const message of messages) {
      const row = created.find((r) => r.licenseId === message.licenseId)!;
      const data = JSON.parse(message.data) as { license: { id: string; key: string; seats: number; status: string }; action: string };
      expect(message.type).to.equal('license.created');
      expect(message.dispatchedAt).to.equal(null);
      expect(data.action).to.equal('LICENSE_CREATED');
      expect([data.license.id, data.license.key, data.license.status]).to.deep.equal([row.licenseId, row.key, 'ACTIVE']);
    }
    // Running the file again writes no event and no message.
    const [eventCount, messageCount] = [await fork().count(AuditEvent), await fork().count(WebhookEvent)];
    const again = await importText(text, { batchSize: 5 });
    expect(again.rows.map((r) => r.status)).to.deep.equal(['exists', 'error', 'exists', 'exists', 'exists', 'exists']);
    expect([await fork().count(AuditEvent), await fork().count(WebhookEvent)]).to.deep.equal([eventCount, messageCount]);
  });

  it('a CSV syntax error further down stops the import there: the batches before it are imported and reported, a re-run of the fixed file completes it', async () => {
    const tag = unique();
    const good = [0, 1, 2, 3, 4, 5].map((i) => line(acme.id, 1, `syntax-${tag}-${i}`)).join('');
    const reported: RowResult[] = [];
    let failure: unknown;
    try {
      await importLicenses(fork(), HEADER + good + `${acme.id},MDM,1,2026-01-01,2027-01-01,"unclosed\n`, {
        batchSize: 2,
        onRows: (batch) => void reported.push(...batch),
      });
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(CsvFormatError);
    expect((failure as Error).message).to.match(/^the file is not valid CSV: /);
    expect(reported.map((r) => r.status)).to.deep.equal(Array(6).fill('created'));
    expect(await fork().count(License, { idempotencyKey: { $like: `syntax-${tag}-%` } })).to.equal(6);
    const again = await importText(HEADER + good + line(acme.id, 1, `syntax-${tag}-6`), { batchSize: 2 });
    expect(again.rows.map((r) => r.status)).to.deep.equal([...Array(6).fill('exists'), 'created']);
  });

  it('reads the file as it arrives: each batch is reported before more than the next batch is read', async () => {
    const tag = unique();
    const rowsTotal = 50;
    let pulled = 0;
    const aheadAtReport: number[] = [];
    let reported = 0;
    // The file in chunks of 3 lines, never whole.
    async function* chunks() {
      yield HEADER;
      for (let i = 0; i < rowsTotal; i += 3) {
        const lines = [];
        for (let j = i; j < Math.min(rowsTotal, i + 3); j++) lines.push(line(acme.id, 1, `stream-${tag}-${j}`));
        pulled += lines.length;
        yield lines.join('');
      }
    }
    const summary = await importLicenses(fork(), chunks(), {
      batchSize: 10,
      onRows: (batch) => {
        reported += batch.length;
        aheadAtReport.push(pulled - reported);
      },
    });
    expect(summary.created).to.equal(rowsTotal);
    expect(aheadAtReport).to.have.length(5);
    // Never more read than the next batch (parsed while this one is written) plus one chunk beyond what was reported.
    for (const ahead of aheadAtReport) expect(ahead).to.be.at.most(10 + 3);
    expect(aheadAtReport.slice(0, -1).every((ahead) => ahead >= 0)).to.equal(true);
  });

  it(`the CLI writes the report of the first ${IMPORT_BATCH.toLocaleString('en')} rows while the rest of the file has not been written yet (a pipe)`, async function () {
    const tag = unique();
    const fifo = join(s.dir, `import-${tag}.fifo`);
    execFileSync('mkfifo', [fifo]);
    const child = spawn(process.execPath, [join(ROOT, 'dist/src/cli/index.js'), 'import-licenses', '--file', fifo], {
      env: { PATH: process.env.PATH ?? '', ...s.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const closed = once(child, 'close');
    const writer = createWriteStream(fifo);
    const first = IMPORT_BATCH + 1;
    writer.write(HEADER);
    for (let i = 0; i < first; i++) writer.write(line(acme.id, 1, `pipe-${tag}-${i}`));
    // Wait (without a clock in the assertion) until the first batch's report has come out.
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (stdout.split('\n').length > IMPORT_BATCH) resolve();
        else if (child.exitCode !== null) reject(new Error(`the import ended early: ${stderr}`));
        else setTimeout(check, 50);
      };
      check();
    });
    const early = parse(stdout, { columns: true, skip_empty_lines: true, relax_column_count: true }) as { line: string; status: string }[];
    expect(early.slice(0, IMPORT_BATCH).map((r) => r.status)).to.deep.equal(Array(IMPORT_BATCH).fill('created'));
    expect(early[0]!.line).to.equal('2');
    // Now the rest of the file.
    for (let i = first; i < first + 10; i++) writer.write(line(acme.id, 1, `pipe-${tag}-${i}`));
    writer.end();
    const [code] = (await closed) as [number | null];
    expect(code, stderr).to.equal(0);
    const all = parse(stdout, { columns: true, skip_empty_lines: true }) as { line: string; status: string }[];
    expect(all.map((r) => r.line)).to.deep.equal(Array.from({ length: first + 10 }, (_, i) => String(i + 2)));
    expect(all.every((r) => r.status === 'created')).to.equal(true);
  });
});
