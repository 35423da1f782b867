// The reseller views of [throughput] goal 1 against the root license page, in the same run: the customer
// view, the filtered license lists, the nested Reseller.customers and Customer.licenses pages. For each:
// p50 and req/s under autocannon (the root page measured before and after the views, its mean p50 the
// reference), and the SQL statements of one request (in-process startApp, orm.onQuery).
//
// From run.ts: `resellerViews(...)` and `viewFigures(...)`. Alone (seeds its own database, starts the
// server, measures only these views):
//   node dist/test/bench/views.js [--scale small|default|large] [--db postgres://...] [--duration S] [--connections N]
import 'reflect-metadata';
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { migrate, openOrm } from '../../src/db/orm';
import { totpCode } from '../../src/modules/auth/totp';
import { parseOptions, type BenchOptions } from './options';
import { seed, type SeededUser } from './seed';
import { benchDatabase, startScriptNodeFlags, startServerProcess, type ServerProcess } from './servers';

const ROOT_PAGE =
  '{ licenses(first: 50) { totalCount edges { node { id key kind seats status validUntil customer { id name } reseller { id name } } } pageInfo { endCursor hasNextPage } } }';

/** A date 90 days ahead (the "expiring soon" list), fixed for the run so that every request is the same. */
const soon = () => new Date(Date.now() + 90 * 86_400_000).toISOString();

export function viewQueries(): { name: string; query: string }[] {
  return [
    {
      name: 'customers(first: 20) with hasValidLicense and licenses(first: 5) { totalCount }',
      query: '{ customers(first: 20) { totalCount edges { node { id name hasValidLicense licenses(first: 5) { totalCount } } } } }',
    },
    {
      name: 'licenses(first: 20, filter: {status: [ACTIVE], kind: MDM})',
      query:
        '{ licenses(first: 20, filter: {status: [ACTIVE], kind: MDM}) { totalCount edges { node { id key kind status validUntil customer { id name } } } pageInfo { endCursor hasNextPage } } }',
    },
    {
      name: 'licenses(first: 20, filter: {status: [ACTIVE], expiresBefore: +90 days})',
      query: `{ licenses(first: 20, filter: {status: [ACTIVE], expiresBefore: "${soon()}"}) { totalCount edges { node { id key kind status validUntil customer { id name } } } pageInfo { endCursor hasNextPage } } }`,
    },
    {
      name: 'Reseller.customers(first: 20) with hasValidLicense',
      query:
        '{ resellers(first: 1) { edges { node { id customers(first: 20) { totalCount edges { node { id name hasValidLicense } } pageInfo { endCursor hasNextPage } } } } } }',
    },
    {
      name: 'customers(first: 20) { Customer.licenses(first: 5) page }',
      query:
        '{ customers(first: 20) { edges { node { id name licenses(first: 5) { totalCount edges { node { id key status validUntil } } pageInfo { endCursor hasNextPage } } } } } }',
    },
  ];
}

export interface ViewFigure {
  name: string;
  rps: number;
  p50Ms: number;
  /** p50 ÷ the root license page's p50 of the same run. */
  ratio: number;
  /** Server CPU ms per request, and ÷ the root page's. */
  cpuMsPerRequest: number | null;
  cpuRatio: number | null;
  /** Statements of three requests (a session's lastSeenAt, touched at most once a minute, may add to one). */
  statements: number[];
  /** The same with every page size 2.5 times larger (first: 20 -> 50, first: 5 -> 12). */
  statementsLarger: number[];
  errors: number;
}

export interface ViewResults {
  connections: number;
  durationS: number;
  root: { rps: number; p50Ms: number; cpuMsPerRequest: number | null; statements: number[] };
  views: ViewFigure[];
}

type Gql = (url: string, query: string, token: string) => Promise<{ errors?: unknown[]; data?: unknown }>;

const gqlPost: Gql = async (url, query, token) => {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query }),
  });
  return (await res.json()) as { errors?: unknown[]; data?: unknown };
};

