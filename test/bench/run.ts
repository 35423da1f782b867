// `npm run bench -- [--scale small|default|large] [--db postgres://...] [--connections N] [--duration S]`
//
// 1. Seeds a fresh database (temp SQLite file, or a fresh PostgreSQL schema dropped at the end).
// 2. Starts the real server (startApp, NODE_ENV=production) and the baseline (baseline.ts), each in its
//    own child process, and drives both with autocannon, A B A B, with a reseller's AUTHENTICATED token.
// 3. Measures SQL statements per request (in-process startApp with orm.onQuery), first page against a
//    deep page, list p99 while login loops run, and server RSS under load.
// 4. Prints a markdown table with the goals and writes the figures to a JSON file.
import 'reflect-metadata';
import autocannon from 'autocannon';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { startApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { migrate, openOrm } from '../../src/db/orm';
import { totpCode } from '../../src/modules/auth/totp';
import { parseOptions, type BenchOptions } from './options';
import { BULK_ROWS_PER_CALL, bulkBaseline, bulkWrites } from './bulk';
import { webhookThroughput } from './webhooks';
import { resellerViews, viewFigures } from './views';
import { importFigure, importThroughput } from './import';
import { versusFigure, versusPostGraphile } from './postgraphile';
import { DENSE, seed, seedDenseReseller, type SeededUser, type SeedResult } from './seed';
import { benchDatabase, round1, startScriptNodeFlags, startServerProcess, type RssSummary, type ServerProcess } from './servers';

export const MEASURED_QUERY =
  '{ licenses(first: 50) { totalCount edges { node { id key kind seats status validUntil customer { id name } reseller { id name } } } pageInfo { endCursor hasNextPage } } }';

const PAGE_QUERY = `query($first: Int!, $after: String) { licenses(first: $first, after: $after) { totalCount edges { node { id key kind seats status validUntil customer { id name } reseller { id name } } } pageInfo { endCursor hasNextPage } } }`;
const WALK_QUERY = 'query($after: String) { licenses(first: 50, after: $after) { pageInfo { endCursor hasNextPage } } }';
const LOGIN = 'mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage } }';

/**
 * The dearest request the default cost limit (10,000) allows a reseller: 100 + 100 x 99 = 10,000. With
 * licenses(first: 100) it costs 10,100 and is refused, which dearestAllowed() checks.
 */
export const DEAREST_QUERY =
  '{ customers(first: 100) { totalCount edges { node { id name licenses(first: 99) { totalCount edges { node { id key kind seats status validUntil } } pageInfo { endCursor hasNextPage } } } } pageInfo { endCursor hasNextPage } } }';
const DEAREST_COST = 10_000;
/** createLicenses calls of the bulk-write figure (of BULK_ROWS_PER_CALL rows each). */
const BULK_CALLS = 30;
/** The request of the issue that stalled the server: 15 aliases of customers(100) x licenses(100). */
const ATTACK_QUERY = `{ ${Array.from({ length: 15 }, (_, i) => `c${i}: customers(first: 100) { edges { node { id licenses(first: 100) { edges { node { id key } } } } } }`).join(' ')} }`;

export const TABLE_HEADER = '| figure | value | goal | met |';

const ROOT = resolve(__dirname, '../../..');

interface GqlBody<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

async function gql<T>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token: string | null = null,
): Promise<{ status: number; body: GqlBody<T> }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as GqlBody<T> };
  } catch {
    return { status: res.status, body: { errors: [{ message: text.slice(0, 500) }] } };
  }
}

/** The data of a request that must succeed. */
async function gqlData<T>(url: string, query: string, variables: Record<string, unknown>, token: string): Promise<T> {
  const res = await gql<T>(url, query, variables, token);
  if (res.status !== 200 || res.body.errors?.length || !res.body.data)
    throw new Error(`${query.slice(0, 60)}: ${JSON.stringify(res.body.errors)}`);
  return res.body.data;
}

/** A TOTP step is accepted once per user: a second sign-in of the same user uses the next step. */
const lastStep = new Map<string, number>();
function freshCode(user: SeededUser): string {
  const step = Math.max(Math.floor(Date.now() / 30_000), (lastStep.get(user.id) ?? -1) + 1);
  lastStep.set(user.id, step);
  return totpCode(user.secret, step * 30_000);
}

