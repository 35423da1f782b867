// Real server processes for tests: `node dist/src/main.js` as a child process (as an operator runs it),
// its stderr captured completely, its URL read from the "listening" log line, and a GraphQL client for
// it. Also the pieces to seed such a process's database through the ORM in the test process.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config';
import { migrate, openOrm, type Orm } from '../../src/db/orm';
import { ROOT } from './cli';
import { gqlAt, type GqlResult, type TestServer } from './server';

export { dropPgSchema, gqlAt } from './server';

export interface ServerProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited and its output streams are closed (all output read). */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnServer(env: Record<string, string>, cwd: string): ServerProcess {
  // cwd is an empty folder: no .env of the developer's checkout leaks in.
  const child = spawn(process.execPath, [join(ROOT, 'dist/src/main.js')], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, closed };
}

/** The JSON log lines written so far (a partial last line is left out). */
export function logLines(p: Pick<ServerProcess, 'stderr'>): Record<string, unknown>[] {
  return p
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.endsWith('}'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export async function waitForLog(p: ServerProcess, msg: string, timeoutMs = 30000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let done = false;
  void p.closed.then(() => (done = true));
  for (;;) {
    const found = logLines(p).find((l) => l.msg === msg);
    if (found) return found;
    if (done) throw new Error(`the process exited before logging "${msg}": ${p.stderr()}`);
    if (Date.now() > deadline) throw new Error(`no "${msg}" log line within ${timeoutMs} ms: ${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface RunningServer {
  proc: ServerProcess;
  /** http://127.0.0.1:<port> */
  base: string;
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string | null,
    headers?: Record<string, string>,
    operationName?: string,
  ): Promise<GqlResult<T>>;
  /** SIGTERM, then SIGKILL if it is still running after timeoutMs; resolves once all output is read. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the server and waits until it listens (LOG_LEVEL must be info or debug for the URL line). */
export async function startServerProcess(env: Record<string, string>, cwd: string): Promise<RunningServer> {
  if (!['info', 'debug'].includes(env.LOG_LEVEL ?? '')) throw new Error('startServerProcess needs LOG_LEVEL info or debug');
  const proc = spawnServer(env, cwd);
  let url: string;
  try {
    url = String((await waitForLog(proc, 'listening')).url);
  } catch (error) {
    proc.child.kill('SIGKILL');
    await proc.closed;
    throw error;
  }
  const base = url.replace(/\/graphql$/, '');
  return {
    proc,
    base,
    gql: (query, variables, token, headers, operationName) => gqlAt(base, query, variables, token, headers, operationName),
    async stop(timeoutMs = 15000) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        proc.child.kill('SIGTERM');
        const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
        try {
          return await proc.closed;
        } finally {
          clearTimeout(timer);
        }
      }
      return proc.closed;
    },
  };
}

/** Opens (and migrates) the database a child process with this environment uses. */
export async function openOrmFor(env: Record<string, string>): Promise<{ orm: Orm; config: Config }> {
  const config = loadConfig(env);
  const orm = await openOrm(config.database);
  await migrate(orm);
  return { orm, config };
}

/**
 * Just enough of a TestServer for the factories (they use app.services.orm, config.secretKey and, for
 * signIn/passwordOnly, gql): seeds through this process's ORM and signs in through a server process.
 */
export function factoryTarget(orm: Orm, config: Config, server?: RunningServer): TestServer {
  return {
    app: { services: { orm } },
    config,
    gql: server ? server.gql : () => Promise.reject(new Error('no server process for gql')),
  } as unknown as TestServer;
}
