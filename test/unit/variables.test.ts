// variablesCoerce: the query-cost plugin and the jit executor ask it for the same request; the variables
// are coerced once per request (variables object and operation), not once per asker.
import { expect } from 'chai';
import { buildSchema, parse, type OperationDefinitionNode } from 'graphql';
import { variablesCoerce } from '../../src/graphql/variables';

const schema = buildSchema(`
  input Row { seats: Int!, note: String }
  type Query { rows(first: Int, rows: [Row!]): Int }
`);
const operation = (text: string) => parse(text).definitions[0] as OperationDefinitionNode;

describe('variablesCoerce', () => {
  it('answers whether the variables coerce to the operation definitions', () => {
    const op = operation('query($first: Int!, $rows: [Row!]) { rows(first: $first, rows: $rows) }');
    expect(variablesCoerce(schema, op, { first: 5, rows: [{ seats: 1 }] })).to.equal(true);
    expect(variablesCoerce(schema, op, { first: 'five' })).to.equal(false);
    expect(variablesCoerce(schema, op, { rows: [] })).to.equal(false);
    expect(variablesCoerce(schema, op, { first: 1, rows: [{ seats: 1, extra: true }] })).to.equal(false);
    expect(variablesCoerce(schema, op, undefined)).to.equal(false);
    expect(variablesCoerce(schema, operation('{ rows }'), undefined)).to.equal(true);
  });

  it('coerces once per request: the same variables object and operation get the first answer again', () => {
    const op = operation('query($first: Int!) { rows(first: $first) }');
    const variables: Record<string, unknown> = { first: 5 };
    expect(variablesCoerce(schema, op, variables)).to.equal(true);
    variables.first = 'not a number any more';
    expect(variablesCoerce(schema, op, variables)).to.equal(true);
    // Another request (another variables object) or another operation is asked anew.
    expect(variablesCoerce(schema, op, { ...variables })).to.equal(false);
    expect(variablesCoerce(schema, operation('query($first: Int!) { rows(first: $first) }'), variables)).to.equal(false);
  });
});
