// The parent side of a benchmarked server process: fork it, read its URL, sample its RSS from
// /proc/<pid>/status (VmRSS) while load runs (or ask the child over IPC where there is no /proc), stop it.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openOrm } from '../../src/db/orm';
import type { ChildMessage } from './child-protocol';

export interface RssSummary {
  peakMb: number;
  meanMb: number;
  samples: number;
}

export interface ServerProcess {
  name: string;
  url: string;
  pid: number;
  /** The child's resident set size now, in bytes. */
  rss(): Promise<number>;
  /** Samples RSS every intervalMs until the returned function is called. */
  sampleRss(intervalMs?: number): () => Promise<RssSummary>;
  stop(): Promise<void>;
}

const MB = 1024 * 1024;

function procRss(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function ipcRss(child: ChildProcess, send: (message: object) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ChildMessage) => {
      if (message?.type !== 'rss') return;
      child.off('message', onMessage);
      clearTimeout(timer);
      resolve(message.rss);
    };
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error('no RSS answer from the child'));
    }, 5000);
    child.on('message', onMessage);
    send({ type: 'rss' });
  });
}

/** The node flags of `npm start` (package.json), so the benchmarked server runs as it does in production. */
export function startScriptNodeFlags(root: string): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.trim().split(/\s+/);
  if (words[0] !== 'node') throw new Error(`the start script does not run node: ${pkg.scripts.start}`);
  return words.slice(1).filter((word) => word.startsWith('--'));
}

export async function startServerProcess(
  name: string,
  entry: string,
  env: Record<string, string>,
  nodeFlags: string[] = [],
  startTimeoutMs = 120_000,
): Promise<ServerProcess> {
  const child = fork(entry, [], { env, execArgv: [...process.execArgv, ...nodeFlags], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // IPC to a child that is already going away (e.g. it got the terminal's Ctrl-C too) is not an error here.
  child.on('error', () => undefined);
  const send = (message: object) => {
    try {
      if (child.connected) child.send(message, () => undefined);
    } catch {
      // Channel closed.
    }
  };
  const lines = createInterface({ input: child.stdout! });

  const started = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${startTimeoutMs} ms`)), startTimeoutMs);
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { url?: string; pid?: number };
        if (parsed.url) {
          clearTimeout(timer);
          resolve({ url: parsed.url, pid: parsed.pid ?? child.pid! });
          return;
        }
      } catch {
        // Not our line: pass it on.
      }
      process.stderr.write(`[${name}] ${line}\n`);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before it printed its URL`));
    });
  }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });

  const useProc = existsSync(`/proc/${started.pid}/status`);
  const rss = async () => (useProc ? procRss(started.pid) : null) ?? ipcRss(child, send);

  let stopping: Promise<void> | undefined;
  return {
    name,
    url: started.url,
    pid: started.pid,
    rss,
    sampleRss(intervalMs = 200) {
      const values: number[] = [];
      const take = () =>
        rss().then(
          (v) => void values.push(v),
          () => undefined,
        );
      void take();
      const timer = setInterval(() => void take(), intervalMs);
      return async () => {
        clearInterval(timer);
        await take();
        const peak = Math.max(...values);
        const mean = values.reduce((a, b) => a + b, 0) / values.length;
        return { peakMb: round1(peak / MB), meanMb: round1(mean / MB), samples: values.length };
      };
    },
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        if (child.connected) send({ type: 'stop' });
        else child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(killer);
        lines.close();
      })()),
  };
}

export const round1 = (n: number) => Math.round(n * 10) / 10;

/** A bench's own database: a temporary directory (and SQLite file), or a fresh PostgreSQL schema. */
export interface BenchDatabase {
  dir: string;
  schema: string;
  /** The production server environment every bench server runs with. */
  env: Record<string, string>;
  /** Drops the PostgreSQL schema (if any) and removes the directory; reports, never throws. */
  drop(): Promise<void>;
}

export function benchDatabase(prefix: string, db: string | null | undefined): BenchDatabase {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  const env: Record<string, string> = {
    ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
    NODE_ENV: 'production',
    LOG_LEVEL: 'error',
    SECRET_KEY: randomBytes(32).toString('base64'),
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    DATABASE_URL: db ?? `sqlite:${join(dir, 'bench.sqlite')}`,
    ...(db ? { DATABASE_SCHEMA: schema } : {}),
    MAIL_OUTBOX_DIR: join(dir, 'outbox'),
    PUBLIC_URL: 'https://portal.bench.test',
  };
  return {
    dir,
    schema,
    env,
    async drop() {
      if (db) {
        try {
          const orm = await openOrm({ engine: 'postgresql', url: db });
          await orm.em.getConnection().execute(`drop schema if exists "${schema}" cascade`);
          await orm.close(true);
        } catch (error) {
          console.error(`could not drop schema ${schema}:`, error);
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
