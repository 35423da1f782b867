// A sign-in session. Only the SHA-256 of its bearer token is stored; a stage change issues a new token.
import { Entity, Enum, ManyToOne, PrimaryKey, Property, type Ref } from '@mikro-orm/core';
import { SessionStage } from '../../common/enums';
import { newId } from '../../common/ids';
import { User } from '../users/user.entity';

@Entity({ tableName: 'session' })
export class Session {
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('Session');

  @Property({ type: 'string', length: 64, unique: true })
  tokenHash!: string;

  @ManyToOne(() => User, { ref: true, deleteRule: 'cascade' })
  user!: Ref<User>;

  @Enum({ items: () => SessionStage })
  stage!: SessionStage;

  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime' })
  lastSeenAt: Date = new Date();

  /** Absolute end of the session, whatever its activity. */
  @Property({ type: 'datetime' })
  expiresAt!: Date;
}
