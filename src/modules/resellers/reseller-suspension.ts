// A suspended reseller (FLOWS.md section 9): nothing new is created under it. The check runs inside the
// creating transaction, where on PostgreSQL it share-locks the reseller's row: a concurrent suspension
// (which updates that row first) waits for the creation to commit, and its copy of the suspension onto
// the reseller's licenses then includes the new ones; a creation after the suspension sees it and fails.
// (On SQLite the ORM's single connection runs one transaction at a time, and a no-op write first takes the
// file's write lock against other processes.)
import type { EntityManager } from '@mikro-orm/core';
import type { AbstractSqlConnection } from '@mikro-orm/knex';
import { isPostgres } from '../../db/sql';
import { forbidden } from '../../errors';

export const RESELLER_SUSPENDED = 'RESELLER_SUSPENDED';

export const resellerSuspended = () =>
  forbidden('The reseller is suspended: its users cannot sign in and nothing new can be created under it.', RESELLER_SUSPENDED);

/** Throws FORBIDDEN (RESELLER_SUSPENDED) when the reseller is suspended. Call inside the creating transaction. */
export async function assertResellerOpen(tx: EntityManager, resellerId: string): Promise<void> {
  const connection = tx.getConnection() as AbstractSqlConnection;
  if (!isPostgres(tx)) {
    // SQLite: a transaction whose first statement reads, and that writes later, fails at once with SQLITE_BUSY
    // (no busy wait) when another process wrote in between; a first (no-op) write waits for the lock instead.
    await connection.execute(
      'update reseller set suspended_at = suspended_at where id = ?',
      [resellerId],
      'run',
      tx.getTransactionContext(),
    );
  }
  const rows = (await connection.execute(
    `select suspended_at from reseller where id = ?${isPostgres(tx) ? ' for share' : ''}`,
    [resellerId],
    'all',
    tx.getTransactionContext(),
  )) as { suspended_at: unknown }[];
  if (rows[0] && rows[0].suspended_at !== null && rows[0].suspended_at !== undefined) throw resellerSuspended();
}