async function signIn(url: string, user: SeededUser): Promise<string> {
  const res = await gql<{ login: { token: string; stage: string } }>(url, LOGIN, { e: user.email, p: user.password, c: freshCode(user) });
  if (res.body.data?.login.stage !== 'AUTHENTICATED')
    throw new Error(`sign-in of ${user.email} failed: ${res.status} ${JSON.stringify(res.body.errors)}`);
  return res.body.data.login.token;
}

type Connection = { totalCount: number; edges: { node: { id: string } }[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } };

/** One response body of the measured query: no errors and the expected number of rows. */
async function verifyMeasuredQuery(name: string, url: string, token: string | null, expectedRows: number): Promise<void> {
  const res = await gql<{ licenses: Connection }>(url, MEASURED_QUERY, {}, token);
  if (res.status !== 200 || res.body.errors?.length)
    throw new Error(`${name}: the measured query answered ${res.status} with errors ${JSON.stringify(res.body.errors)}`);
  const rows = res.body.data?.licenses.edges.length ?? -1;
  if (rows !== expectedRows) throw new Error(`${name}: the measured query returned ${rows} rows, expected ${expectedRows}`);
}

const median = (values: number[]) => percentile(values, 50);
function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const round2 = (n: number) => Math.round(n * 100) / 100;

interface LoadResult {
  run: string;
  server: string;
  connections: number;
  durationS: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  bodyErrors: number;
  rss: RssSummary;
}

async function load(
  run: string,
  server: ServerProcess,
  token: string | null,
  options: BenchOptions,
  durationS = options.duration,
): Promise<LoadResult> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const body = JSON.stringify({ query: MEASURED_QUERY });
  let bodyErrors = 0;
  const stopSampling = server.sampleRss();
  const result = await autocannon({
    url: `${server.url}/graphql`,
    method: 'POST',
    headers,
    body,
    connections: options.connections,
    duration: durationS,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: '/graphql',
        headers,
        body,
        onResponse: (_status: number, responseBody: string) => {
          if (responseBody.includes('"errors":')) bodyErrors++;
        },
      },
    ],
  });
  const rss = await stopSampling();
  const latency = result.latency as unknown as Record<string, number>;
  return {
    run,
    server: server.name,
    connections: options.connections,
    durationS,
    requests: result.requests.total,
    rps: round1(result.requests.average),
    p50Ms: latency.p50!,
    p99Ms: latency.p99!,
    meanMs: round2(latency.average!),
    maxMs: latency.max!,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    bodyErrors,
    rss,
  };
}

