// The query cost (src/graphql/cost.ts) charges only connections and fields that declare a row count.
// A list that is neither passes its selection's cost on unmultiplied, which is exact only while no
// connection can be reached below it: this walks the schema so that a list added later cannot hide a
// connection from the cost limit.
import { expect } from 'chai';
import {
  getNamedType,
  isAbstractType,
  isListType,
  isNonNullType,
  isObjectType,
  isInterfaceType,
  parse,
  type GraphQLNamedType,
  type GraphQLOutputType,
  type GraphQLSchema,
} from 'graphql';
import { getComplexity } from 'graphql-query-complexity';
import { costEstimators } from '../../src/graphql/cost';
import { buildAppSchema } from '../../src/graphql/schema';

const isList = (type: GraphQLOutputType) => isListType(isNonNullType(type) ? type.ofType : type);
const isConnectionName = (name: string) => name.endsWith('Connection');

/** Whether a connection type can be reached from `start` through any chain of fields. */
function reachesConnection(schema: GraphQLSchema, start: GraphQLNamedType): boolean {
  const seen = new Set<string>();
  const queue: GraphQLNamedType[] = [start];
  while (queue.length) {
    const type = queue.shift()!;
    if (seen.has(type.name)) continue;
    seen.add(type.name);
    if (isConnectionName(type.name)) return true;
    if (isAbstractType(type)) queue.push(...schema.getPossibleTypes(type));
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) queue.push(getNamedType(field.type));
    }
  }
  return false;
}

describe('query cost: the schema', () => {
  let schema: GraphQLSchema;
  before(async () => (schema = await buildAppSchema()));

  it('has no list, other than a connection page or a field with a declared cost, with a connection below it', () => {
    const uncharged: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || !(isObjectType(type) || isInterfaceType(type))) continue;
      for (const field of Object.values(type.getFields())) {
        if (!isList(field.type)) continue;
        if (isConnectionName(type.name) && field.name === 'edges') continue;
        if (field.extensions?.complexity !== undefined) continue;
        if (reachesConnection(schema, getNamedType(field.type))) uncharged.push(`${type.name}.${field.name}`);
      }
    }
    expect(uncharged).to.deep.equal([]);
  });

  it('charges createLicenses by its rows (its declared cost survives the permission middleware)', () => {
    const cost = (query: string, variables: Record<string, unknown> = {}) =>
      getComplexity({ schema, query: parse(query), variables, estimators: costEstimators });
    const input = { customerId: 'cus_000000000000000000000000', kind: 'MDM', seats: 1, validUntil: '2031-01-01T00:00:00.000Z' };
    const mutation = 'mutation($i: [CreateLicenseInput!]!) { createLicenses(inputs: $i) { license { id } } }';
    expect(cost(mutation, { i: Array(7).fill(input) })).to.equal(7);
    expect(cost('{ apiTokens { id } customers(first: 3) { totalCount } }')).to.equal(3);
  });

  it("charges `last` like `first`; a root connection's schema default `first` only when the document writes it", () => {
    const cost = (query: string, variables: Record<string, unknown> = {}) =>
      getComplexity({ schema, query: parse(query), variables, estimators: costEstimators });
    expect(cost('{ customers(last: 3) { totalCount } }')).to.equal(3);
    expect(cost('{ customers(last: 100) { totalCount } }')).to.equal(100);
    expect(cost('{ customers(last: 50) { edges { node { licenses(last: 10) { totalCount } } } } }')).to.equal(50 * (1 + 10));
    expect(cost('{ customers(before: "x") { edges { node { licenses(before: "y") { totalCount } } } } }')).to.equal(20 * (1 + 20));
    expect(cost('query($l: Int) { licenses(last: $l) { totalCount } }', { l: 7 })).to.equal(7);
    // Refused when they run, but never cheaper than the larger of the two.
    expect(cost('{ customers(first: 5, last: 30) { totalCount } }')).to.equal(30);
    expect(cost('{ customers(first: 30, last: 5) { totalCount } }')).to.equal(30);
    expect(cost('{ customers(last: 0) { edges { node { licenses(first: 60) { totalCount } } } } }')).to.equal(61);
    // A `first` written as a variable the request leaves unset is charged its default.
    expect(cost('query($f: Int) { customers(first: $f, last: 3) { totalCount } }')).to.equal(20);
  });
});
