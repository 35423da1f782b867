// The server as an operator runs it: `node dist/src/main.js` as a child process. It says where it
// listens, answers /healthz, finishes in-flight requests on SIGTERM and exits 0, and refuses a bad
// configuration with one line on stderr and a non-zero exit code.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer as startProcess, waitForLog, type ServerProcess } from '../helpers/process';
import { testEnv, usingPostgres } from '../helpers/server';

/** Resolves with the exit, or rejects when the process is still running after timeoutMs. */
function exitWithin(p: ServerProcess, timeoutMs: number) {
  return Promise.race([
    p.closed,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms: ${p.stderr()}`)), timeoutMs)),
  ]);
}

interface HttpAnswer {
  status: number;
  body: string;
}

/** One request on a new connection (no keep-alive pool that could hide a closed listener). */
function send(url: string, method: string, body?: string): { req: ClientRequest; answer: Promise<HttpAnswer> } {
  let req!: ClientRequest;
  const answer = new Promise<HttpAnswer>((resolve, reject) => {
    req = request(
      url,
      {
        method,
        agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
  return { req, answer };
}

function call(url: string, method: string, body?: string): Promise<HttpAnswer> {
  const { req, answer } = send(url, method, body);
  req.end(body);
  return answer;
}

/** The error code of a connection attempt that fails, or 'connected'. */
async function connectionOutcome(url: string): Promise<string> {
  try {
    await call(url, 'GET');
    return 'connected';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

const SLOW_LOGIN = JSON.stringify({
  query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token stage } }',
  variables: { e: 'nobody@example.test', p: 'a wrong password' },
});

describe('the server process (node dist/src/main.js)', function () {
  this.timeout(60000);
  let dir: string;
  let schema: string;
  let running: ServerProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lp-proc-'));
    schema = `t_${randomBytes(6).toString('hex')}`;
    running = undefined;
  });

  afterEach(async () => {
    if (running && running.child.exitCode === null && running.child.signalCode === null) {
      running.child.kill('SIGKILL');
      await running.closed;
    }
    if (usingPostgres()) {
      const { openOrm } = await import('../../src/db/orm');
      const orm = await openOrm({ engine: 'postgresql', url: process.env.TEST_DATABASE_URL! });
      await orm.em.getConnection().execute(`drop schema if exists "${schema}" cascade`);
      await orm.close(true);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs the URL it listens on and answers GET /healthz with 200', async () => {
    running = startProcess(testEnv(dir, schema, { LOG_LEVEL: 'info', PORT: '0' }), dir);
    const listening = await waitForLog(running, 'listening');
    const url = String(listening.url);
    expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
    const base = url.replace(/\/graphql$/, '');

    const health = await call(`${base}/healthz`, 'GET');
    expect(health.status).to.equal(200);
    expect(JSON.parse(health.body)).to.deep.equal({ status: 'ok' });

    const gql = await call(url, 'POST', JSON.stringify({ query: '{ __typename }' }));
    expect(gql.status).to.equal(200);
    expect(JSON.parse(gql.body)).to.deep.equal({ data: { __typename: 'Query' } });
    // Nothing is printed to stdout; logs are JSON lines on stderr.
    expect(running.stdout()).to.equal('');
  });

  it('on SIGTERM refuses new connections, still answers the request in flight, and exits with code 0', async () => {
    running = startProcess(testEnv(dir, schema, { LOG_LEVEL: 'info', PORT: '0' }), dir);
    const url = String((await waitForLog(running, 'listening')).url);

    // A login for an unknown address costs a full scrypt hash. Its body is sent in two parts, so the
    // request is certainly in flight (headers read, body pending) when the signal arrives.
    const cut = Math.floor(SLOW_LOGIN.length / 2);
    const inFlight = send(url, 'POST', SLOW_LOGIN);
    inFlight.req.write(SLOW_LOGIN.slice(0, cut));
    await new Promise((r) => setTimeout(r, 300));

    running.child.kill('SIGTERM');
    await waitForLog(running, 'shutting down');
    await new Promise((r) => setTimeout(r, 200));
    expect(await connectionOutcome(`${url.replace(/\/graphql$/, '')}/healthz`)).to.equal('ECONNREFUSED');
    expect(running.child.exitCode).to.equal(null);

    inFlight.req.end(SLOW_LOGIN.slice(cut));
    const answer = await inFlight.answer;
    expect(answer.status).to.equal(200);
    const body = JSON.parse(answer.body) as { data: unknown; errors: { extensions: { code: string } }[] };
    expect(body.data).to.equal(null);
    expect(body.errors[0]!.extensions.code).to.equal('UNAUTHENTICATED');

    const exit = await exitWithin(running, 15000);
    expect(exit, running.stderr()).to.deep.equal({ code: 0, signal: null });
    expect(await connectionOutcome(url)).to.equal('ECONNREFUSED');
  });

  it('with NODE_ENV=production and no SECRET_KEY exits non-zero with one line naming SECRET_KEY', async () => {
    const env = testEnv(dir, schema, { NODE_ENV: 'production', LOG_LEVEL: 'info', PORT: '0' });
    delete env.SECRET_KEY;
    running = startProcess(env, dir);
    const exit = await exitWithin(running, 15000);
    expect(exit.code).to.not.equal(0);
    expect(exit.code).to.not.equal(null);
    const lines = running.stderr().trim().split('\n');
    expect(lines, running.stderr()).to.have.length(1);
    expect(lines[0]).to.contain('SECRET_KEY');
    expect(running.stdout()).to.equal('');
    // No development key was generated in its place.
    expect(existsSync(join(dir, 'secret.key'))).to.equal(false);
  });

  for (const port of ['not-a-port', '70000', '-1']) {
    it(`with PORT=${port} exits non-zero with one line naming PORT`, async () => {
      running = startProcess(testEnv(dir, schema, { LOG_LEVEL: 'info', PORT: port }), dir);
      const exit = await exitWithin(running, 15000);
      expect(exit.code).to.not.equal(0);
      expect(exit.code).to.not.equal(null);
      const lines = running.stderr().trim().split('\n');
      expect(lines, running.stderr()).to.have.length(1);
      expect(lines[0]).to.contain('PORT');
      expect(lines[0]).to.not.match(/\bat .*\.js:\d+/);
    });
  }

  it('with DEFAULT_LOCALE=fr exits non-zero with one line naming DEFAULT_LOCALE', async () => {
    running = startProcess(testEnv(dir, schema, { LOG_LEVEL: 'info', DEFAULT_LOCALE: 'fr' }), dir);
    const exit = await exitWithin(running, 15000);
    expect(exit.code).to.not.equal(0);
    expect(exit.code).to.not.equal(null);
    const lines = running.stderr().trim().split('\n');
    expect(lines, running.stderr()).to.have.length(1);
    expect(lines[0]).to.contain('DEFAULT_LOCALE');
    expect(lines[0]).to.not.match(/\bat .*\.js:\d+/);
  });

  it('with its port already taken exits non-zero with one line instead of a stack trace', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (blocker.address() as AddressInfo).port;
      running = startProcess(testEnv(dir, schema, { LOG_LEVEL: 'error', PORT: String(port) }), dir);
      const exit = await exitWithin(running, 30000);
      expect(exit.code).to.not.equal(0);
      expect(exit.code).to.not.equal(null);
      const lines = running.stderr().trim().split('\n');
      expect(lines, running.stderr()).to.have.length(1);
      expect(lines[0]).to.contain('EADDRINUSE');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
