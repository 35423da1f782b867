// Single-use tokens sent by e-mail or redirect (invitation, password reset, reseller-portal activation)
// and the setup token of a pending TOTP enrolment. Stored as SHA-256 only; expire; used once.
import { Entity, Enum, ManyToOne, PrimaryKey, Property, type Ref } from '@mikro-orm/core';
import { newId } from '../../common/ids';
import { User } from '../users/user.entity';

export enum AccountTokenPurpose {
  /** From createUser / create-admin; consumed by resetPassword. */
  INVITATION = 'INVITATION',
  /** From requestPasswordReset / requestTwoFactorActivation (EMAIL); consumed by resetPassword. */
  PASSWORD_RESET = 'PASSWORD_RESET',
  /** From requestTwoFactorActivation (RESELLER_PORTAL); consumed by beginTwoFactorSetup. */
  TWO_FACTOR_ACTIVATION = 'TWO_FACTOR_ACTIVATION',
  /** Returned in TwoFactorSetup; consumed by activateTwoFactor. Carries the sealed pending secret. */
  TOTP_SETUP = 'TOTP_SETUP',
}

@Entity({ tableName: 'account_token' })
export class AccountToken {
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('AccountToken');

  @Property({ type: 'string', length: 64, unique: true })
  tokenHash!: string;

  @ManyToOne(() => User, { ref: true, deleteRule: 'cascade' })
  user!: Ref<User>;

  @Enum({ items: () => AccountTokenPurpose })
  purpose!: AccountTokenPurpose;

  /** TOTP_SETUP only: the secret to enrol, sealed and bound to the user. */
  @Property({ type: 'string', length: 200, nullable: true })
  secretSealed: string | null = null;

  /** TOTP_SETUP only: the secret is the one already enrolled (displayed again after a reset). */
  @Property({ type: 'boolean' })
  alreadyEnrolled: boolean = false;

  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime' })
  expiresAt!: Date;

  @Property({ type: 'datetime', nullable: true })
  usedAt: Date | null = null;
}
