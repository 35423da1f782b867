// The provisioning script of the README, run as printed (with real ids filled in) against a server:
// it creates the licenses, and running it again creates nothing new.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Role } from '../../src/common/enums';
import { License } from '../../src/modules/licenses/license.entity';
import { makeCustomer, makeReseller, makeUser, signIn } from '../factories';
import { ROOT } from '../helpers/cli';
import { startTestServer, type TestServer } from '../helpers/server';

function readmeScript(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const match = /```js\n(\/\/ provision\.mjs[\s\S]*?)```/.exec(readme);
  if (!match) throw new Error('README has no provision.mjs block');
  return match[1]!;
}

function runNode(file: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('README: provisioning script', function () {
  this.timeout(60000);
  let s: TestServer;
  before(async () => (s = await startTestServer()));
  after(() => s.stop());

  it('provisions the listed licenses with an API token, and a second run creates nothing new', async () => {
    const reseller = await makeReseller(s);
    const customer = await makeCustomer(s, reseller);
    const seller = await makeUser(s, { role: Role.RESELLER, reseller });
    const session = await signIn(s, seller);
    const created = await s.gql<{ createApiToken: { token: string } }>(
      'mutation { createApiToken(name: "ERP sync") { token } }',
      {},
      session,
    );
    const token = created.data!.createApiToken.token;

    const file = join(s.dir, 'provision.mjs');
    writeFileSync(file, readmeScript().replaceAll("'cus_...'", `'${customer.id}'`));
    const env = { PORTAL_URL: `${s.url}/graphql`, PORTAL_TOKEN: token };
    const first = await runNode(file, env);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout.trim().split('\n')).to.have.length(2);
    const count = () => s.app.services.orm.em.fork().count(License, { customer: customer.id });
    expect(await count()).to.equal(2);

    const second = await runNode(file, env);
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout).to.equal(first.stdout);
    expect(await count()).to.equal(2);
  });
});
