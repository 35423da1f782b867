// The operations client teams use (FLOWS.md section 13): every document in docs/operations/ and every
// GraphQL example of the README is one named operation (codegen refuses anonymous ones) that is valid
// against the served schema, within the request limits; every root field has an operation.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Kind, parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { requestLimitsRule } from '../../src/graphql/limits';
import { buildAppSchema } from '../../src/graphql/schema';
import { ROOT } from '../helpers/cli';

const OPERATIONS_DIR = join(ROOT, 'docs', 'operations');

function operationsOf(document: DocumentNode): OperationDefinitionNode[] {
  return document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
}

function validationErrors(schema: GraphQLSchema, document: DocumentNode): string[] {
  return validate(schema, document, [...specifiedRules, requestLimitsRule]).map((e) => e.message);
}

/** The ```graphql blocks of the README, and the query strings of its curl and JavaScript examples. */
function readmeOperations(): { where: string; text: string }[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m, i) => ({ where: `graphql block ${i + 1}`, text: m[1]! }));
  const curls = [...readme.matchAll(/"query":"((?:[^"\\]|\\.)*)"/g)].map((m, i) => ({
    where: `curl example ${i + 1}`,
    text: JSON.parse(`"${m[1]}"`) as string,
  }));
  const scripts = [...readme.matchAll(/= `((?:query|mutation)[\s\S]*?)`/g)].map((m, i) => ({ where: `script ${i + 1}`, text: m[1]! }));
  return [...blocks, ...curls, ...scripts];
}

describe('client operations: docs/operations and the README (FLOWS.md section 13)', () => {
  let schema: GraphQLSchema;
  const files = readdirSync(OPERATIONS_DIR).filter((f) => f.endsWith('.graphql'));

  before(async () => (schema = await buildAppSchema()));

  it('has a document for the operations a client needs', () => {
    expect(files.length).to.be.greaterThan(30);
  });

  for (const file of files) {
    it(`${file}: one operation, named like the file, valid against the schema and within the request limits`, () => {
      const document = parse(readFileSync(join(OPERATIONS_DIR, file), 'utf8'));
      const operations = operationsOf(document);
      expect(operations).to.have.length(1);
      expect(operations[0]!.name?.value).to.equal(basename(file, '.graphql'));
      expect(validationErrors(schema, document)).to.deep.equal([]);
    });
  }

  it('every root field of Query and Mutation is used by some operation', () => {
    const used = new Set<string>();
    for (const file of files) {
      for (const operation of operationsOf(parse(readFileSync(join(OPERATIONS_DIR, file), 'utf8')))) {
        const root = operation.operation === 'mutation' ? 'Mutation' : 'Query';
        for (const selection of operation.selectionSet.selections)
          if (selection.kind === Kind.FIELD) used.add(`${root}.${selection.name.value}`);
      }
    }
    const roots = [
      ...Object.keys(schema.getQueryType()!.getFields()).map((f) => `Query.${f}`),
      ...Object.keys(schema.getMutationType()!.getFields()).map((f) => `Mutation.${f}`),
    ];
    expect(roots.filter((field) => !used.has(field))).to.deep.equal([]);
  });

  it("every operation in the README's examples is named and valid against the schema", () => {
    const examples = readmeOperations();
    let count = 0;
    for (const { where, text } of examples) {
      const document = parse(text);
      for (const operation of operationsOf(document)) {
        expect(operation.name?.value, `${where}: ${text.slice(0, 80)}`).to.be.a('string');
        count += 1;
      }
      expect(validationErrors(schema, document), `${where}: ${text.slice(0, 80)}`).to.deep.equal([]);
    }
    expect(count).to.be.greaterThan(20);
  });
});
