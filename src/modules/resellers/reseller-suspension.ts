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
import { forbidden, notFound } from '../../errors';
import { Customer } from '../customers/customer.entity';
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
 * Inside a transaction that puts licenses on a customer (creation, a move): the customer still belongs to
 * `resellerId` (else NOT_FOUND: a concurrent transfer took it away, and a license must never carry another
 * reseller than its customer's) and that reseller is open (else RESELLER_SUSPENDED). On PostgreSQL both rows
 * are share-locked: a transfer or a suspension, which update them first, wait for this transaction, and
 * their copies onto the licenses then include its rows. On SQLite, writes that change nothing (see above).
 */
export async function assertCustomerOpen(tx: EntityManager, customerId: string, resellerId: string): Promise<void> {
  if (!isPostgres(tx)) {
    const own = await tx.nativeUpdate(Customer, { id: customerId, reseller: resellerId }, { reseller: resellerId });
    if (own !== 1) throw notFound('customer');
    await assertResellerOpen(tx, resellerId);
    return;
  }
  const connection = tx.getConnection() as AbstractSqlConnection;
  const rows = (await connection.execute(
    'select c.reseller_id, r.suspended_at from customer c join reseller r on r.id = c.reseller_id where c.id = ? for share',
    [customerId],
    'all',
    tx.getTransactionContext(),
  )) as { reseller_id: string; suspended_at: unknown }[];
  const row = rows[0];
  if (!row || row.reseller_id !== resellerId) throw notFound('customer');
  if (row.suspended_at !== null && row.suspended_at !== undefined) throw resellerSuspended();
}