interface LoginStats {
  clients: number;
  logins: number;
  failures: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs `during` while `clients` loops log in (password only) as fast as they can. */
async function withLogins<T>(
  url: string,
  user: SeededUser,
  clients: number,
  during: () => Promise<T>,
): Promise<{ result: T; logins: LoginStats }> {
  let stop = false;
  const latencies: number[] = [];
  let failures = 0;
  const loop = async () => {
    while (!stop) {
      const started = performance.now();
      try {
        const res = await gql<{ login: { stage: string } }>(url, LOGIN, { e: user.email, p: user.password, c: null });
        if (res.body.data?.login.stage !== 'TOTP_REQUIRED') failures++;
      } catch {
        failures++;
      }
      latencies.push(performance.now() - started);
    }
  };
  const loops = Array.from({ length: clients }, loop);
  let result: T;
  try {
    result = await during();
  } finally {
    stop = true;
    await Promise.all(loops);
  }
  // Counted after the loops ended: logins still in flight when the load stopped are included.
  return {
    result,
    logins: { clients, logins: latencies.length, failures, p50Ms: round1(median(latencies)), p99Ms: round1(percentile(latencies, 99)) },
  };
}

interface DeepPage {
  requestedPage: number;
  reachedPage: number;
  totalCount: number;
  samples: number;
  firstP50Ms: number;
  deepP50Ms: number;
  ratio: number;
}

/** Walks the cursors (first: 50) to the deep page, then times the first and the deep page alternately. */
async function firstVersusDeep(url: string, token: string, options: BenchOptions): Promise<DeepPage> {
  let after: string | null = null;
  let page = 1;
  while (page < options.deepPage) {
    const res: { status: number; body: GqlBody<{ licenses: Connection }> } = await gql<{ licenses: Connection }>(
      url,
      WALK_QUERY,
      { after },
      token,
    );
    const info = res.body.data?.licenses.pageInfo;
    if (!info) throw new Error(`walking the pages failed at page ${page}: ${JSON.stringify(res.body.errors)}`);
    if (!info.hasNextPage) break;
    after = info.endCursor;
    page++;
  }
  const time = async (cursor: string | null) => {
    const started = performance.now();
    const res = await gql<{ licenses: Connection }>(url, PAGE_QUERY, { first: 50, after: cursor }, token);
    const ms = performance.now() - started;
    if (res.body.errors?.length || !res.body.data) throw new Error(`page request failed: ${JSON.stringify(res.body.errors)}`);
    return { ms, data: res.body.data.licenses };
  };
  const deepCheck = await time(after);
  if (after && deepCheck.data.edges.length === 0) throw new Error('the deep page is empty');
  for (let i = 0; i < 20; i++) {
    await time(null);
    await time(after);
  }
  const first: number[] = [];
  const deep: number[] = [];
  for (let i = 0; i < options.samples; i++) {
    first.push((await time(null)).ms);
    deep.push((await time(after)).ms);
  }
  const firstP50 = median(first);
  const deepP50 = median(deep);
  return {
    requestedPage: options.deepPage,
    reachedPage: page,
    totalCount: deepCheck.data.totalCount,
    samples: options.samples,
    firstP50Ms: round2(firstP50),
    deepP50Ms: round2(deepP50),
    ratio: round2(deepP50 / firstP50),
  };
}

interface Dearest {
  cost: number;
  rows: number;
  samples: number;
  p50Ms: number;
  maxMs: number;
  rssBeforeMb: number;
  rss: RssSummary;
  rssGrowthMb: number;
  attackRefusedMs: number;
  /** Server CPU time (user + system) per request: unlike latency, barely inflated by other load on the machine. */
  cpuMsPerRequest: number | null;
  /** The machine's 1-minute load average when the requests ended (other work inflates latency). */
  loadAverage: number;
}

/** CPU time (user + system) a process has used so far, from /proc (null where there is none). */
function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

type DenseData = { customers: { edges: { node: { licenses: { edges: unknown[] } } }[] } };

/**
 * The dearest allowed request on data that fills it (a reseller with 100 customers of 100 licenses,
 * seeded now): checks that it runs and that one row more (and the issue's attack) is refused, then
 * times it sequentially while sampling the server's RSS.
 */
export async function dearestAllowed(server: ServerProcess, user: SeededUser, options: BenchOptions): Promise<Dearest> {
  const token = await signIn(server.url, user);
  // RSS from before the first dearest request to the peak over all of them (warm-up included).
  const rssBefore = await server.rss();
  const stopSampling = server.sampleRss(50);
  const first = await gql<DenseData>(server.url, DEAREST_QUERY, {}, token);
  if (first.body.errors?.length || !first.body.data)
    throw new Error(`the dearest allowed request failed: ${JSON.stringify(first.body.errors)}`);
  const rows = first.body.data.customers.edges.reduce((n, e) => n + e.node.licenses.edges.length, 0);
  if (rows !== DENSE.customers * 99)
    throw new Error(`the dearest allowed request returned ${rows} licenses, expected ${DENSE.customers * 99}`);
  const refused = async (query: string) => {
    const started = performance.now();
    const res = await gql(server.url, query, {}, token);
    const ms = performance.now() - started;
    const extensions = res.body.errors?.[0]?.extensions as { code?: string; reason?: string } | undefined;
    if (extensions?.reason !== 'QUERY_TOO_COMPLEX')
      throw new Error(`expected QUERY_TOO_COMPLEX, got ${res.status} ${JSON.stringify(res.body.errors ?? res.body.data).slice(0, 300)}`);
    return ms;
  };
  await refused(DEAREST_QUERY.replace('licenses(first: 99)', 'licenses(first: 100)'));
  const attackRefusedMs = await refused(ATTACK_QUERY);

  for (let i = 0; i < 2; i++) await gql(server.url, DEAREST_QUERY, {}, token);
  const times: number[] = [];
  const samples = Math.min(options.samples, 20);
  const cpuBefore = cpuMs(server.pid);
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    const res = await gql(server.url, DEAREST_QUERY, {}, token);
    times.push(performance.now() - started);
    if (res.body.errors?.length) throw new Error(`the dearest allowed request failed: ${JSON.stringify(res.body.errors)}`);
  }
  const cpuAfter = cpuMs(server.pid);
  const rss = await stopSampling();
  const rssBeforeMb = round1(rssBefore / 1024 / 1024);
  return {
    cost: DEAREST_COST,
    rows,
    samples,
    p50Ms: round1(median(times)),
    maxMs: round1(Math.max(...times)),
    rssBeforeMb,
    rss,
    rssGrowthMb: round1(rss.peakMb - rssBeforeMb),
    attackRefusedMs: round1(attackRefusedMs),
    loadAverage: round2(loadavg()[0]!),
    cpuMsPerRequest: cpuBefore === null || cpuAfter === null ? null : round1((cpuAfter - cpuBefore) / samples),
  };
}

