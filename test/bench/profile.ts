// `npm run build && node dist/test/bench/profile.js [--executor jit|graphql-js|both|baseline] [--scale small|default]
//   [--db postgres://...] [--duration S] [--connections N] [--top N]`
//
// Where the server's CPU goes on the license page (the bench's measured query, a reseller's token):
// seeds a fresh database like `npm run bench`, then for each executor starts the real server (production,
// the node flags of `npm start`) in a child process and
//   1. drives it for --duration seconds without a profiler: req/s and server CPU (user + system, from
//      /proc) per request;
//   2. drives it again under --cpu-prof and prints the functions with the most self time, and self time
//      by package (graphql-jit, graphql, @apollo/server, the ORM, the app's own code, GC, ...).
// `--executor baseline` profiles the bench's baseline (bare Apollo Server serving the shape from memory,
// no token) the same way. Before/after a change: run it on both commits (or executors) and compare.
import 'reflect-metadata';
import autocannon from 'autocannon';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/config';
import { migrate, openOrm } from '../../src/db/orm';
import { totpCode } from '../../src/modules/auth/totp';
import { SCALES, type Scale } from './options';
import { seed, type SeededUser } from './seed';
import { benchDatabase, round1, startScriptNodeFlags, startServerProcess } from './servers';

const MEASURED_QUERY =
  '{ licenses(first: 50) { totalCount edges { node { id key kind seats status validUntil customer { id name } reseller { id name } } } pageInfo { endCursor hasNextPage } } }';
const LOGIN = 'mutation($e: String!, $p: String!, $c: String) { login(email: $e, password: $p, totpCode: $c) { token stage } }';
const ROOT = resolve(__dirname, '../../..');

interface ProfileOptions {
  executors: string[];
  scale: Scale;
  db: string | null;
  duration: number;
  connections: number;
  top: number;
}

function parseArgs(argv: string[]): ProfileOptions {
  const options: ProfileOptions = {
    executors: ['graphql-js', 'jit'],
    scale: SCALES.default,
    db: null,
    duration: 5,
    connections: 20,
    top: 25,
  };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--executor':
        options.executors = value === 'both' ? ['graphql-js', 'jit'] : value!.split(',');
        break;
      case '--scale':
        options.scale = SCALES[value as keyof typeof SCALES] ?? options.scale;
        break;
      case '--db':
        options.db = value ?? null;
        break;
      case '--duration':
        options.duration = Number(value);
        break;
      case '--connections':
        options.connections = Number(value);
        break;
      case '--top':
        options.top = Number(value);
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
    i++;
  }
  return options;
}

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function signIn(url: string, user: SeededUser): Promise<string> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: LOGIN, variables: { e: user.email, p: user.password, c: totpCode(user.secret, Date.now()) } }),
  });
  const body = (await res.json()) as { data?: { login?: { token: string } } };
  if (!body.data?.login?.token) throw new Error(`sign-in failed: ${JSON.stringify(body)}`);
  return body.data.login.token;
}

