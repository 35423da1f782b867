// CSV import and export of licenses as an operator runs them: `import-licenses --file <csv> [--dry-run]`
// and `export-licenses [--reseller <id>]` as real child processes against the test server's database.
// A per-row report on stdout, exit code 0 / 2 (some rows failed) / 1 (file-level error); rows are
// idempotent across runs; bad rows never take good rows with them; the export carries what was imported.
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { License } from '../../src/modules/licenses/license.entity';
import type { Customer } from '../../src/modules/customers/customer.entity';
import type { Reseller } from '../../src/modules/resellers/reseller.entity';
import { makeCustomer, makeLicense, makeReseller } from '../factories';
import { runCli, type CliResult } from '../helpers/cli';
import { startTestServer, usingPostgres, type TestServer } from '../helpers/server';

const HEADER = ['customer', 'kind', 'seats', 'validFrom', 'validUntil', 'idempotencyKey'];
const DAY = 86_400_000;
const KEY_SHAPE = /^[2-9A-HJ-NP-Z]{5}(-[2-9A-HJ-NP-Z]{5}){4}$/;

interface ReportRow {
  line: string;
  status: string;
  licenseId: string;
  key: string;
  code: string;
  field: string;
  message: string;
}
interface ExportRow {
  customer: string;
  kind: string;
  seats: string;
  validFrom: string;
  validUntil: string;
  idempotencyKey: string;
  key: string;
  status: string;
}

const unique = () => randomBytes(4).toString('hex');
const iso = (ms: number) => new Date(ms).toISOString();
const day = (offsetDays: number) => iso(Date.UTC(2026, 0, 1) + offsetDays * DAY).slice(0, 10);

function csv(rows: (string | number)[][], header: string[] = HEADER): string {
  return stringify([header, ...rows]);
}

function report(res: CliResult): ReportRow[] {
  return parse(res.stdout, { columns: true, skip_empty_lines: true }) as ReportRow[];
}

