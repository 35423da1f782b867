// Documents for every root field of the schema, built from the schema itself (a field added later is
// included): the required arguments as literals pointing at real objects, so that a call a gate wrongly
// admitted would visibly do damage; and a snapshot of the rows such a call could touch. Used by the gate
// sweep (gate.test.ts) and the executor comparison (executor.test.ts).
import {
  getNamedType,
  GraphQLEnumType,
  GraphQLInputObjectType,
  GraphQLScalarType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import { ApiToken } from '../../src/modules/api-tokens/api-token.entity';
import { Session } from '../../src/modules/auth/session.entity';
import { Customer } from '../../src/modules/customers/customer.entity';
import { License } from '../../src/modules/licenses/license.entity';
import { Reseller } from '../../src/modules/resellers/reseller.entity';
import { User } from '../../src/modules/users/user.entity';
import type { TestServer } from './server';

const DUMMY_ID = 'usr_000000000000000000000000';
const DUMMY_DATE = '2031-01-01T00:00:00.000Z';

export interface RootField {
  /** "Query.me", "Mutation.createLicense", ... */
  label: string;
  name: string;
  operation: 'query' | 'mutation';
  document: string;
}

/** Real objects the dummy IDs point at, so that a gate that let a call through would visibly do damage. */
export interface Targets {
  reseller: string;
  customer: string;
  license: string;
  user: string;
  apiToken: string;
  webhookEndpoint: string;
  webhookDelivery: string;
}

function idFor(fieldName: string, argName: string, t: Targets): string {
  const arg = argName.toLowerCase();
  if (arg === 'customerid') return t.customer;
  if (arg === 'resellerid') return t.reseller;
  if (arg === 'userid') return t.user;
  if (arg === 'licenseid') return t.license;
  if (arg === 'endpointid') return t.webhookEndpoint;
  if (arg === 'deliveryid') return t.webhookDelivery;
  const field = fieldName.toLowerCase();
  if (field.includes('apitoken')) return t.apiToken;
  if (field.includes('webhook')) return t.webhookEndpoint;
  if (field.includes('license')) return t.license;
  if (field.includes('customer')) return t.customer;
  if (field.includes('reseller')) return t.reseller;
  if (field.includes('user')) return t.user;
  if (field === 'node') return t.license;
  return DUMMY_ID;
}

/** A GraphQL literal of the given input type; input objects get their required fields (and a few harmful optional ones). */
function literal(type: GraphQLInputType, fieldName: string, argName: string, t: Targets): string {
  if (isNonNullType(type)) return literal(type.ofType as GraphQLInputType, fieldName, argName, t);
  if (isListType(type)) return `[${literal(type.ofType as GraphQLInputType, fieldName, argName, t)}]`;
  if (type instanceof GraphQLEnumType) return type.getValues()[0]!.name;
  if (isInputObjectType(type)) {
    const parts: string[] = [];
    for (const f of Object.values((type as GraphQLInputObjectType).getFields())) {
      const required = isNonNullType(f.type) && f.defaultValue === undefined;
      const named = getNamedType(f.type);
      // Optional fields that would make a wrongly admitted update or create actually write something.
      const harmful = named.name === 'ID' || named.name === 'Int' || f.name === 'name';
      if (required || harmful) parts.push(`${f.name}: ${literal(f.type, fieldName, f.name, t)}`);
    }
    return `{ ${parts.join(', ')} }`;
  }
  if (type instanceof GraphQLScalarType) {
    switch (type.name) {
      case 'ID':
        return JSON.stringify(idFor(fieldName, argName, t));
      case 'String':
        return '"x"';
      case 'Int':
        return '1';
      case 'Float':
        return '1.5';
      case 'Boolean':
        return 'true';
      case 'DateTime':
        return JSON.stringify(DUMMY_DATE);
    }
  }
  throw new Error(
    `gate.test: no dummy value for input type ${String(type)} (argument ${argName} of ${fieldName}); teach literal() about it`,
  );
}

function operationFor(operation: 'query' | 'mutation', field: GraphQLField<unknown, unknown>, t: Targets): string {
  const args = field.args
    .filter((a) => isNonNullType(a.type) && a.defaultValue === undefined)
    .map((a) => `${a.name}: ${literal(a.type, field.name, a.name, t)}`);
  const selection = isLeafType(getNamedType(field.type)) ? '' : ' { __typename }';
  return `${operation} { ${field.name}${args.length ? `(${args.join(', ')})` : ''}${selection} }`;
}

export function rootFields(schema: GraphQLSchema, t: Targets): RootField[] {
  const list: RootField[] = [];
  for (const [operation, type] of [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
  ] as const) {
    if (!type) throw new Error(`the schema has no ${operation} type`);
    for (const field of Object.values(type.getFields())) {
      list.push({ label: `${type.name}.${field.name}`, name: field.name, operation, document: operationFor(operation, field, t) });
    }
  }
  return list;
}

/** The domain rows a wrongly admitted mutation could touch, as one comparable value. */
export async function snapshot(s: TestServer) {
  const em = s.app.services.orm.em.fork();
  const byId = <T extends { id: string }>(rows: T[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));
  return {
    resellers: byId(await em.find(Reseller, {})).map((r) => [r.id, r.name, r.linkedToResellerPortal]),
    customers: byId(await em.find(Customer, {})).map((c) => [c.id, c.name, c.contactEmail]),
    licenses: byId(await em.find(License, {})).map((l) => [l.id, l.seats, l.validUntil.toISOString(), l.revokedAt?.toISOString() ?? null]),
    users: byId(await em.find(User, {})).map((u) => [u.id, u.email, u.role, u.twoFactorEnabled]),
    apiTokens: byId(await em.find(ApiToken, {})).map((a) => [a.id, a.revokedAt?.toISOString() ?? null]),
    sessions: await em.count(Session, {}),
  };
}
