// The committed schema/schema.graphql is what the code serves, and it stays compatible with the contract.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, findBreakingChanges } from 'graphql';
import { printAppSchema, SCHEMA_FILE } from '../../src/graphql/emit-schema';
import { ROOT } from '../helpers/cli';

function committedSchema(): string | null {
  try {
    return execFileSync('git', ['show', 'HEAD:schema/schema.graphql'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return null;
  }
}

describe('schema/schema.graphql', () => {
  let generated: string;
  before(async () => (generated = await printAppSchema()));

  it('on disk equals the schema the code builds', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).to.equal(generated);
  });

  it('as committed equals the schema the code builds (stale: run npm run build and commit it)', function () {
    const committed = committedSchema();
    if (committed === null) this.skip(); // not a git checkout
    expect(committed).to.equal(generated);
  });

  it('is a compatible superset of the API contract', function () {
    const contractFile = join(ROOT, '..', 'shared', 'api', 'contract.graphql');
    if (!existsSync(contractFile)) this.skip();
    const breaking = findBreakingChanges(buildSchema(readFileSync(contractFile, 'utf8')), buildSchema(generated));
    expect(breaking.map((b) => b.description)).to.deep.equal([]);
  });
});

describe('the DateTime scalar', () => {
  it('answers with ISO 8601 text (what JSON.stringify made of the Date before), and parses and refuses input as graphql-scalars does', async () => {
    const { DateTime } = await import('../../src/graphql/schema');
    const { DateTimeResolver } = await import('graphql-scalars');
    const at = new Date(Date.UTC(2027, 0, 2, 3, 4, 5, 6));
    // A string, not the Date: a Date in a response takes JSON.stringify off its fast path.
    expect(DateTime.serialize(at)).to.equal('2027-01-02T03:04:05.006Z');
    expect(DateTime.serialize(at)).to.equal(JSON.parse(JSON.stringify({ at: DateTimeResolver.serialize(at) })).at);
    expect(DateTime.serialize('2027-01-02T04:04:05.006+01:00')).to.equal('2027-01-02T03:04:05.006Z');
    expect(() => DateTime.serialize(new Date(Number.NaN))).to.throw();
    expect(DateTime.parseValue('2027-01-02T03:04:05.006Z')).to.deep.equal(at);
    expect(() => DateTime.parseValue('2027-13-02T03:04:05Z')).to.throw();
    expect(DateTime.name).to.equal('DateTime');
    expect(DateTime.description).to.equal(DateTimeResolver.description);
  });
});
