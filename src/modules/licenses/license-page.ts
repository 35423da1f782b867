// The columns of the hand-written license page (LicenseService.list): one list per table, from which both
// the SELECT and the row mapper are made, with column and table names from the ORM metadata. The mapper's
// result must satisfy PageLicense, so a field added to an entity fails to compile until it is read here
// (or named in NOT_ON_PAGE on purpose).
import type { EntityManager, EntityMetadata, MetadataStorage } from '@mikro-orm/core';
import type { LicenseKind } from '../../common/enums';
import { readBoolean, readTime, readTimeOrNull } from '../../db/sql';
import { columnOf, metadataOf, quote } from '../access/condition';
import type { Customer } from '../customers/customer.entity';
import type { Reseller } from '../resellers/reseller.entity';
import type { License } from './license.entity';

/** A column's value as read without entity mapping, typed as the field it fills. */
export const as =
  <V>() =>
  (value: unknown): V =>
    value as V;

const LICENSE_COLUMNS = {
  id: as<string>(),
  key: as<string>(),
  kind: as<LicenseKind>(),
  seats: Number,
  validFrom: readTime,
  validUntil: readTime,
  revokedAt: readTimeOrNull,
  createdAt: readTime,
  suspendedAt: readTimeOrNull,
  resellerSuspendedAt: readTimeOrNull,
};
const CUSTOMER_COLUMNS = {
  id: as<string>(),
  name: as<string>(),
  contactEmail: as<string | null>(),
  // The customer's reseller stays an id, which Customer.reseller loads when it is asked for.
  reseller: as<string>(),
  createdAt: readTime,
};
export const RESELLER_COLUMNS = {
  id: as<string>(),
  name: as<string>(),
  linkedToResellerPortal: readBoolean,
  createdAt: readTime,
  suspendedAt: readTimeOrNull,
  suspensionReason: as<string | null>(),
};

/** Fields the page does not read: internal ones, and the relations, which are the joined rows. */
type NotOnPage = 'idempotencyOwnerId' | 'idempotencyKey' | 'updatedAt' | 'statusAt';

/** A page row as the License, Customer and Reseller field resolvers read it (a Parent<License>). */
export type PageLicense = Omit<License, NotOnPage | 'customer' | 'reseller'> & {
  customer: Omit<Customer, 'updatedAt' | 'licenses' | 'reseller'> & { reseller: string };
  reseller: Reseller;
};

type Columns = Record<string, (value: never) => unknown>;
type Read<C extends Columns> = { -readonly [K in keyof C]: ReturnType<C[K]> };

/** The joined tables: entity, alias, and the prefix of their result columns. */
const TABLES = [
  { entity: 'License', alias: 'l', prefix: 'l_', columns: LICENSE_COLUMNS },
  { entity: 'Customer', alias: 'c', prefix: 'c_', columns: CUSTOMER_COLUMNS },
  { entity: 'Reseller', alias: 'r', prefix: 'r_', columns: RESELLER_COLUMNS },
] as const;

type Nested = Record<string, (row: Record<string, unknown>) => unknown>;

/**
 * The mapper of one table's columns, plus the objects of joined tables (`nested`), with the field list
 * resolved once, not per row. (Plain property stores: spreading one mapped object into another costs
 * more than the rest of the mapping.)
 */
export function reader<C extends Columns, N extends Nested = Record<never, never>>(
  columns: C,
  prefix: string,
  nested: N = {} as N,
): (row: Record<string, unknown>) => Read<C> & { [K in keyof N]: ReturnType<N[K]> } {
  const fields = Object.entries(columns).map(([field, convert]) => [field, prefix + field, convert] as const);
  const joined = Object.entries(nested);
  return (row) => {
    const out: Record<string, unknown> = {};
    for (const [field, column, convert] of fields) out[field] = convert(row[column] as never);
    for (const [field, read] of joined) out[field] = read(row);
    return out as Read<C> & { [K in keyof N]: ReturnType<N[K]> };
  };
}

