// Keeps `npm run bench` from rotting: runs the compiled benchmark at small scale as a child process and
// checks only that it finishes and prints its figures table (on PostgreSQL when TEST_DATABASE_URL is set).
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const RUN = resolve(__dirname, '../bench/run.js');
const TIMEOUT_MS = 180_000;

describe('bench (smoke, small scale)', function () {
  this.timeout(TIMEOUT_MS + 20_000);
  this.slow(60_000);

  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lp-bench-smoke-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs to the end and prints the markdown table of figures', async () => {
    const out = join(dir, 'result.json');
    const args = [RUN, '--scale', 'small', '--duration', '2', '--connections', '4', '--samples', '50', '--out', out];
    if (process.env.TEST_DATABASE_URL) args.push('--db', process.env.TEST_DATABASE_URL);

    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
      const child = spawn(process.execPath, args, { cwd: resolve(__dirname, '../../..'), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGINT'), TIMEOUT_MS);
      child.on('error', fail);
      child.on('close', (exitCode) => {
        clearTimeout(timer);
        done({ code: exitCode, stdout, stderr });
      });
    });

    expect(code, `bench exited with ${code}\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`).to.equal(0);
    expect(stdout).to.include('| figure | value | goal | met |');
  });
});