describe('CSV import and export of licenses (CLI)', function () {
  this.timeout(120000);
  let s: TestServer;
  let reseller: Reseller;
  let acme: Customer;
  let globex: Customer;
  let fileNo = 0;

  const fork = () => s.app.services.orm.em.fork();
  const countLicenses = (where: Record<string, unknown> = {}) => fork().count(License, where);

  function file(text: string): string {
    const path = join(s.dir, `import-${++fileNo}.csv`);
    writeFileSync(path, text);
    return path;
  }

  const importCsv = (text: string, ...extra: string[]) => runCli(['import-licenses', '--file', file(text), ...extra], s.env);

  async function exportCsv(...args: string[]): Promise<ExportRow[]> {
    const res = await runCli(['export-licenses', ...args], s.env);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stdout.split(/\r?\n/, 1)[0]).to.equal('customer,kind,seats,validFrom,validUntil,idempotencyKey,key,status');
    return parse(res.stdout, { columns: true, skip_empty_lines: true }) as ExportRow[];
  }

  before(async () => {
    s = await startTestServer();
    reseller = await makeReseller(s);
    // A name with a comma and quotes: exact-name lookup must survive CSV quoting.
    acme = await makeCustomer(s, reseller, { name: `Acme, "Mobile" GmbH ${unique()}` });
    globex = await makeCustomer(s, reseller, { name: `Globex ${unique()}` });
  });

  after(() => s.stop());

  it('imports a valid file: exit 0, one `created` row per line with the new license, and the licenses exist', async () => {
    const tag = unique();
    const rows = [
      [acme.id, 'MDM', 10, day(0), day(365), `valid-${tag}-1`],
      [acme.name, 'MOBILE_SECURITY', 250, day(10), day(400), `valid-${tag}-2`],
      [globex.id, 'mdm', 1, '', day(3650), `valid-${tag}-3`],
      [globex.name, 'MOBILE_SECURITY', 100000, '2026-02-01T08:30:00Z', '2027-02-01T08:30:00Z', ''],
    ];
    const before = await countLicenses();
    const res = await importCsv(csv(rows), '--reseller', reseller.id);
    expect(res.code, res.stderr).to.equal(0);
    const out = report(res);
    expect(out.map((r) => [r.line, r.status])).to.deep.equal([
      ['2', 'created'],
      ['3', 'created'],
      ['4', 'created'],
      ['5', 'created'],
    ]);
    for (const r of out) {
      expect(r.key).to.match(KEY_SHAPE);
      expect(r.code).to.equal('');
    }
    expect(await countLicenses()).to.equal(before + 4);

    const created = await fork().find(License, { id: { $in: out.map((r) => r.licenseId) } }, { orderBy: { seats: 'asc' } });
    expect(created.map((l) => [l.customer.id, l.kind, l.seats, l.key])).to.deep.equal([
      [globex.id, 'MDM', 1, out[2]!.key],
      [acme.id, 'MDM', 10, out[0]!.key],
      [acme.id, 'MOBILE_SECURITY', 250, out[1]!.key],
      [globex.id, 'MOBILE_SECURITY', 100000, out[3]!.key],
    ]);
    expect(created[1]!.validFrom.toISOString()).to.equal('2026-01-01T00:00:00.000Z');
    expect(created[3]!.validFrom.toISOString()).to.equal('2026-02-01T08:30:00.000Z');
    // An empty validFrom means "from now".
    expect(Math.abs(created[0]!.validFrom.getTime() - Date.now())).to.be.below(60_000);
    for (const l of created) expect(l.reseller.id).to.equal(reseller.id);
    // Each license is in the audit log, as with createLicense.
    expect(await fork().count(AuditEvent, { action: 'LICENSE_CREATED', targetId: { $in: out.map((r) => r.licenseId) } })).to.equal(4);
  });

  it('re-running the same file creates nothing twice: every row is `exists` with the license of the first run', async () => {
    const tag = unique();
    const text = csv([
      [acme.id, 'MDM', 5, day(0), day(30), `rerun-${tag}-1`],
      [globex.id, 'MOBILE_SECURITY', 7, day(0), day(60), `rerun-${tag}-2`],
      // No idempotencyKey: the row's content identifies it.
      [acme.name, 'MDM', 3, day(1), day(90), ''],
      [globex.name, 'MOBILE_SECURITY', 9, '', day(900), ''],
    ]);
    const first = await importCsv(text, '--reseller', reseller.id);
    expect(first.code, first.stderr).to.equal(0);
    expect(report(first).map((r) => r.status)).to.deep.equal(['created', 'created', 'created', 'created']);
    const count = await countLicenses();

    for (let run = 0; run < 2; run++) {
      const again = await importCsv(text, '--reseller', reseller.id);
      expect(again.code, again.stderr).to.equal(0);
      const out = report(again);
      expect(out.map((r) => r.status)).to.deep.equal(['exists', 'exists', 'exists', 'exists']);
      expect(out.map((r) => r.licenseId)).to.deep.equal(report(first).map((r) => r.licenseId));
      expect(out.map((r) => r.key)).to.deep.equal(report(first).map((r) => r.key));
      expect(await countLicenses()).to.equal(count);
    }
  });

  it('rows without idempotencyKey stay idempotent across runs, also reordered and with new rows around them', async () => {
    const tag = unique();
    const a = [acme.id, 'MDM', 11, day(2), day(200), ''];
    const b = [globex.id, 'MDM', 12, day(2), day(200), ''];
    const first = await importCsv(csv([a, b]));
    expect(report(first).map((r) => r.status)).to.deep.equal(['created', 'created']);
    const count = await countLicenses();
    // The same rows in another order, with a new row in between: only the new row is created.
    const c = [acme.id, 'MDM', 13, day(2), day(200), `keyed-${tag}`];
    const second = await importCsv(csv([b, c, a]));
    expect(second.code, second.stderr).to.equal(0);
    const out = report(second);
    expect(out.map((r) => r.status)).to.deep.equal(['exists', 'created', 'exists']);
    expect(out[0]!.licenseId).to.equal(report(first)[1]!.licenseId);
    expect(out[2]!.licenseId).to.equal(report(first)[0]!.licenseId);
    expect(await countLicenses()).to.equal(count + 1);
    // A row that differs in any field is a different license.
    const changed = await importCsv(csv([[acme.id, 'MDM', 14, day(2), day(200), '']]));
    expect(report(changed).map((r) => r.status)).to.deep.equal(['created']);
  });

  it('--dry-run validates and reports every row but writes nothing', async () => {
    const tag = unique();
    const text = csv([
      [acme.id, 'MDM', 5, day(0), day(30), `dry-${tag}-1`],
      [globex.name, 'MOBILE_SECURITY', 0, day(0), day(60), `dry-${tag}-2`],
      [globex.name, 'MDM', 8, day(0), day(60), ''],
    ]);
    const licenses = await countLicenses();
    const events = await fork().count(AuditEvent, {});
    const dry = await importCsv(text, '--dry-run', '--reseller', reseller.id);
    expect(dry.code, dry.stderr).to.equal(2);
    expect(report(dry).map((r) => [r.line, r.status, r.code, r.field])).to.deep.equal([
      ['2', 'valid', '', ''],
      ['3', 'error', 'BAD_USER_INPUT', 'seats'],
      ['4', 'valid', '', ''],
    ]);
    expect(dry.stderr).to.match(/dry run/);
    expect(await countLicenses()).to.equal(licenses);
    expect(await fork().count(AuditEvent, {})).to.equal(events);

    // A dry run of a clean file exits 0; the real run afterwards creates what the dry run announced.
    const clean = csv([
      [acme.id, 'MDM', 5, day(0), day(30), `dry-${tag}-1`],
      [globex.name, 'MDM', 8, day(0), day(60), ''],
    ]);
    const cleanDry = await importCsv(clean, '--dry-run', '--reseller', reseller.id);
    expect(cleanDry.code, cleanDry.stderr).to.equal(0);
    expect(report(cleanDry).map((r) => r.status)).to.deep.equal(['valid', 'valid']);
    expect(await countLicenses()).to.equal(licenses);
    const real = await importCsv(clean, '--reseller', reseller.id);
    expect(report(real).map((r) => r.status)).to.deep.equal(['created', 'created']);
    expect(await countLicenses()).to.equal(licenses + 2);
  });

  it('--dry-run reports a repeated row as "exists" like the real run, also when the repeat is in a later batch of 500', async () => {
    const tag = unique();
    const rows = Array.from({ length: 502 }, (_, i) => [acme.id, 'MDM', 1, day(0), day(30), `batch-${tag}-${i}`]);
    rows[501] = rows[0]!; // line 503 repeats line 2
    const dry = await importCsv(csv(rows), '--dry-run');
    const statuses = report(dry).map((r) => r.status);
    expect(statuses.filter((st) => st === 'valid')).to.have.length(501);
    expect(statuses[501]).to.equal('exists');
    const real = await importCsv(csv(rows));
    expect(report(real).map((r) => r.status)).to.deep.equal([...Array(501).fill('created'), 'exists']);
  });

  it('finds the customer by id or by exact name only', async () => {
    const tag = unique();
    const res = await importCsv(
      csv([
        [acme.id, 'MDM', 21, day(0), day(30), `ref-${tag}-1`],
        [acme.name, 'MDM', 22, day(0), day(30), `ref-${tag}-2`],
        [` ${globex.name} `, 'MDM', 23, day(0), day(30), `ref-${tag}-3`],
        [globex.name.toUpperCase(), 'MDM', 24, day(0), day(30), `ref-${tag}-4`],
        [globex.name.slice(0, -2), 'MDM', 25, day(0), day(30), `ref-${tag}-5`],
      ]),
      '--reseller',
      reseller.id,
    );
    expect(res.code, res.stderr).to.equal(2);
    const out = report(res);
    expect(out.map((r) => [r.line, r.status, r.code, r.field])).to.deep.equal([
      ['2', 'created', '', ''],
      ['3', 'created', '', ''],
      ['4', 'created', '', ''],
      ['5', 'error', 'NOT_FOUND', 'customer'],
      ['6', 'error', 'NOT_FOUND', 'customer'],
    ]);
    const created = await fork().find(License, { id: { $in: out.slice(0, 3).map((r) => r.licenseId) } }, { orderBy: { seats: 'asc' } });
    expect(created.map((l) => l.customer.id)).to.deep.equal([acme.id, acme.id, globex.id]);
  });

  it('reads a header with spaces around its names and quoted names like a plain one', async () => {
    const tag = unique();
    const text =
      ['customer, kind ,"seats", validFrom,validUntil ,"idempotencyKey"', `${acme.id},MDM,4,${day(0)},${day(30)},spaced-${tag}`].join(
        '\n',
      ) + '\n';
    const res = await importCsv(text);
    expect(res.code, res.stderr).to.equal(0);
    expect(report(res).map((r) => r.status)).to.deep.equal(['created']);
    const [created] = await fork().find(License, { idempotencyKey: `spaced-${tag}` });
    expect(created!.seats).to.equal(4);
  });

  it('a file without a required column fails as a whole: exit 1, one-line error naming the column, nothing written', async () => {
    const licenses = await countLicenses();
    const res = await importCsv(
      csv(
        [
          [acme.id, 'MDM', day(0), day(30), 'x'],
          [globex.id, 'MDM', day(0), day(30), 'y'],
        ],
        ['customer', 'kind', 'validFrom', 'validUntil', 'idempotencyKey'],
      ),
    );
    expect(res.code).to.equal(1);
    const lines = res.stderr.trim().split('\n');
    expect(lines, res.stderr).to.have.length(1);
    expect(lines[0]).to.match(/^error: .*seats/);
    expect(res.stdout).to.equal('');
    expect(await countLicenses()).to.equal(licenses);

    const missingFile = await runCli(['import-licenses', '--file', join(s.dir, 'no-such-file.csv')], s.env);
    expect(missingFile.code).to.equal(1);
    expect(missingFile.stderr.trim().split('\n')).to.have.length(1);
    const noArg = await runCli(['import-licenses'], s.env);
    expect(noArg.code).to.equal(1);
    expect(noArg.stderr).to.match(/--file/);
  });

  it('a file with bad rows: per-row report with line numbers and codes, exit 2, and every valid row imported', async () => {
    const tag = unique();
    // Two customers of the same reseller share a name: only their ids tell them apart.
    const twin = `Twin ${tag}`;
    await makeCustomer(s, reseller, { name: twin });
    await makeCustomer(s, reseller, { name: twin });
    const licenses = await countLicenses();
    const rows = [
      /* 2 */ [acme.id, 'MDM', 5, day(0), day(30), `bad-${tag}-ok1`],
      /* 3 */ [acme.id, 'MDM', 5, day(0), '31.12.2027', `bad-${tag}-date`],
      /* 4 */ [acme.id, 'MDM', 5, '2026-13-45', day(30), `bad-${tag}-date2`],
      /* 5 */ [acme.id, 'MDM', 0, day(0), day(30), `bad-${tag}-seats0`],
      /* 6 */ [globex.id, 'MDM', 100001, day(0), day(30), `bad-${tag}-seatsmax`],
      /* 7 */ [globex.id, 'MDM', 'ten', day(0), day(30), `bad-${tag}-seatsword`],
      /* 8 */ [globex.id, 'MOBILE_SECURITY', 5, day(0), day(30), `bad-${tag}-ok2`],
      /* 9 */ [`cus_${'0'.repeat(24)}`, 'MDM', 5, day(0), day(30), `bad-${tag}-unknown-id`],
      /* 10 */ [`Nobody ${tag}`, 'MDM', 5, day(0), day(30), `bad-${tag}-unknown-name`],
      /* 11 */ [twin, 'MDM', 5, day(0), day(30), `bad-${tag}-ambiguous`],
      /* 12 */ [globex.name, 'ENTERPRISE', 5, day(0), day(30), `bad-${tag}-kind`],
      /* 13 */ [globex.name, 'MDM', 5, day(30), day(30), `bad-${tag}-window`],
      /* 14 */ [acme.name, 'MDM', 6, day(0), day(30), `bad-${tag}-ok3`],
      /* 15 */ ['', 'MDM', 5, day(0), day(30), `bad-${tag}-nocustomer`],
      /* 16 */ [acme.id, 'MDM', 5, day(0), day(30)],
      /* 17 */ [acme.id, 'MDM', 5, day(0), day(30), `bad-${tag}-surplus`, 'surplus'],
      /* 18 */ [acme.name, 'MDM', 7, day(0), day(30), `bad-${tag}-ok4`],
    ];
    const res = await importCsv(csv(rows), '--reseller', reseller.id);
    expect(res.code, res.stderr).to.equal(2);
    const out = report(res);
    expect(out.map((r) => [r.line, r.status, r.code, r.field])).to.deep.equal([
      ['2', 'created', '', ''],
      ['3', 'error', 'BAD_USER_INPUT', 'validUntil'],
      ['4', 'error', 'BAD_USER_INPUT', 'validFrom'],
      ['5', 'error', 'BAD_USER_INPUT', 'seats'],
      ['6', 'error', 'BAD_USER_INPUT', 'seats'],
      ['7', 'error', 'BAD_USER_INPUT', 'seats'],
      ['8', 'created', '', ''],
      ['9', 'error', 'NOT_FOUND', 'customer'],
      ['10', 'error', 'NOT_FOUND', 'customer'],
      ['11', 'error', 'BAD_USER_INPUT', 'customer'],
      ['12', 'error', 'BAD_USER_INPUT', 'kind'],
      ['13', 'error', 'BAD_USER_INPUT', 'validUntil'],
      ['14', 'created', '', ''],
      ['15', 'error', 'BAD_USER_INPUT', 'customer'],
      ['16', 'error', 'BAD_USER_INPUT', ''],
      ['17', 'error', 'BAD_USER_INPUT', ''],
      ['18', 'created', '', ''],
    ]);
    for (const r of out.filter((o) => o.status === 'error')) {
      expect(r.message, r.line).to.not.equal('');
      expect(r.licenseId).to.equal('');
    }
    expect(out.find((r) => r.line === '11')!.message).to.match(/Several customers/);
    // A row with too few or too many fields is one bad row, not a bad file.
    expect(out.find((r) => r.line === '16')!.message).to.match(/5 field\(s\) where the header has 6/);
    expect(out.find((r) => r.line === '17')!.message).to.match(/7 field\(s\) where the header has 6/);
    expect(await countLicenses()).to.equal(licenses + 4);
    const created = await fork().find(License, { idempotencyKey: { $like: `bad-${tag}-%` } });
    expect(created.map((l) => l.idempotencyKey).sort()).to.deep.equal([
      `bad-${tag}-ok1`,
      `bad-${tag}-ok2`,
      `bad-${tag}-ok3`,
      `bad-${tag}-ok4`,
    ]);
    // The summary on stderr counts the same.
    expect(res.stderr).to.match(/17 rows: 4 created, 0 already there, 13 failed/);
  });

  for (const [eol, label] of [
    ['\n', 'LF'],
    ['\r\n', 'CRLF'],
  ] as const) {
    it(`reports the line of the file even around blank lines and quoted line breaks (${label} line ends)`, async () => {
      const tag = unique();
      const text =
        [
          HEADER.join(','),
          `${acme.id},MDM,5,${day(0)},${day(30)},lines-${tag}-1`, // line 2
          ``, // line 3 (blank)
          `${acme.id},MDM,0,${day(0)},${day(30)},lines-${tag}-2`, // line 4
          `${acme.id},MDM,5,${day(0)},${day(30)},"lines-${tag}-3${eol}second line of the key"`, // lines 5-6
          ``, // line 7 (blank)
          ``, // line 8 (blank)
          `${acme.id},MDM,5,${day(0)},nope,lines-${tag}-4`, // line 9
          `${acme.id},MDM,5,${day(0)},${day(30)},lines-${tag}-5`, // line 10
          `${acme.id},MDM,5,${day(0)},${day(30)},lines-${tag}-5`, // line 11: the same key again
        ].join(eol) + eol;
      const res = await importCsv(text);
      expect(res.code, res.stderr).to.equal(2);
      expect(report(res).map((r) => [r.line, r.status, r.field])).to.deep.equal([
        ['2', 'created', ''],
        ['4', 'error', 'seats'],
        ['5', 'created', ''],
        ['9', 'error', 'validUntil'],
        ['10', 'created', ''],
        ['11', 'exists', ''],
      ]);
    });
  }

  it('two imports of the same file at the same time create each license once', async () => {
    const tag = unique();
    const rows = Array.from({ length: 60 }, (_, i) => [
      i % 2 ? acme.id : globex.name,
      'MDM',
      i + 1,
      day(0),
      day(100),
      i % 3 ? `race-${tag}-${i}` : '',
    ]);
    const text = csv(rows);
    const licenses = await countLicenses();
    const [a, b] = await Promise.all([importCsv(text, '--reseller', reseller.id), importCsv(text, '--reseller', reseller.id)]);
    expect(a.code, a.stderr).to.equal(0);
    expect(b.code, b.stderr).to.equal(0);
    const created = report(a).filter((r) => r.status === 'created').length + report(b).filter((r) => r.status === 'created').length;
    expect(created).to.equal(60);
    expect(await countLicenses()).to.equal(licenses + 60);
    // Both reports name the same license for each line.
    expect(report(a).map((r) => r.licenseId)).to.deep.equal(report(b).map((r) => r.licenseId));
  });

  it('imports 1,000 and 10,000 rows completely (timings printed)', async function () {
    this.timeout(600000);
    const customers = [acme, globex, await makeCustomer(s, reseller), await makeCustomer(s, reseller)];
    for (const size of [1000, 10000]) {
      const tag = unique();
      const rows = Array.from({ length: size }, (_, i) => {
        const c = customers[i % customers.length]!;
        return [
          i % 5 === 0 ? c.name : c.id,
          i % 2 ? 'MDM' : 'MOBILE_SECURITY',
          (i % 500) + 1,
          day(i % 30),
          day(365 + (i % 700)),
          i % 4 === 0 ? '' : `bulk-${tag}-${i}`,
        ];
      });
      // Make rows without a key distinct from each other (their content is their identity).
      rows.forEach((r, i) => {
        if (r[5] === '') r[4] = iso(Date.UTC(size === 1000 ? 2030 : 2032, 0, 1) + i * 60_000);
      });
      const licenses = await countLicenses();
      const path = file(csv(rows));
      const started = process.hrtime.bigint();
      const res = await runCli(['import-licenses', '--file', path, '--reseller', reseller.id], s.env);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      expect(res.code, res.stderr.slice(-2000)).to.equal(0);
      const out = report(res);
      expect(out).to.have.length(size);
      expect(out.filter((r) => r.status !== 'created').slice(0, 5)).to.deep.equal([]);
      expect(new Set(out.map((r) => r.licenseId)).size).to.equal(size);
      expect(new Set(out.map((r) => r.key)).size).to.equal(size);
      expect(out[size - 1]!.line).to.equal(String(size + 1));
      expect(await countLicenses()).to.equal(licenses + size);
      // Progress went to stderr, not into the report.
      expect(res.stderr).to.contain(`processed ${size}/${size} rows`);
      console.log(
        `      import-licenses ${size.toLocaleString('en')} rows on ${usingPostgres() ? 'PostgreSQL' : 'SQLite'}: ${seconds.toFixed(2)} s wall (whole CLI process), ${Math.round(size / seconds).toLocaleString('en')} rows/s`,
      );
    }
  });

  it('export-licenses carries what was imported: customer id, kind, seats, validFrom, validUntil, idempotencyKey, key and status', async () => {
    const own = await makeReseller(s);
    const c1 = await makeCustomer(s, own);
    const c2 = await makeCustomer(s, own);
    const tag = unique();
    const now = Date.now();
    const rows = [
      [c1.id, 'MDM', 10, iso(now - 10 * DAY), iso(now + 100 * DAY), `exp-${tag}-active`],
      [c2.name, 'MOBILE_SECURITY', 20, iso(now + 10 * DAY), iso(now + 100 * DAY), `exp-${tag}-pending`],
      [c1.name, 'MDM', 30, day(-800), day(-400), `exp-${tag}-expired`],
      [c2.id, 'MDM', 40, '2026-03-01T12:00:00+02:00', '2099-03-01T12:00:00.250Z', ''],
    ];
    const imported = await importCsv(csv(rows), '--reseller', own.id);
    expect(imported.code, imported.stderr).to.equal(0);
    const out = report(imported);

    const exported = await exportCsv('--reseller', own.id);
    expect(exported).to.have.length(4);
    const byKey = new Map(exported.map((r) => [r.key, r]));
    const expectations = [
      { customer: c1.id, status: 'ACTIVE' },
      { customer: c2.id, status: 'PENDING' },
      { customer: c1.id, status: 'EXPIRED' },
      { customer: c2.id, status: 'ACTIVE' },
    ];
    rows.forEach((row, i) => {
      const e = byKey.get(out[i]!.key)!;
      expect(e, `line ${i + 2}`).to.not.equal(undefined);
      expect(e.customer).to.equal(expectations[i]!.customer);
      expect(e.kind).to.equal(row[1]);
      expect(e.seats).to.equal(String(row[2]));
      expect(new Date(e.validFrom).getTime()).to.equal(
        new Date(String(row[3]).length === 10 ? `${row[3]}T00:00:00Z` : String(row[3])).getTime(),
      );
      expect(new Date(e.validUntil).getTime()).to.equal(
        new Date(String(row[4]).length === 10 ? `${row[4]}T00:00:00Z` : String(row[4])).getTime(),
      );
      if (row[5] !== '') expect(e.idempotencyKey).to.equal(row[5]);
      else expect(e.idempotencyKey).to.not.equal('');
      expect(e.status).to.equal(expectations[i]!.status);
    });

    // Importing the export again recognises every row: nothing is created twice.
    const licenses = await countLicenses();
    const back = await importCsv(
      stringify([
        [...HEADER, 'key', 'status'],
        ...exported.map((r) => [r.customer, r.kind, r.seats, r.validFrom, r.validUntil, r.idempotencyKey, r.key, r.status]),
      ]),
    );
    expect(back.code, back.stderr).to.equal(0);
    expect(report(back).map((r) => r.status)).to.deep.equal(['exists', 'exists', 'exists', 'exists']);
    expect(await countLicenses()).to.equal(licenses);
  });

  it("export-licenses --reseller <id> exports only that reseller's licenses; without it, every license once", async () => {
    const r1 = await makeReseller(s);
    const r2 = await makeReseller(s);
    const c1 = await makeCustomer(s, r1);
    const c2 = await makeCustomer(s, r2);
    const tag = unique();
    const res = await importCsv(
      csv([
        [c1.id, 'MDM', 1, day(0), day(30), `scope-${tag}-1`],
        [c1.id, 'MDM', 2, day(0), day(30), `scope-${tag}-2`],
        [c2.id, 'MDM', 3, day(0), day(30), `scope-${tag}-3`],
      ]),
    );
    expect(res.code, res.stderr).to.equal(0);

    const first = await exportCsv('--reseller', r1.id);
    expect(first.map((r) => r.customer)).to.deep.equal([c1.id, c1.id]);
    // Created in one batch, in the same millisecond: their order among themselves is their (random) ids'.
    expect(first.map((r) => r.seats).sort()).to.deep.equal(['1', '2']);
    const second = await exportCsv('--reseller', r2.id);
    expect(second.map((r) => [r.customer, r.seats])).to.deep.equal([[c2.id, '3']]);

    // Everything: every license exactly once, across the export's pages (more than 10,000 rows by now).
    const all = await exportCsv();
    const total = await countLicenses();
    expect(all).to.have.length(total);
    expect(new Set(all.map((r) => r.key)).size).to.equal(total);
  });

  it("a customer name resolves only among the customers of the row's reseller (reseller column or --reseller)", async () => {
    const tag = unique();
    const a = await makeReseller(s);
    const b = await makeReseller(s);
    const acmeA = await makeCustomer(s, a, { name: `Acme ${tag}` });
    const acmeB = await makeCustomer(s, b, { name: `Acme ${tag}` });
    const onlyB = await makeCustomer(s, b, { name: `Only B ${tag}` });
    const withColumn = [...HEADER, 'reseller'];
    const licenses = await countLicenses();

    // The reseller column: the same name is A's customer in A's row and B's in B's, without an
    // idempotencyKey too (two licenses, not one).
    const byColumn = await importCsv(
      csv(
        [
          /* 2 */ [acmeA.name, 'MDM', 3, day(0), day(30), '', a.id],
          /* 3 */ [acmeA.name, 'MDM', 3, day(0), day(30), '', b.id],
          /* 4 */ [onlyB.name, 'MDM', 4, day(0), day(30), `scope-${tag}-foreign`, a.id],
          /* 5 */ [acmeB.id, 'MDM', 5, day(0), day(30), `scope-${tag}-foreign-id`, a.id],
          /* 6 */ [acmeA.name, 'MDM', 6, day(0), day(30), `scope-${tag}-no-reseller`, ''],
          /* 7 */ [onlyB.name, 'MDM', 7, day(0), day(30), `scope-${tag}-unique-no-reseller`, ''],
          /* 8 */ [acmeB.id, 'MDM', 8, day(0), day(30), `scope-${tag}-id-no-reseller`, ''],
          /* 9 */ [acmeA.name, 'MDM', 9, day(0), day(30), `scope-${tag}-unknown-reseller`, `rsl_${'0'.repeat(24)}`],
        ],
        withColumn,
      ),
    );
    expect(byColumn.code, byColumn.stderr).to.equal(2);
    const out = report(byColumn);
    expect(out.map((r) => [r.line, r.status, r.code, r.field])).to.deep.equal([
      ['2', 'created', '', ''],
      ['3', 'created', '', ''],
      ['4', 'error', 'BAD_USER_INPUT', 'customer'],
      ['5', 'error', 'BAD_USER_INPUT', 'customer'],
      ['6', 'error', 'BAD_USER_INPUT', 'customer'],
      ['7', 'error', 'BAD_USER_INPUT', 'customer'],
      ['8', 'created', '', ''],
      ['9', 'error', 'NOT_FOUND', 'reseller'],
    ]);
    expect(out[4]!.message).to.match(/needs the row's reseller/);
    const created = async (line: string) => fork().findOneOrFail(License, { id: out.find((r) => r.line === line)!.licenseId });
    expect([(await created('2')).customer.id, (await created('2')).reseller.id]).to.deep.equal([acmeA.id, a.id]);
    expect([(await created('3')).customer.id, (await created('3')).reseller.id]).to.deep.equal([acmeB.id, b.id]);
    expect((await created('8')).customer.id).to.equal(acmeB.id);
    expect(await countLicenses()).to.equal(licenses + 3);

    // --reseller scopes every row of the file; a row's own reseller must agree with it.
    const byOption = await importCsv(
      csv(
        [
          /* 2 */ [acmeA.name, 'MDM', 10, day(0), day(30), `scope-${tag}-option`, ''],
          /* 3 */ [onlyB.name, 'MDM', 11, day(0), day(30), `scope-${tag}-option-foreign`, ''],
          /* 4 */ [acmeA.name, 'MDM', 12, day(0), day(30), `scope-${tag}-option-other`, b.id],
        ],
        withColumn,
      ),
      '--reseller',
      a.id,
    );
    expect(report(byOption).map((r) => [r.line, r.status, r.code, r.field])).to.deep.equal([
      ['2', 'created', '', ''],
      ['3', 'error', 'BAD_USER_INPUT', 'customer'],
      ['4', 'error', 'BAD_USER_INPUT', 'reseller'],
    ]);
    expect((await fork().findOneOrFail(License, { idempotencyKey: `scope-${tag}-option` })).customer.id).to.equal(acmeA.id);
    // Nothing of a refused row was created, under either reseller.
    expect(await fork().count(License, { idempotencyKey: { $like: `scope-${tag}-%` } })).to.equal(2);
    expect(await countLicenses()).to.equal(licenses + 4);

    // An unknown --reseller fails the whole file.
    const unknown = await importCsv(csv([[acmeA.id, 'MDM', 1, day(0), day(30), `scope-${tag}-x`]]), '--reseller', `rsl_${'0'.repeat(24)}`);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.match(/^error: No reseller/);
    expect(await countLicenses()).to.equal(licenses + 4);
  });

  it("export-licenses writes a cell that a spreadsheet would run as a formula with a leading ', and importing the export gets the values back", async () => {
    const tag = unique();
    const own = await makeReseller(s);
    const formula = await makeCustomer(s, own, { name: `=HYPERLINK("http://evil.example") ${tag}` });
    const keys = [`=cmd|' /C calc'!A0 ${tag}`, `+1+2 ${tag}`, `-2+3 ${tag}`, `@SUM(A1) ${tag}`, `'=quoted ${tag}`, `plain ${tag}`];
    // The export quotes the name of a customer as written, or as a spreadsheet saves it with its `'`.
    // A file's leading ' before a formula character is the spreadsheet's text marker, not part of the
    // value: a key that really starts with "'=" is written "''=".
    const rows = keys.map((key, i) => [
      i % 2 ? `'${formula.name}` : formula.name,
      'MDM',
      i + 1,
      day(0),
      day(30),
      key.startsWith("'") ? `'${key}` : key,
    ]);
    const imported = await importCsv(csv(rows), '--reseller', own.id);
    expect(imported.code, imported.stderr).to.equal(0);
    expect(report(imported).map((r) => r.status)).to.deep.equal(keys.map(() => 'created'));
    const stored = await fork().find(License, { customer: formula.id }, { orderBy: { seats: 'asc' } });
    expect(stored.map((l) => l.idempotencyKey)).to.deep.equal(keys);
    // Tab and carriage return can only come from the API (the import trims its cells).
    for (const [i, start] of ['\t', '\r'].entries()) {
      const license = await makeLicense(s, formula, { seats: 100 + i });
      await fork().nativeUpdate(License, { id: license.id }, { idempotencyOwnerId: 'cli:import', idempotencyKey: `${start}ctl ${tag}` });
    }

    const res = await runCli(['export-licenses', '--reseller', own.id], s.env);
    expect(res.code, res.stderr).to.equal(0);
    const exported = parse(res.stdout, { columns: true }) as ExportRow[];
    // (Licenses of one import share their creation time: the order among them is the ids'.)
    expect(exported.map((r) => r.idempotencyKey).sort()).to.deep.equal(
      [
        `'=cmd|' /C calc'!A0 ${tag}`,
        `'+1+2 ${tag}`,
        `'-2+3 ${tag}`,
        `'@SUM(A1) ${tag}`,
        `''=quoted ${tag}`,
        `plain ${tag}`,
        `'\tctl ${tag}`,
        `'\rctl ${tag}`,
      ].sort(),
    );
    // No cell of the file starts like a formula.
    for (const cells of parse(res.stdout) as string[][]) for (const cell of cells) expect(cell, cell).to.not.match(/^[=+\-@\t\r]/);

    // Importing the export recognises every row by its original key: nothing is created twice.
    const licenses = await countLicenses();
    const back = await importCsv(res.stdout);
    expect(back.code, back.stderr).to.equal(0);
    expect(report(back).map((r) => r.status)).to.deep.equal(exported.map(() => 'exists'));
    expect(await countLicenses()).to.equal(licenses);
  });
});