const readLicense = reader(LICENSE_COLUMNS, TABLES[0].prefix, {
  customer: reader(CUSTOMER_COLUMNS, TABLES[1].prefix),
  reseller: reader(RESELLER_COLUMNS, TABLES[2].prefix),
});

export function licenseFromRow(row: Record<string, unknown>): PageLicense {
  return readLicense(row) satisfies PageLicense;
}

/**
 * A row of a nested page (Customer.licenses): the license's own columns, its customer and reseller as ids.
 * The parent is the customer, so the joins would repeat it on every row; License.customer and
 * License.reseller load them by id (one batched statement) only when a client asks for them there.
 */
export type NestedLicense = Omit<PageLicense, 'customer' | 'reseller'> & { customer: string; reseller: string };

const NESTED_COLUMNS = { ...LICENSE_COLUMNS, customer: as<string>(), reseller: as<string>() };
const readNestedLicense = reader(NESTED_COLUMNS, TABLES[0].prefix);

export function nestedLicenseFromRow(row: Record<string, unknown>): NestedLicense {
  return readNestedLicense(row) satisfies NestedLicense;
}

export interface PageStatement {
  /** `select <columns>` */
  columns: string;
  /** `select <columns>` of a nested page's row (NestedLicense): the license table alone. */
  nestedColumns: string;
  /** The result columns (aliases) of `columns` and of `nestedColumns`, in order (Reader packing). */
  names: string[];
  nestedNames: string[];
  /** ` from license l left join customer c ... left join reseller r ...` */
  from: string;
  /** ` left join customer c ... left join reseller r ...` */
  joins: string;
  /** The license table's name. */
  table: string;
  /** The license's customer column (the partition of the nested pages). */
  customerColumn: string;
}

const statements = new WeakMap<MetadataStorage, PageStatement>();

/**
 * The fixed parts of the page statement, made once per metadata. The left joins keep license the driving
 * table (its keyset index decides the order); the foreign keys are not null, so they match exactly what
 * inner joins would.
 */
export function pageStatement(em: EntityManager): PageStatement {
  const storage = em.getMetadata();
  let statement = statements.get(storage);
  if (!statement) {
    const [license, customer, reseller] = TABLES.map((t) => ({ ...t, meta: metadataOf(em, t.entity) }));
    // Each result column once: its SQL and its alias (the row mappers' and the Reader packing's name).
    const column = (alias: string, meta: EntityMetadata<unknown>, field: string, prefix: string) => ({
      sql: `${alias}.${quote(columnOf(meta, field))} as ${quote(prefix + field)}`,
      name: prefix + field,
    });
    const select = TABLES.flatMap((t) => Object.keys(t.columns).map((field) => column(t.alias, metadataOf(em, t.entity), field, t.prefix)));
    const nested = Object.keys(NESTED_COLUMNS).map((field) => column('l', license!.meta, field, TABLES[0].prefix));
    const join = (t: typeof customer, via: string) =>
      ` left join ${quote(t.meta.tableName)} ${t.alias} on ${t.alias}.${quote(columnOf(t.meta, 'id'))} = l.${quote(columnOf(license!.meta, via))}`;
    statement = {
      columns: `select ${select.map((c) => c.sql).join(', ')}`,
      nestedColumns: `select ${nested.map((c) => c.sql).join(', ')}`,
      names: select.map((c) => c.name),
      nestedNames: nested.map((c) => c.name),
      from: ` from ${quote(license!.meta.tableName)} l${join(customer!, 'customer')}${join(reseller!, 'reseller')}`,
      joins: `${join(customer!, 'customer')}${join(reseller!, 'reseller')}`,
      table: license!.meta.tableName,
      customerColumn: quote(columnOf(license!.meta, 'customer')),
    };
    statements.set(storage, statement);
  }
  return statement;
}