/** CPU time (user + system) a process has used so far, from /proc (null where there is none). */
function cpuMs(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

async function hammer(url: string, token: string, query: string, connections: number, duration: number, pid: number | null) {
  const body = JSON.stringify({ query });
  let bodyErrors = 0;
  const cpuBefore = cpuMs(pid);
  const result = await autocannon({
    url: `${url}/graphql`,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
    connections,
    duration,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: '/graphql',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
        onResponse: (_status: number, responseBody: string) => {
          if (responseBody.includes('"errors":')) bodyErrors++;
        },
      },
    ],
  });
  const cpuAfter = cpuMs(pid);
  const latency = result.latency as unknown as Record<string, number>;
  return {
    /** Server CPU per request: unlike latency, barely inflated by other load on the machine. */
    cpuMsPerRequest:
      cpuBefore === null || cpuAfter === null || !result.requests.total
        ? null
        : Math.round(((cpuAfter - cpuBefore) / result.requests.total) * 100) / 100,
    rps: Math.round(result.requests.average * 10) / 10,
    p50Ms: latency.p50!,
    errors: result.errors + result.non2xx + result.timeouts + bodyErrors,
  };
}

/** Statements of three requests of each query (after one warm-up), in-process on the same database (and session). */
async function countStatements(env: Record<string, string>, token: string, queries: string[]): Promise<number[][]> {
  const lines: string[] = [];
  // The webhook worker off: only the requests' own statements are counted, not its background dispatch.
  const app = await startApp(loadConfig({ ...env, PORT: '0', WEBHOOK_WORKER: 'off' }), { orm: { onQuery: (sql) => lines.push(sql) } });
  try {
    const out: number[][] = [];
    for (const query of queries) {
      const counts: number[] = [];
      for (let i = 0; i < 4; i++) {
        lines.length = 0;
        const res = await gqlPost(app.url, query, token);
        await new Promise((r) => setTimeout(r, 20));
        if (res.errors?.length) throw new Error(`${query.slice(0, 60)}: ${JSON.stringify(res.errors)}`);
        if (i > 0) counts.push(lines.filter((line) => line.includes('[query]')).length);
      }
      out.push(counts);
    }
    return out;
  } finally {
    await app.stop();
  }
}

/**
 * Each view under load (autocannon, options.connections, options.duration s), the root page before
 * and after them; then the statements per request of each (in-process, on the same database and token).
 */
export async function resellerViews(
  url: string,
  token: string,
  env: Record<string, string>,
  options: Pick<BenchOptions, 'connections' | 'duration'>,
  log: (line: string) => void = () => undefined,
  /** The server's process id, for its CPU time per request (/proc). */
  pid: number | null = null,
): Promise<ViewResults> {
  const views = viewQueries();
  for (const { name, query } of [{ name: 'root page', query: ROOT_PAGE }, ...views]) {
    const res = await gqlPost(url, query, token);
    if (res.errors?.length || !res.data) throw new Error(`${name}: ${JSON.stringify(res.errors)}`);
  }
  const duration = options.duration;
  const rootBefore = await hammer(url, token, ROOT_PAGE, options.connections, duration, pid);
  log(
    `root license page: ${rootBefore.rps} req/s, p50 ${rootBefore.p50Ms} ms, server CPU ${rootBefore.cpuMsPerRequest ?? 'n/a'} ms per request`,
  );
  const measured: Awaited<ReturnType<typeof hammer>>[] = [];
  for (const view of views) {
    const r = await hammer(url, token, view.query, options.connections, duration, pid);
    log(`${view.name}: ${r.rps} req/s, p50 ${r.p50Ms} ms, server CPU ${r.cpuMsPerRequest ?? 'n/a'} ms per request, errors ${r.errors}`);
    measured.push(r);
  }
  const rootAfter = await hammer(url, token, ROOT_PAGE, options.connections, duration, pid);
  log(
    `root license page again: ${rootAfter.rps} req/s, p50 ${rootAfter.p50Ms} ms, server CPU ${rootAfter.cpuMsPerRequest ?? 'n/a'} ms per request`,
  );
  const rootCpu =
    rootBefore.cpuMsPerRequest === null || rootAfter.cpuMsPerRequest === null
      ? null
      : (rootBefore.cpuMsPerRequest + rootAfter.cpuMsPerRequest) / 2;
  const rootP50 = (rootBefore.p50Ms + rootAfter.p50Ms) / 2;
  const larger = (query: string) => query.replace(/first: 20\b/g, 'first: 50').replace(/first: 5\b/g, 'first: 12');
  const [rootStatements, ...statements] = await countStatements(env, token, [
    ROOT_PAGE,
    ...views.map((v) => v.query),
    ...views.map((v) => larger(v.query)),
  ]);
  return {
    connections: options.connections,
    durationS: duration,
    root: {
      rps: Math.round(((rootBefore.rps + rootAfter.rps) / 2) * 10) / 10,
      p50Ms: rootP50,
      cpuMsPerRequest: rootCpu === null ? null : Math.round(rootCpu * 100) / 100,
      statements: rootStatements!,
    },
    views: views.map((view, i) => ({
      name: view.name,
      rps: measured[i]!.rps,
      p50Ms: measured[i]!.p50Ms,
      ratio: Math.round((measured[i]!.p50Ms / rootP50) * 100) / 100,
      cpuMsPerRequest: measured[i]!.cpuMsPerRequest,
      cpuRatio:
        rootCpu === null || measured[i]!.cpuMsPerRequest === null
          ? null
          : Math.round((measured[i]!.cpuMsPerRequest! / rootCpu) * 100) / 100,
      statements: statements[i]!,
      statementsLarger: statements[views.length + i]!,
      errors: measured[i]!.errors,
    })),
  };
}

