// A suspended reseller (FLOWS.md section 9): nothing new is created under it. The check runs inside the
// creating transaction and holds off a concurrent suspension until that transaction ends:
// - PostgreSQL: it share-locks the reseller's row. A suspension (which updates that row first) waits for
//   the creation to commit, and its copy of the suspension onto the reseller's licenses then includes the
//   new ones; a creation after the suspension sees it and fails. Creations do not wait for each other.
// - SQLite: it is a write that changes nothing (the one writer's lock, taken with the busy timeout like
//   any first write; a read first would make the later insert fail at once with SQLITE_BUSY when another
//   process wrote meanwhile), matching only an open reseller.
import type { EntityManager } from '@mikro-orm/core';
import type { AbstractSqlConnection } from '@mikro-orm/knex';
import { isPostgres } from '../../db/sql';
import { forbidden, notFound, type AppError } from '../../errors';
import { Reseller } from './reseller.entity';

export const RESELLER_SUSPENDED = 'RESELLER_SUSPENDED';

export const resellerSuspended = () =>
  forbidden('The reseller is suspended: its users cannot sign in and nothing new can be created under it.', RESELLER_SUSPENDED);

/** Throws FORBIDDEN (RESELLER_SUSPENDED) when the reseller is suspended. Call inside the creating transaction. */
export async function assertResellerOpen(tx: EntityManager, resellerId: string): Promise<void> {
  if (!isPostgres(tx)) {
    const open = await tx.nativeUpdate(Reseller, { id: resellerId, suspendedAt: null }, { suspendedAt: null });
    if (open !== 1) throw resellerSuspended();
    return;
  }
  const connection = tx.getConnection() as AbstractSqlConnection;
  const rows = (await connection.execute(
    'select suspended_at from reseller where id = ? for share',
    [resellerId],
    'all',
    tx.getTransactionContext(),
  )) as { suspended_at: unknown }[];
  if (rows[0] && rows[0].suspended_at !== null && rows[0].suspended_at !== undefined) throw resellerSuspended();
}

/**
 * Inside a transaction that puts licenses on customers (creation, a move, a batch): each customer still
 * belongs to its expected reseller (else NOT_FOUND: a concurrent transfer took it away, and a license must
 * never carry another reseller than its customer's) and that reseller is open (else RESELLER_SUSPENDED).
 * Returns the problem of each customer that has one. Two statements for any number of customers:
 * - PostgreSQL: the customer and reseller rows are share-locked (one select ... for share): a transfer or a
 *   suspension, which update them first, waits for this transaction, and its copies onto the licenses then
 *   include this transaction's rows.
 * - SQLite: a write that changes nothing takes the writer's lock first (see above); the read after it is current.
 */
export async function customerProblems(
  tx: EntityManager,
  customers: readonly { id: string; resellerId: string }[],
): Promise<Map<string, AppError>> {
  const problems = new Map<string, AppError>();
  if (customers.length === 0) return problems;
  const ids = [...new Set(customers.map((c) => c.id))];
  const marks = ids.map(() => '?').join(', ');
  const connection = tx.getConnection() as AbstractSqlConnection;
  if (!isPostgres(tx)) {
    await connection.execute(
      `update customer set reseller_id = reseller_id where id in (${marks})`,
      ids,
      'run',
      tx.getTransactionContext(),
    );
  }
  const rows = (await connection.execute(
    `select c.id, c.reseller_id, r.suspended_at from customer c join reseller r on r.id = c.reseller_id where c.id in (${marks})` +
      (isPostgres(tx) ? ' for share' : ''),
    ids,
    'all',
    tx.getTransactionContext(),
  )) as { id: string; reseller_id: string; suspended_at: unknown }[];
  const found = new Map(rows.map((row) => [row.id, row]));
  for (const customer of customers) {
    const row = found.get(customer.id);
    if (!row || row.reseller_id !== customer.resellerId) problems.set(customer.id, notFound('customer'));
    else if (row.suspended_at !== null && row.suspended_at !== undefined) problems.set(customer.id, resellerSuspended());
  }
  return problems;
}

/** customerProblems for one customer, thrown. */
export async function assertCustomerOpen(tx: EntityManager, customerId: string, resellerId: string): Promise<void> {
  const problem = (await customerProblems(tx, [{ id: customerId, resellerId }])).get(customerId);
  if (problem) throw problem;
}