interface StatementCounts {
  perFirst: Record<string, number[]>;
  /** The statements of one first = 50 request, for whoever optimises them. */
  sample: string[];
}

/** SQL statements per single request at first = 10, 50, 100, counted in-process through orm.onQuery. */
async function countStatements(env: Record<string, string>, user: SeededUser): Promise<StatementCounts> {
  const lines: string[] = [];
  // The webhook worker off: only the requests' own statements are counted, not its background dispatch.
  const app = await startApp(loadConfig({ ...env, PORT: '0', WEBHOOK_WORKER: 'off' }), { orm: { onQuery: (sql) => lines.push(sql) } });
  try {
    const token = await signIn(app.url, user);
    const perFirst: Record<string, number[]> = {};
    let sample: string[] = [];
    for (const first of [10, 50, 100]) {
      const query = MEASURED_QUERY.replace('first: 50', `first: ${first}`);
      const counts: number[] = [];
      // The first request of each size warms up; three more are counted.
      for (let i = 0; i < 4; i++) {
        lines.length = 0;
        const res = await gql(app.url, query, {}, token);
        await new Promise((r) => setTimeout(r, 20));
        if (res.body.errors?.length) throw new Error(`statement count request failed: ${JSON.stringify(res.body.errors)}`);
        const statements = lines.filter((line) => line.includes('[query]'));
        if (i > 0) counts.push(statements.length);
        if (first === 50 && i === 1) sample = statements.map((s) => s.replace(/\x1b\[[0-9;]*m/g, '').slice(0, 2000));
      }
      perFirst[String(first)] = counts;
    }
    return { perFirst, sample };
  } finally {
    await app.stop();
  }
}

interface Figure {
  figure: string;
  value: string;
  goal: string;
  met: boolean | null;
  data: Record<string, unknown>;
}

function renderTable(figures: Figure[]): string {
  const rows = figures.map((f) => `| ${f.figure} | ${f.value} | ${f.goal} | ${f.met === null ? 'n/a' : f.met ? 'yes' : 'NO'} |`);
  return [TABLE_HEADER, '| --- | --- | --- | --- |', ...rows].join('\n');
}

function renderRuns(runs: LoadResult[]): string {
  const header = '| run | server | req/s | p50 ms | p99 ms | mean ms | non2xx | errors | timeouts | body errors | peak RSS MB |';
  const rows = runs.map(
    (r) =>
      `| ${r.run} | ${r.server} | ${r.rps} | ${r.p50Ms} | ${r.p99Ms} | ${r.meanMs} | ${r.non2xx} | ${r.errors} | ${r.timeouts} | ${r.bodyErrors} | ${r.rss.peakMb} |`,
  );
  return [header, '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const engine = options.db ? 'postgresql' : 'sqlite';
  const engineLabel = engine === 'sqlite' ? 'SQLite' : 'PostgreSQL';
  const log = (line: string) => console.log(line);
  const { env, schema, drop } = benchDatabase('lp-bench', options.db);
  const config = loadConfig(env);

  const servers: ServerProcess[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= cleanUp());
  const cleanUp = async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
    await drop();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    log(`# License Portal benchmark: ${engineLabel}, scale ${options.scale.name}`);
    log(
      `${options.scale.resellers} resellers, ${options.scale.customers} customers, ${options.scale.licenses} licenses; ` +
        `${options.connections} connections, ${options.duration} s per run; node ${process.version}, ${cpus().length} CPUs`,
    );

    // 1. Seed.
    log(`\n## Seeding ${engine === 'sqlite' ? config.database.engine === 'sqlite' && config.database.path : `schema ${schema}`}`);
    const orm = await openOrm(config.database);
    let seeded: SeedResult;
    try {
      await migrate(orm);
      seeded = await seed(orm, engine, options.scale, config.secretKey, log);
    } finally {
      await orm.close(true);
    }
    log(`seeding took ${(seeded.ms.total / 1000).toFixed(1)} s (password hash ${seeded.ms.passwordHash} ms, users ${seeded.ms.users} ms)`);

    // 2. Servers in child processes.
    const appNodeFlags = startScriptNodeFlags(ROOT);
    const app = await startServerProcess('app', join(__dirname, 'serve-app.js'), env, appNodeFlags);
    servers.push(app);
    const baseline = await startServerProcess('baseline', join(__dirname, 'serve-baseline.js'), {
      ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
    });
    servers.push(baseline);
    log(
      `\napp (pid ${app.pid}, node flags of npm start: ${appNodeFlags.join(' ') || 'none'}) at ${app.url}, baseline (pid ${baseline.pid}) at ${baseline.url}`,
    );

    const reseller = seeded.resellerUsers[0]!;
    const resellerToken = await signIn(app.url, reseller);
    const adminToken = await signIn(app.url, seeded.admin);
    await verifyMeasuredQuery('app', app.url, resellerToken, Math.min(50, seeded.firstResellerLicenses));
    await verifyMeasuredQuery('baseline', baseline.url, null, 50);
    log('one response body of each checked: no errors, expected rows');

    // 3. Load: warm-up, then A B A B.
    const runs: LoadResult[] = [];
    if (options.warmup > 0) {
      log(`\n## Warm-up (${options.warmup} s each, not reported)`);
      await load('warm-up', app, resellerToken, options, options.warmup);
      await load('warm-up', baseline, null, options, options.warmup);
    }
    log(`\n## Load: A B A B, ${options.connections} connections, ${options.duration} s each`);
    for (let round = 1; round <= 2; round++) {
      for (const [server, token] of [
        [app, resellerToken],
        [baseline, null],
      ] as const) {
        const r = await load(`round ${round}`, server, token, options);
        runs.push(r);
        log(
          `${r.run} ${r.server}: ${r.rps} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, errors ${r.errors + r.non2xx + r.bodyErrors}, peak RSS ${r.rss.peakMb} MB`,
        );
      }
    }

    const versus = options.db
      ? await versusPostGraphile({
          app,
          appToken: resellerToken,
          appQuery: MEASURED_QUERY,
          env,
          resellerId: reseller.resellerId!,
          ...options,
          log,
        })
      : null;

    log(`\n## List p99 without and with ${options.loginClients} login loops`);
    const without = await load('without logins', app, resellerToken, options);
    runs.push(without);
    const withLoginRun = await withLogins(app.url, seeded.loginUser, options.loginClients, () =>
      load('with logins', app, resellerToken, options),
    );
    runs.push(withLoginRun.result);
    log(
      `without: p99 ${without.p99Ms} ms; with: p99 ${withLoginRun.result.p99Ms} ms (${withLoginRun.logins.logins} logins, p50 ${withLoginRun.logins.p50Ms} ms)`,
    );

    log(`\n## First page against page ${options.deepPage} (admin, ${options.samples} sequential requests each)`);
    const deep = await firstVersusDeep(app.url, adminToken, options);
    log(
      `reached page ${deep.reachedPage} of ${Math.ceil(deep.totalCount / 50)}: first p50 ${deep.firstP50Ms} ms, deep p50 ${deep.deepP50Ms} ms`,
    );

    const appRss = await app.rss();

    log(
      `\n## Dearest allowed request (cost ${DEAREST_COST}; a reseller with ${DENSE.customers} customers of ${DENSE.licensesPerCustomer} licenses, seeded now)`,
    );
    const denseOrm = await openOrm(config.database);
    let denseUser: SeededUser;
    try {
      denseUser = await seedDenseReseller(denseOrm, engine, config.secretKey);
    } finally {
      await denseOrm.close(true);
    }
    const dearest = await dearestAllowed(app, denseUser, options);
    log(
      `${dearest.rows} licenses: p50 ${dearest.p50Ms} ms, max ${dearest.maxMs} ms, server CPU ${dearest.cpuMsPerRequest ?? 'n/a'} ms per request (${dearest.samples} sequential requests); ` +
        `RSS ${dearest.rssBeforeMb} MB before, peak ${dearest.rss.peakMb} MB; the issue's 15-alias request refused in ${dearest.attackRefusedMs} ms; load average ${dearest.loadAverage} on ${cpus().length} CPUs`,
    );

    log('\n## Reseller views against the root license page (reseller 1, [throughput] goal 1)');
    const views = await resellerViews(app.url, resellerToken, env, options, log, app.pid);

    log(
      `\n## Bulk writes: createLicenses in ${BULK_CALLS} calls of ${BULK_ROWS_PER_CALL} rows (admin, 10 customers), against the database's own multi-row inserts`,
    );
    const bulkRun = await bulkWrites(app.url, adminToken, BULK_CALLS, gqlData);

    await Promise.all(servers.map((s) => s.stop()));

    const bulkOrm = await openOrm(config.database);
    let bulkBaselineMs: number;
    try {
      bulkBaselineMs = await bulkBaseline(bulkOrm, bulkRun.customers, bulkRun.resellerId, bulkRun.rows);
    } finally {
      await bulkOrm.close(true);
    }
    const bulk = {
      rows: bulkRun.rows,
      appRowsPerSecond: Math.round(bulkRun.rows / (bulkRun.ms / 1000)),
      baselineRowsPerSecond: Math.round(bulkRun.rows / (bulkBaselineMs / 1000)),
    };
    const bulkRatio = round2(bulk.appRowsPerSecond / bulk.baselineRowsPerSecond);
    log(
      `createLicenses: ${bulk.rows} rows at ${bulk.appRowsPerSecond} rows/s; the same rows as multi-row inserts: ${bulk.baselineRowsPerSecond} rows/s (ratio ${bulkRatio})`,
    );

    log('\n## Webhooks: 1,000 license creations to 1,000 signed deliveries (in-process server, worker on, local receiver)');
    // Before the import: the outbox is dispatched oldest first, and the import's 50,000 messages would be ahead.
    const hooks = await webhookThroughput(env, adminToken, bulkRun.customers, gqlData);
    log(
      `first call to last delivery ${hooks.totalMs} ms (creations ${hooks.createMs} ms, then ${hooks.drainMs} ms to the last delivery); the same ${hooks.messages} POSTs sent bare: ${hooks.bareMs} ms`,
    );

    log(
      `\n## CSV import: ${options.importRows} rows through import-licenses, against the database's own multi-row inserts of the same rows`,
    );
    const imported = await importThroughput(env, options.importRows, log);

    log('\n## SQL statements per request (in-process startApp, orm.onQuery)');
    const statements = await countStatements(env, reseller);
    log(
      Object.entries(statements.perFirst)
        .map(([first, counts]) => `first = ${first}: ${counts.join(', ')}`)
        .join('; '),
    );

    // 4. Figures.
    const appRounds = runs.filter((r) => r.server === 'app' && r.run.startsWith('round'));
    const baselineRounds = runs.filter((r) => r.server === 'baseline' && r.run.startsWith('round'));
    const appRps = mean(appRounds.map((r) => r.rps));
    const baselineRps = mean(baselineRounds.map((r) => r.rps));
    const ratio = round2(appRps / baselineRps);
    const perFirst = Object.fromEntries(Object.entries(statements.perFirst).map(([k, v]) => [k, Math.max(...v)]));
    const statementValues = Object.values(perFirst);
    const steady = Object.values(statements.perFirst).every((counts) => counts.every((c) => c === counts[0]));
    const appP50 = round2(mean(appRounds.map((r) => r.p50Ms)));
    const appP99 = round2(mean(appRounds.map((r) => r.p99Ms)));
    const appErrors = appRounds.reduce((n, r) => n + r.errors + r.non2xx + r.bodyErrors + r.timeouts, 0);
    const loadErrors = runs.filter((r) => r.server === 'app').reduce((n, r) => n + r.errors + r.non2xx + r.bodyErrors + r.timeouts, 0);
    const loginRatio = round2(withLoginRun.result.p99Ms / without.p99Ms);
    // The measured query's load (A rounds and the run without logins); the login run is reported beside
    // it: every running scrypt hash (N = 2^15, r = 8, p = 3) holds 32 MiB outside the JavaScript heap.
    const rssPeak = Math.max(...runs.filter((r) => r.server === 'app' && r.run !== 'with logins').map((r) => r.rss.peakMb));
    const rssPeakLogins = withLoginRun.result.rss.peakMb;

    const ratioFigure = (label: string, forEngine: 'sqlite' | 'postgresql', goal: number): Figure =>
      engine === forEngine
        ? {
            figure: label === 'SQLite' ? `measured query req/s ÷ baseline req/s, ${label}` : `same on ${label}`,
            value: `${round1(appRps)} ÷ ${round1(baselineRps)} = ${ratio}`,
            goal: `>= ${goal.toFixed(2)}`,
            met: ratio >= goal,
            data: { appRps: round1(appRps), baselineRps: round1(baselineRps), ratio },
          }
        : {
            figure: label === 'SQLite' ? `measured query req/s ÷ baseline req/s, ${label}` : `same on ${label}`,
            value: `not measured in this run (${forEngine === 'postgresql' ? 'use --db postgres://...' : 'run without --db'})`,
            goal: `>= ${goal.toFixed(2)}`,
            met: null,
            data: {},
          };
    const bulkGoal = engine === 'sqlite' ? 3000 : 2000;
    const figures: Figure[] = [
      ratioFigure('SQLite', 'sqlite', 0.4),
      ratioFigure('PostgreSQL', 'postgresql', 0.35),
      ...viewFigures(views, `${engineLabel}, scale ${options.scale.name}`),
      versusFigure(versus),
      {
        figure: `createLicenses in calls of ${BULK_ROWS_PER_CALL} rows, ${engineLabel} (÷ the database's own multi-row inserts of the same rows)`,
        value: `${bulk.appRowsPerSecond} rows/s (${bulk.rows} rows) ÷ ${bulk.baselineRowsPerSecond} rows/s = ${bulkRatio}`,
        goal: `>= ${bulkGoal} rows/s ([throughput] goal 2)`,
        met: bulk.appRowsPerSecond >= bulkGoal,
        data: { ...bulk, ratio: bulkRatio },
      },
      importFigure(imported, engineLabel),
      {
        figure: `${hooks.messages} license creations (createLicenses, 10 x 100) to ${hooks.messages} signed webhook deliveries, ${engineLabel} (÷ the same POSTs sent bare)`,
        value: `${round1(hooks.totalMs / 1000)} s from the first call to the last delivery (${round1(hooks.createMs / 1000)} s creating, ${round1(hooks.drainMs / 1000)} s more to deliver) ÷ ${round1(hooks.bareMs / 1000)} s = ${round2(hooks.totalMs / hooks.bareMs)}`,
        goal: '<= 10 s ([webhooks])',
        met: hooks.totalMs <= 10_000,
        data: { ...hooks },
      },
      {
        figure: 'SQL statements per request',
        value: `first = 10: ${perFirst['10']}, 50: ${perFirst['50']}, 100: ${perFirst['100']}${steady ? '' : ' (varied between requests; max shown)'}`,
        goal: 'the same at first = 10, 50, 100, and at most 3',
        met: statementValues.every((v) => v === statementValues[0]) && Math.max(...statementValues) <= 3,
        data: { perFirst, all: statements.perFirst },
      },
      {
        figure: `deep page p50 ÷ first page p50 (page ${deep.reachedPage}, admin)`,
        value: `${deep.deepP50Ms} ms ÷ ${deep.firstP50Ms} ms = ${deep.ratio}`,
        goal: '<= 1.2',
        met: deep.ratio <= 1.2,
        data: { ...deep },
      },
      {
        figure: `list p99 while ${options.loginClients} logins run ÷ without`,
        value: `${withLoginRun.result.p99Ms} ms ÷ ${without.p99Ms} ms = ${loginRatio} (${withLoginRun.logins.logins} logins)`,
        goal: '<= 2',
        met: loginRatio <= 2,
        data: { withP99Ms: withLoginRun.result.p99Ms, withoutP99Ms: without.p99Ms, ratio: loginRatio, logins: withLoginRun.logins },
      },
      {
        figure: `p99 at ${options.connections} connections`,
        value: `p50 ${appP50} ms, p99 ${appP99} ms (${round2(appP99 / appP50)} × p50), errors ${appErrors}`,
        goal: '<= 5 × p50, zero errors',
        met: appP99 <= 5 * appP50 && appErrors === 0,
        data: { p50Ms: appP50, p99Ms: appP99, p99OverP50: round2(appP99 / appP50), errors: appErrors, errorsInAllAppRuns: loadErrors },
      },
      {
        figure: 'server RSS under load',
        value:
          `${rssPeak} MB peak under the measured query (${rssPeakLogins} MB while ${options.loginClients} logins also ran; ` +
          `baseline ${Math.max(...baselineRounds.map((r) => r.rss.peakMb))} MB; app after all load ${round1(appRss / 1024 / 1024)} MB)`,
        goal: '<= 200 MB',
        met: rssPeak <= 200,
        data: {
          appPeakMb: rssPeak,
          appPeakWithLoginsMb: rssPeakLogins,
          baselinePeakMb: Math.max(...baselineRounds.map((r) => r.rss.peakMb)),
          appAfterLoadMb: round1(appRss / 1024 / 1024),
        },
      },
      {
        figure: `dearest allowed request (cost ${dearest.cost}: customers(100) x licenses(99), reseller)`,
        value:
          `p50 ${dearest.p50Ms} ms, max ${dearest.maxMs} ms, server CPU ${dearest.cpuMsPerRequest ?? 'n/a'} ms per request (${dearest.rows} licenses, ${dearest.samples} requests); ` +
          `RSS +${dearest.rssGrowthMb} MB (${dearest.rssBeforeMb} -> ${dearest.rss.peakMb} MB peak); the issue's 15 aliases refused in ${dearest.attackRefusedMs} ms`,
        goal: 'p50 < 1000 ms, RSS growth < 64 MB ([throughput] goal 4)',
        met: dearest.p50Ms < 1000 && dearest.rssGrowthMb < 64,
        data: { ...dearest, query: DEAREST_QUERY },
      },
    ];

    log('\n## Runs\n');
    log(renderRuns(runs));
    log(`\n## Figures (${engineLabel}, scale ${options.scale.name}, seeding ${(seeded.ms.total / 1000).toFixed(1)} s)\n`);
    log(renderTable(figures));

    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const out = options.out ? resolve(options.out) : join(ROOT, 'bench-results', `${engine}-${options.scale.name}-${stamp}.json`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          engine,
          scale: options.scale,
          options: {
            connections: options.connections,
            durationS: options.duration,
            warmupS: options.warmup,
            samples: options.samples,
            deepPage: options.deepPage,
            loginClients: options.loginClients,
          },
          appNodeFlags,
          machine: {
            node: process.version,
            cpus: cpus().length,
            cpuModel: cpus()[0]?.model,
            memoryMb: Math.round(totalmem() / 1024 / 1024),
          },
          measuredQuery: MEASURED_QUERY,
          seed: { counts: seeded.counts, ms: seeded.ms },
          runs,
          figures,
          statementsOfOneRequestAtFirst50: statements.sample,
        },
        null,
        2,
      ) + '\n',
    );
    log(`\nfigures written to ${out}`);
  } finally {
    await cleanup();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error('bench failed:', error);
      process.exit(1);
    },
  );
}
