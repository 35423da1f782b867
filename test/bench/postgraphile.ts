// The license page against PostGraphile 4 on the same PostgreSQL data (`npm run bench -- --db ...`):
// PostGraphile (serve-postgraphile.ts, its own process, no auth at all) serves the bench's seeded schema,
// and is asked for the equivalent page: the reseller's 50 newest licenses by condition, ordered by the
// app's key (created_at desc, id desc), with customer and reseller, totalCount and pageInfo. Both
// answers are checked to hold the same 50 ids in the same order, then app and PostGraphile are driven
// alternately, A B A B, like the baseline rounds.
import autocannon from 'autocannon';
import { join } from 'node:path';
import { round1, startServerProcess, type ServerProcess } from './servers';

export const postgraphileQuery = (resellerId: string) =>
  `{ allLicenses(first: 50, condition: { resellerId: ${JSON.stringify(resellerId)} }, orderBy: [CREATED_AT_DESC, ID_DESC]) { totalCount edges { node { id key kind seats validFrom validUntil revokedAt customerByCustomerId { id name } resellerByResellerId { id name } } } pageInfo { endCursor hasNextPage } } }`;

export interface VersusRun {
  server: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

export interface Versus {
  runs: VersusRun[];
  appRps: number;
  postgraphileRps: number;
  ratio: number;
}

type Page = { edges: { node: { id: string } }[] };

async function pageIds(url: string, query: string, token: string | null, field: string): Promise<string[]> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query }),
  });
  const body = (await res.json()) as { data?: Record<string, Page>; errors?: unknown[] };
  if (body.errors?.length || !body.data?.[field]) throw new Error(`${url}: ${JSON.stringify(body.errors ?? body).slice(0, 500)}`);
  return body.data[field]!.edges.map((e) => e.node.id);
}

async function drive(server: ServerProcess, query: string, token: string | null, connections: number, seconds: number): Promise<VersusRun> {
  let bodyErrors = 0;
  const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const body = JSON.stringify({ query });
  const result = await autocannon({
    url: `${server.url}/graphql`,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/graphql',
        headers,
        body,
        onResponse: (_status: number, text: string) => void (text.includes('"errors":') && bodyErrors++),
      },
    ],
  });
  const latency = result.latency as unknown as Record<string, number>;
  return {
    server: server.name,
    rps: round1(result.requests.average),
    p50Ms: latency.p50!,
    p99Ms: latency.p99!,
    errors: result.errors + result.non2xx + result.timeouts + bodyErrors,
  };
}

export async function versusPostGraphile(options: {
  app: ServerProcess;
  appToken: string;
  appQuery: string;
  env: Record<string, string>;
  resellerId: string;
  connections: number;
  duration: number;
  warmup: number;
  log: (line: string) => void;
}): Promise<Versus> {
  const { app, appToken, appQuery, env, connections, duration, log } = options;
  log(`\n## App against PostGraphile 4 (same data, no auth on PostGraphile): A B A B, ${connections} connections, ${duration} s each`);
  const postgraphile = await startServerProcess('postgraphile', join(__dirname, 'serve-postgraphile.js'), {
    ...(env.PATH ? { PATH: env.PATH } : {}),
    DATABASE_URL: env.DATABASE_URL!,
    DATABASE_SCHEMA: env.DATABASE_SCHEMA!,
    HOST: '127.0.0.1',
  });
  try {
    const query = postgraphileQuery(options.resellerId);
    const [mine, theirs] = [
      await pageIds(app.url, appQuery, appToken, 'licenses'),
      await pageIds(postgraphile.url, query, null, 'allLicenses'),
    ];
    if (mine.length !== 50 || JSON.stringify(mine) !== JSON.stringify(theirs))
      throw new Error(`PostGraphile's page is not the app's: ${mine.length} vs ${theirs.length} rows, first ${mine[0]} vs ${theirs[0]}`);
    log(`PostGraphile 4 (pid ${postgraphile.pid}, no auth) at ${postgraphile.url}: the same 50 ids in the same order as the app's page`);
    if (options.warmup > 0) {
      await drive(app, appQuery, appToken, connections, options.warmup);
      await drive(postgraphile, query, null, connections, options.warmup);
    }
    const runs: VersusRun[] = [];
    for (let round = 1; round <= 2; round++) {
      for (const [server, q, token] of [
        [app, appQuery, appToken],
        [postgraphile, query, null],
      ] as const) {
        const run = await drive(server, q, token, connections, duration);
        runs.push(run);
        log(`round ${round} ${run.server}: ${run.rps} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, errors ${run.errors}`);
      }
    }
    const mean = (server: string) => {
      const of = runs.filter((r) => r.server === server);
      return round1(of.reduce((n, r) => n + r.rps, 0) / of.length);
    };
    const appRps = mean(app.name);
    const postgraphileRps = mean('postgraphile');
    return { runs, appRps, postgraphileRps, ratio: Math.round((appRps / postgraphileRps) * 100) / 100 };
  } finally {
    await postgraphile.stop();
  }
}

/** The bench table's row (run.ts): without --db there is no PostGraphile run. */
export function versusFigure(versus: Versus | null) {
  const figure =
    'measured query req/s ÷ PostGraphile 4 req/s (same PostgreSQL data, equivalent page by condition; PostGraphile runs without auth)';
  if (!versus) return { figure, value: 'not measured in this run (use --db postgres://...)', goal: '>= 1.20', met: null, data: {} };
  const errors = versus.runs.reduce((n, r) => n + r.errors, 0);
  return {
    figure,
    value: `${versus.appRps} ÷ ${versus.postgraphileRps} = ${versus.ratio} (A B A B${errors ? `, ${errors} errors` : ''})`,
    goal: '>= 1.20',
    met: versus.ratio >= 1.2 && errors === 0,
    data: { ...versus },
  };
}
