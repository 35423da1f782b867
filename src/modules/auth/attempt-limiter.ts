// Attempt limits of FLOWS.md section 4, in the database so that they hold across server processes.
// Every attempt is counted as a failure *before* it is checked (one atomic upsert), so concurrent
// guesses cannot slip past the limit; a success then gives its slot back or clears the counter.
import type { EntityManager } from '@mikro-orm/core';
import { rateLimited } from '../../errors';

export const WINDOW_MS = 15 * 60 * 1000;
export const LOCK_MS = 15 * 60 * 1000;

export const Limits = {
  /** Failed TOTP verifications per user. */
  TOTP_USER: 5,
  /** Failed logins per account (normalised e-mail, known or not: so a lockout reveals nothing). */
  LOGIN_ACCOUNT: 10,
  /** Failed logins per client address. */
  LOGIN_ADDRESS: 100,
  /** Account e-mails (reset, activation) per user: bounds mail bombing. */
  MAIL_USER: 5,
} as const;
export type LimitScope = keyof typeof Limits;

type Sql = EntityManager['getConnection'] extends () => infer C ? C : never;

export interface Attempt {
  /** The attempt failed: it stays counted; reaching the limit locks the subject. */
  fail(): Promise<void>;
  /** The attempt succeeded: clear the counter (reset) or just give the slot back. */
  succeed(reset: boolean): Promise<void>;
}

// Collapsed to one line: the SQLite driver only reads rows back when it sees 'insert into' first and ' returning '.
const RESERVE_SQL = `insert into attempt_counter (scope, subject, failures, window_start_ms, locked_until_ms)
values (?, ?, 1, ?, null)
on conflict (scope, subject) do update set
  failures = case
    when attempt_counter.locked_until_ms > ? then attempt_counter.failures
    when attempt_counter.window_start_ms <= ? then 1
    else attempt_counter.failures + 1 end,
  window_start_ms = case
    when attempt_counter.locked_until_ms > ? then attempt_counter.window_start_ms
    when attempt_counter.window_start_ms <= ? then ?
    else attempt_counter.window_start_ms end,
  locked_until_ms = case when attempt_counter.locked_until_ms > ? then attempt_counter.locked_until_ms else null end
returning failures, locked_until_ms`
  .replace(/\s+/g, ' ')
  .trim();

export class AttemptLimiter {
  constructor(
    private readonly now: () => number = Date.now,
    private readonly onRefused: () => void = () => undefined,
  ) {}

  /** Takes a slot for one attempt, or throws RATE_LIMITED when the subject is locked or at its limit. */
  async reserve(em: EntityManager, scope: LimitScope, subject: string): Promise<Attempt> {
    const conn = em.getConnection();
    const now = this.now();
    const floor = now - WINDOW_MS;
    const rows = await conn.execute<{ failures: number | string; locked_until_ms: number | string | null }[]>(
      RESERVE_SQL,
      [scope, subject, now, now, floor, now, floor, now, now],
      'all',
    );
    const row = rows[0]!;
    const limit = Limits[scope];
    if (row.locked_until_ms !== null && Number(row.locked_until_ms) > now) {
      this.onRefused();
      throw rateLimited();
    }
    if (Number(row.failures) > limit) {
      // More attempts in flight than the limit allows: give the slot back and refuse.
      await this.release(conn, scope, subject);
      this.onRefused();
      throw rateLimited();
    }
    return {
      fail: async () => {
        await conn.execute('update attempt_counter set locked_until_ms = ? where scope = ? and subject = ? and failures >= ?', [
          this.now() + LOCK_MS,
          scope,
          subject,
          limit,
        ]);
      },
      succeed: async (reset: boolean) => {
        if (reset) {
          await conn.execute('update attempt_counter set failures = 0, locked_until_ms = null where scope = ? and subject = ?', [
            scope,
            subject,
          ]);
        } else {
          await this.release(conn, scope, subject);
        }
      },
    };
  }

  private async release(conn: Sql, scope: string, subject: string): Promise<void> {
    await conn.execute(
      'update attempt_counter set failures = case when failures > 0 then failures - 1 else 0 end where scope = ? and subject = ?',
      [scope, subject],
    );
  }
}
