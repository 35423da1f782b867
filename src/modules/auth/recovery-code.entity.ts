// A single-use recovery code (FLOWS.md section 11): only its scrypt hash is stored; a set of ten shares
// one salt, so that checking a code costs one hash.
import { Entity, Index, ManyToOne, PrimaryKey, Property, type Ref } from '@mikro-orm/core';
import { newId } from '../../common/ids';
import { User } from '../users/user.entity';

@Entity({ tableName: 'recovery_code' })
@Index({ properties: ['user', 'usedAt'] })
export class RecoveryCode {
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('RecoveryCode');

  @ManyToOne(() => User, { ref: true, deleteRule: 'cascade' })
  user!: Ref<User>;

  @Property({ type: 'string', length: 200 })
  codeHash!: string;

  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', nullable: true })
  usedAt: Date | null = null;
}
