// The hand-written customer page (CustomerService.list and the nested Reseller.customers), made like the
// license page (license-page.ts): one column list per table from which the SELECT and the row mapper are
// made, names from the ORM metadata, the mapper checked by `satisfies`. hasValidLicense, when selected,
// is a column of the same statement: an EXISTS over the customer's licenses (validLicenseSql).
import type { EntityManager, MetadataStorage } from '@mikro-orm/core';
import { LicenseStatus } from '../../common/enums';
import { readBoolean, readTime, sql, type Sql } from '../../db/sql';
import { columnOf, metadataOf, quote, toSql } from '../access/condition';
import { as, reader, RESELLER_COLUMNS } from '../licenses/license-page';
import { statusCondition } from '../licenses/license-status';
import type { Reseller } from '../resellers/reseller.entity';
import type { Customer } from './customer.entity';

const CUSTOMER_COLUMNS = {
  id: as<string>(),
  name: as<string>(),
  contactEmail: as<string | null>(),
  createdAt: readTime,
};

/** A page row as the Customer field resolvers read it; hasValidLicense only when the statement computed it. */
export type PageCustomer = Omit<Customer, 'updatedAt' | 'licenses' | 'reseller'> & { reseller: Reseller; hasValidLicense?: boolean };

const readCustomer = reader(CUSTOMER_COLUMNS, 'c_', { reseller: reader(RESELLER_COLUMNS, 'r_') });

export function customerFromRow(row: Record<string, unknown>): PageCustomer {
  const customer: PageCustomer = readCustomer(row) satisfies PageCustomer;
  if (row.has_valid_license !== undefined) customer.hasValidLicense = readBoolean(row.has_valid_license as number | boolean);
  return customer;
}

export interface CustomerStatement {
  /** `select <columns>` of customer c and reseller r. */
  columns: string;
  /** The result columns (aliases) of `columns`, in order (Reader packing). */
  names: string[];
  /** The customer table (quoted). */
  table: string;
  /** ` left join reseller r on ...` */
  joins: string;
  /** Quoted columns of customer. */
  column: { reseller: string; name: string };
}

const statements = new WeakMap<MetadataStorage, CustomerStatement>();

export function customerStatement(em: EntityManager): CustomerStatement {
  const storage = em.getMetadata();
  let statement = statements.get(storage);
  if (!statement) {
    const customer = metadataOf(em, 'Customer');
    const reseller = metadataOf(em, 'Reseller');
    // Each result column once: its SQL and its alias (the row mapper's and the Reader packing's name).
    const select = [
      ...Object.keys(CUSTOMER_COLUMNS).map((field) => ({ sql: `c.${quote(columnOf(customer, field))}`, name: `c_${field}` })),
      ...Object.keys(RESELLER_COLUMNS).map((field) => ({ sql: `r.${quote(columnOf(reseller, field))}`, name: `r_${field}` })),
    ];
    const resellerColumn = quote(columnOf(customer, 'reseller'));
    statement = {
      columns: `select ${select.map((c) => `${c.sql} as ${quote(c.name)}`).join(', ')}`,
      names: select.map((c) => c.name),
      table: quote(customer.tableName),
      joins: ` left join ${quote(reseller.tableName)} r on r.${quote(columnOf(reseller, 'id'))} = c.${resellerColumn}`,
      column: { reseller: resellerColumn, name: quote(columnOf(customer, 'name')) },
    };
    statements.set(storage, statement);
  }
  return statement;
}

/**
 * `exists (an ACTIVE license of the customer <alias>)`: the status rendered from license-status.ts, over
 * the license index that leads with the customer (a range that stops at the first match).
 */
export function validLicenseSql(em: EntityManager, alias: string, now: Date): Sql {
  const license = metadataOf(em, 'License');
  const active = toSql(em, 'License', `${alias}_v`, statusCondition(LicenseStatus.ACTIVE, now));
  return sql(
    `exists (select 1 from ${quote(license.tableName)} ${alias}_v where ${alias}_v.${quote(columnOf(license, 'customer'))} = ${alias}.id and ${active.text})`,
    ...active.params,
  );
}
