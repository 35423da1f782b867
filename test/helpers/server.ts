// Starts the real HTTP server for a test file: a temporary SQLite file, or a fresh PostgreSQL schema
// when TEST_DATABASE_URL is set (as .ci/run does). Everything goes over HTTP like a real client.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, type App } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { openOrm } from '../../src/db/orm';
import type { Logger } from '../../src/logger';

export interface GqlResult<T = Record<string, unknown>> {
  status: number;
  data: T | null;
  errors: { message: string; extensions?: { code?: string; field?: string; [k: string]: unknown }; path?: string[] }[] | undefined;
  headers: Headers;
}

export interface TestServer {
  app: App;
  config: Config;
  url: string;
  dir: string;
  env: Record<string, string>;
  /** Every SQL statement the ORM ran, for statement-count tests. */
  queries: string[];
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string | null,
    headers?: Record<string, string>,
  ): Promise<GqlResult<T>>;
  outbox(): string[];
  stop(): Promise<void>;
}

export const usingPostgres = () => Boolean(process.env.TEST_DATABASE_URL);

/** Environment for a server (or a CLI process) sharing this test's database and outbox. */
export function testEnv(dir: string, schema: string, extra: Record<string, string> = {}): Record<string, string> {
  const pg = process.env.TEST_DATABASE_URL;
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    DATABASE_URL: pg ?? `sqlite:${join(dir, 'portal.sqlite')}`,
    ...(pg ? { DATABASE_SCHEMA: schema } : {}),
    SECRET_KEY: 'test-secret-key-0123456789abcdef0123456789',
    MAIL_OUTBOX_DIR: join(dir, 'outbox'),
    PUBLIC_URL: 'https://portal.example.test',
    RESELLER_PORTAL_URL: 'https://rsp.example.test/activate',
    // The webhook worker polls the database every second: only the tests of webhooks turn it on, so that
    // no other test counts its statements.
    WEBHOOK_WORKER: 'off',
    ...extra,
  };
}

/** `log`: a logger of the test's own (e.g. one writing to a stream the test reads); else LOG_LEVEL's. */
export async function startTestServer(extra: Record<string, string> = {}, options: { log?: Logger } = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'lp-test-'));
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const env = testEnv(dir, schema, extra);
  const config = loadConfig(env);
  const queries: string[] = [];
  const app = await startApp(config, { log: options.log, orm: { onQuery: (sql) => queries.push(sql) } });
  const url = app.url;

  const server: TestServer = {
    app,
    config,
    url,
    dir,
    env,
    queries,
    gql: (query, variables = {}, token = null, headers = {}) => gqlAt(url, query, variables, token, headers),
    outbox() {
      try {
        return readdirSync(join(dir, 'outbox'))
          .sort()
          .map((f) => readFileSync(join(dir, 'outbox', f), 'utf8'));
      } catch {
        return [];
      }
    },
    async stop() {
      await app.stop();
      await dropPgSchema(schema);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** One GraphQL request over HTTP; an unparsable body comes back as a single error with its text. */
export async function gqlAt<T>(
  base: string,
  query: string,
  variables: Record<string, unknown> = {},
  token: string | null = null,
  headers: Record<string, string> = {},
  operationName?: string,
): Promise<GqlResult<T>> {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify({ query, variables, ...(operationName ? { operationName } : {}) }),
  });
  const text = await res.text();
  let body: { data?: unknown; errors?: GqlResult['errors'] };
  try {
    body = JSON.parse(text);
  } catch {
    body = { errors: [{ message: text }] };
  }
  return { status: res.status, data: (body.data ?? null) as never, errors: body.errors, headers: res.headers };
}

/** Drops a PostgreSQL test schema (no-op without TEST_DATABASE_URL). */
export async function dropPgSchema(schema: string): Promise<void> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) return;
  const orm = await openOrm({ engine: 'postgresql', url });
  try {
    await orm.em.getConnection().execute(`drop schema if exists "${schema}" cascade`);
  } finally {
    await orm.close(true);
  }
}

/** The data of a response that must have no errors. */
export function ok<T>(res: GqlResult<T>): T {
  expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
  expect(res.data).to.not.equal(null);
  return res.data!;
}

/** The error code of the first error, or undefined. */
export function codeOf(result: GqlResult<unknown>): string | undefined {
  return result.errors?.[0]?.extensions?.code;
}