async function drive(url: string, token: string | null, seconds: number, connections: number) {
  const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const result = await autocannon({
    url: `${url}/graphql`,
    method: 'POST',
    headers,
    body: JSON.stringify({ query: MEASURED_QUERY }),
    connections,
    duration: seconds,
  });
  if (result.non2xx || result.errors) throw new Error(`${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return { requests: result.requests.total, rps: round1(result.requests.average), p50: (result.latency as unknown as { p50: number }).p50 };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The package (or part of the app) a script URL belongs to. */
function packageOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const dist = url.indexOf('/dist/');
  return dist >= 0
    ? `app ${url
        .slice(dist + 6)
        .split('/')
        .slice(0, 2)
        .join('/')}`
    : url;
}

/** Self time per function and per package over the samples taken after `skipMs` (start-up and warm-up). */
function summarize(profile: CpuProfile, skipMs: number, requests: number, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  let elapsed = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    elapsed += ms;
    if (elapsed < skipMs) return;
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.includes('node_modules/') ? url.slice(url.lastIndexOf('node_modules/') + 13) : url.replace(/^.*\/dist\//, '');
    const key = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + ms);
    const pkg = packageOf(url, functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
    total += ms;
  });
  const idle = self.get('(idle) :0') ?? 0;
  const busy = total - idle;
  const rows = (map: Map<string, number>, n: number) =>
    [...map.entries()]
      .filter(([key]) => !key.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, ms]) => `| ${key} | ${round1(ms)} | ${round1((ms / busy) * 100)} % | ${((ms / requests) * 1000).toFixed(0)} µs |`);
  return [
    `busy ${round1(busy)} ms of ${round1(total)} ms profiled, ${requests} requests: ${((busy / requests) * 1000).toFixed(0)} µs of JavaScript-thread time per request`,
    '',
    '| self time by package | ms | share | per request |',
    '| --- | --- | --- | --- |',
    ...rows(byPackage, 20),
    '',
    `| top ${top} functions by self time | ms | share | per request |`,
    '| --- | --- | --- | --- |',
    ...rows(self, top),
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const engine = options.db ? 'postgresql' : 'sqlite';
  const { env, dir, drop } = benchDatabase('lp-profile', options.db);
  const config = loadConfig(env);
  try {
    const orm = await openOrm(config.database);
    let reseller: SeededUser;
    try {
      await migrate(orm);
      reseller = (await seed(orm, engine, options.scale, config.secretKey, () => undefined)).resellerUsers[0]!;
    } finally {
      await orm.close(true);
    }
    console.log(
      `# CPU profile of the license page: ${engine}, scale ${options.scale.name}, ${options.connections} connections, ${options.duration} s per run`,
    );
    const nodeFlags = startScriptNodeFlags(ROOT);
    let step = 0;
    // Sessions live in the database: one sign-in serves every server started below.
    let token: string | null = null;
    for (const executor of options.executors) {
      const runEnv = { ...env, GRAPHQL_EXECUTOR: executor };
      const entry = join(__dirname, executor === 'baseline' ? 'serve-baseline.js' : 'serve-app.js');
      // 1. Without a profiler: throughput and CPU per request.
      const plain = await startServerProcess(executor, entry, runEnv, nodeFlags);
      let measured;
      try {
        if (executor !== 'baseline') token ??= await signIn(plain.url, reseller);
        await drive(plain.url, executor === 'baseline' ? null : token, Math.min(3, options.duration), options.connections);
        const before = cpuMs(plain.pid);
        measured = await drive(plain.url, executor === 'baseline' ? null : token, options.duration, options.connections);
        const cpu = cpuMs(plain.pid) - before;
        console.log(
          `\n## GRAPHQL_EXECUTOR=${executor}\n\n${measured.rps} req/s, p50 ${measured.p50} ms, server CPU ${(cpu / measured.requests).toFixed(2)} ms per request (${measured.requests} requests, no profiler)`,
        );
      } finally {
        await plain.stop();
      }
      // 2. Under --cpu-prof: where the time goes.
      const profDir = join(dir, `prof-${step++}`);
      const forkedAt = performance.now();
      const profiled = await startServerProcess(`${executor} (profiled)`, entry, runEnv, [
        ...nodeFlags,
        '--cpu-prof',
        `--cpu-prof-dir=${profDir}`,
      ]);
      let requests = 0;
      let skipMs = 0;
      try {
        await drive(profiled.url, executor === 'baseline' ? null : token, Math.min(3, options.duration), options.connections);
        skipMs = performance.now() - forkedAt;
        requests = (await drive(profiled.url, executor === 'baseline' ? null : token, options.duration, options.connections)).requests;
      } finally {
        await profiled.stop();
      }
      const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no CPU profile written in ${profDir}`);
      const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile;
      console.log(`\nunder --cpu-prof (the measured run only; start-up and warm-up left out):\n`);
      console.log(summarize(profile, skipMs, requests, options.top));
    }
  } finally {
    await drop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('profile failed:', error);
    process.exit(1);
  },
);
