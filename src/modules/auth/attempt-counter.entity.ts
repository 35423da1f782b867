// Failed-attempt counters (FLOWS.md section 4), one row per scope and subject, kept in the database so
// that a lockout earned on one server process holds on every other. Updated only by atomic SQL.
import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

@Entity({ tableName: 'attempt_counter' })
export class AttemptCounter {
  /** LOGIN_ACCOUNT, LOGIN_ADDRESS or TOTP_USER. */
  @PrimaryKey({ type: 'string', length: 20 })
  scope!: string;

  /** A normalised e-mail, a client address or a user id. */
  @PrimaryKey({ type: 'string', length: 254 })
  subject!: string;

  @Property({ type: 'integer' })
  failures: number = 0;

  /** Milliseconds since the epoch: plain integers compare the same way on every engine. */
  @Property({ type: 'bigint' })
  windowStartMs!: string;

  @Property({ type: 'bigint', nullable: true })
  lockedUntilMs: string | null = null;
}