/** The rows of run.ts's figures table. */
export function viewFigures(results: ViewResults, label: string) {
  return results.views.map((view) => ({
    figure: `${view.name}, ${label}: p50 ÷ root license page p50`,
    value: `${view.p50Ms} ÷ ${results.root.p50Ms} ms = ${view.ratio} (server CPU per request ${view.cpuMsPerRequest ?? 'n/a'} ÷ ${results.root.cpuMsPerRequest ?? 'n/a'} ms = ${view.cpuRatio ?? 'n/a'}; ${view.rps} req/s; statements per request ${view.statements.join(', ')}, at 2.5x the page size ${view.statementsLarger.join(', ')}; root ${results.root.statements.join(', ')})`,
    goal: '<= 2, statements independent of the page size ([throughput] goal 1; flat in data: compare --scale default and large)',
    met: view.ratio <= 2 && view.errors === 0 && Math.min(...view.statements) === Math.min(...view.statementsLarger),
    data: { ...view, rootP50Ms: results.root.p50Ms },
  }));
}

/** Standalone: seed a database at the given scale, start the server, measure the views only. */
async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const engine = options.db ? 'postgresql' : 'sqlite';
  const { env, drop } = benchDatabase('lp-views', options.db);
  const config = loadConfig(env);
  let server: ServerProcess | undefined;
  try {
    const orm = await openOrm(config.database);
    let user: SeededUser;
    try {
      await migrate(orm);
      const seeded = await seed(orm, engine, options.scale, config.secretKey, console.log);
      user = seeded.resellerUsers[0]!;
      console.log(`seeded in ${(seeded.ms.total / 1000).toFixed(1)} s; reseller 1 has ${seeded.firstResellerLicenses} licenses`);
    } finally {
      await orm.close(true);
    }
    const signIn = async (url: string) => {
      const res = (await gqlPost(
        url,
        `mutation { login(email: "${user.email}", password: "${user.password}", totpCode: "${totpCode(user.secret, Date.now())}") { token stage } }`,
        '',
      )) as { data?: { login: { token: string } } };
      if (!res.data?.login.token) throw new Error(`sign-in failed: ${JSON.stringify(res)}`);
      return res.data.login.token;
    };
    server = await startServerProcess('app', join(__dirname, 'serve-app.js'), env, startScriptNodeFlags(resolve(__dirname, '../../..')));
    const token = await signIn(server.url);
    const results = await resellerViews(server.url, token, env, options, console.log, server.pid);
    console.log(
      `\n| view (${engine}, scale ${options.scale.name}) | p50 ÷ root p50 | server CPU per request ÷ root | req/s | statements |`,
    );
    console.log('| --- | --- | --- | --- | --- |');
    console.log(
      `| root license page | ${results.root.p50Ms} ms | ${results.root.cpuMsPerRequest} ms | ${results.root.rps} | ${results.root.statements.join(', ')} |`,
    );
    for (const v of results.views)
      console.log(
        `| ${v.name} | ${v.p50Ms} ÷ ${results.root.p50Ms} = ${v.ratio} | ${v.cpuMsPerRequest} ÷ ${results.root.cpuMsPerRequest} = ${v.cpuRatio} | ${v.rps} | ${v.statements.join(', ')} (pages x2.5: ${v.statementsLarger.join(', ')}) |`,
      );
  } finally {
    await server?.stop();
    await drop();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error('views bench failed:', error);
      process.exit(1);
    },
  );
}
