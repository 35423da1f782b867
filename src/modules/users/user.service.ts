// Users: created by admins (any role) and resellers (their own and their customers' users), each
// invited by e-mail; 2FA can be reset, and the account deactivated, by whoever may see the user. Nobody
// creates above their scope, nor under a suspended reseller (FLOWS.md section 9).
import { UniqueConstraintViolationException, type EntityManager, type FilterQuery } from '@mikro-orm/core';
import { Role } from '../../common/enums';
import { isLocale, LOCALES, type Locale } from '../../common/locale';
import { paginate, type PageArgs } from '../../common/pagination';
import { optionalReason, requiredName } from '../../common/validation';
import { badInput, conflict, forbidden, notFound } from '../../errors';
import { scopeOf, scopeReseller, scopeWhere } from '../access/scope';
import { audit, AuditAction, changesOf, target } from '../audit/audit.service';
import { validEmail } from '../auth/email-address';
import type { PasswordResetService } from '../auth/password-reset.service';
import type { Actor, AuthenticatedPrincipal } from '../auth/principal';
import type { RecoveryCodeService } from '../auth/recovery-codes.service';
import type { SessionService } from '../auth/session.service';
import { Customer } from '../customers/customer.entity';
import type { Mailer } from '../mail/mailer';
import { Reseller } from '../resellers/reseller.entity';
import { assertResellerOpen } from '../resellers/reseller-suspension';
import { User } from './user.entity';

export interface CreateUserData {
  email: string;
  name: string;
  role: Role;
  resellerId?: string | null;
  customerId?: string | null;
  linkedToResellerPortal?: boolean | null;
  /** en or de; default: the creating reseller user's own locale, else DEFAULT_LOCALE. */
  locale?: string | null;
}

export interface UpdateUserData {
  name?: string | null;
  linkedToResellerPortal?: boolean | null;
  locale?: string | null;
}

function checkLocale(value: string): Locale {
  if (!isLocale(value)) throw badInput(`locale must be one of ${LOCALES.join(', ')}.`, 'locale');
  return value;
}

export class UserService {
  constructor(
    private readonly invitations: Pick<PasswordResetService, 'issueInvitation' | 'sendInvitation'>,
    private readonly sessions: SessionService,
    private readonly recoveryCodes: Pick<RecoveryCodeService, 'discard'>,
    private readonly mailer: Mailer,
    private readonly defaultLocale: Locale,
  ) {}

  list(em: EntityManager, p: AuthenticatedPrincipal, args: PageArgs & { filter?: { role?: Role | null; active?: boolean | null } | null }) {
    const parts: FilterQuery<User>[] = [];
    if (args.filter?.role) parts.push({ role: args.filter.role });
    if (typeof args.filter?.active === 'boolean') parts.push({ active: args.filter.active });
    return paginate(em, User, () => scopeWhere('User', p, ...parts), args, 'createdAt', ['reseller', 'customer']);
  }

  findVisible(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<User | null> {
    return em.findOne(User, scopeWhere('User', p, { id }));
  }

  me(em: EntityManager, p: AuthenticatedPrincipal): Promise<User> {
    return em.findOneOrFail(User, p.userId);
  }

  async create(em: EntityManager, p: AuthenticatedPrincipal, input: CreateUserData, clientAddress: string | null): Promise<User> {
    const email = validEmail(input.email);
    const name = requiredName(input.name);
    const locale = input.locale !== undefined && input.locale !== null ? checkLocale(input.locale) : await this.inviterLocale(em, p);
    let reseller: Reseller | null = null;
    let customer: Customer | null = null;

    switch (input.role) {
      case Role.ADMIN:
        if (p.role !== Role.ADMIN) throw forbidden('Only admins may create admins.');
        if (input.resellerId || input.customerId)
          throw badInput('An admin belongs to no reseller or customer.', input.resellerId ? 'resellerId' : 'customerId');
        break;
      case Role.RESELLER: {
        if (input.customerId) throw badInput('A reseller user belongs to no customer.', 'customerId');
        const resellerId = input.resellerId ?? scopeReseller(scopeOf(p));
        if (!resellerId) throw badInput('resellerId is required for RESELLER users.', 'resellerId');
        reseller = await em.findOne(Reseller, scopeWhere('Reseller', p, { id: resellerId }));
        if (!reseller) throw notFound('reseller');
        break;
      }
      case Role.CUSTOMER: {
        if (input.resellerId) throw badInput('A customer user belongs to a customer, not a reseller.', 'resellerId');
        if (!input.customerId) throw badInput('customerId is required for CUSTOMER users.', 'customerId');
        customer = await em.findOne(Customer, scopeWhere('Customer', p, { id: input.customerId }));
        if (!customer) throw notFound('customer');
        break;
      }
      default:
        throw badInput('Unknown role.', 'role');
    }

    const linkedToResellerPortal = input.linkedToResellerPortal ?? reseller?.linkedToResellerPortal ?? false;
    let link = '';
    let user: User;
    try {
      user = await em.fork().transactional(async (tx) => {
        const resellerId = reseller?.id ?? customer?.reseller.id;
        if (resellerId) await assertResellerOpen(tx, resellerId);
        const created = tx.create(User, {
          email,
          name,
          role: input.role,
          reseller: reseller ? tx.getReference(Reseller, reseller.id) : null,
          customer: customer ? tx.getReference(Customer, customer.id) : null,
          linkedToResellerPortal,
          locale,
          twoFactorEnabled: false,
          createdAt: new Date(),
          updatedAt: new Date(),
        });
        link = await this.invitations.issueInvitation(tx, created.id);
        await audit(tx, AuditAction.USER_CREATED, target.user(created), { actorId: p.userId, clientAddress });
        return created;
      });
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw conflict('This e-mail address is already in use.', 'email');
      throw error;
    }
    this.invitations.sendInvitation(user, link);
    return user;
  }

  /**
   * The locale of a user created without one: a reseller's user invites colleagues and customers in the
   * user's own language; vendor staff (admins) in DEFAULT_LOCALE, since an admin's own language says
   * nothing about the reseller's.
   */
  private async inviterLocale(em: EntityManager, p: AuthenticatedPrincipal): Promise<Locale> {
    if (p.role !== Role.RESELLER) return this.defaultLocale;
    const inviter = await em.findOne(User, p.userId);
    return isLocale(inviter?.locale) ? inviter.locale : this.defaultLocale;
  }

  /** Disables the user's 2FA and ends its sessions and API tokens; the user must activate 2FA again. */
  async resetTwoFactor(em: EntityManager, p: AuthenticatedPrincipal, userId: string, clientAddress: string | null): Promise<User> {
    const user = await this.findVisible(em, p, userId);
    if (!user) throw notFound('user');
    const actor = await em.findOneOrFail(User, p.userId);
    await em.transactional(async (tx) => {
      await tx.nativeUpdate(User, { id: user.id }, { twoFactorEnabled: false, totpSecretSealed: null, totpLastStep: null });
      await this.sessions.revokeAllFor(tx, user.id);
      await this.recoveryCodes.discard(tx, user.id);
      await audit(
        tx,
        AuditAction.TWO_FACTOR_RESET,
        target.user(user),
        { actorId: p.userId, clientAddress },
        { changes: changesOf(user, { twoFactorEnabled: false }) },
      );
    });
    user.twoFactorEnabled = false;
    user.totpLastStep = null;
    // A deactivated account is told nothing (FLOWS.md section 9).
    if (!user.active) return user;
    this.mailer.sendLater({
      to: user.email,
      locale: user.locale,
      template: 'two-factor-reset',
      vars: { name: user.name, actorName: actor.name, changedAt: new Date() },
    });
    return user;
  }

  /**
   * Deactivates an account (FLOWS.md section 9): in one transaction it is marked inactive and every
   * credential ends (sessions of every stage, API tokens, outstanding e-mail and activation tokens). Not
   * oneself, never the last active admin, also when two admins deactivate each other at once. Deactivating
   * an inactive account changes nothing and records nothing. The user gets no e-mail.
   */
  async deactivate(em: EntityManager, by: Actor, userId: string, reason: string | null | undefined): Promise<User> {
    const why = optionalReason(reason);
    const user = await em.findOne(User, scopeWhere('User', by, { id: userId }));
    if (!user) throw notFound('user');
    if (user.id === by.userId) throw conflict('You cannot deactivate your own account.', 'userId', 'SELF');
    if (!user.active) return user;
    const now = new Date();
    const done = await em.fork().transactional(async (tx) => {
      if (user.role === Role.ADMIN) await this.assertNotLastAdmin(tx, user.id);
      const changed = await tx.nativeUpdate(User, { id: user.id, active: true }, { active: false, deactivatedAt: now, updatedAt: now });
      // A concurrent deactivation was first: it recorded the event.
      if (changed !== 1) return false;
      await this.sessions.revokeAllFor(tx, user.id);
      await audit(
        tx,
        AuditAction.USER_DEACTIVATED,
        target.user(user),
        { actorId: by.userId, clientAddress: by.clientAddress },
        { changes: { active: { from: true, to: false } }, reason: why },
      );
      return true;
    });
    if (done) Object.assign(user, { active: false, deactivatedAt: now });
    else await em.refresh(user);
    return user;
  }

  /**
   * The last active admin stays. Every active admin's row is written (to itself) first: on PostgreSQL that
   * locks them, so of two concurrent deactivations the second waits and then counts without the first's
   * admin; on SQLite writes run one transaction at a time.
   */
  private async assertNotLastAdmin(tx: EntityManager, userId: string): Promise<void> {
    await tx.nativeUpdate(User, { role: Role.ADMIN, active: true }, { active: true });
    const others = await tx.count(User, { role: Role.ADMIN, active: true, id: { $ne: userId } });
    if (others === 0) throw conflict('This is the last active admin account; it cannot be deactivated.', 'userId', 'LAST_ADMIN');
  }

  /** Undoes a deactivation: the account may sign in again with its password and 2FA as they were. */
  async reactivate(em: EntityManager, by: Actor, userId: string): Promise<User> {
    const user = await em.findOne(User, scopeWhere('User', by, { id: userId }));
    if (!user) throw notFound('user');
    if (user.active) return user;
    const done = await em.fork().transactional(async (tx) => {
      const changed = await tx.nativeUpdate(
        User,
        { id: user.id, active: false },
        { active: true, deactivatedAt: null, updatedAt: new Date() },
      );
      if (changed !== 1) return false;
      await audit(
        tx,
        AuditAction.USER_REACTIVATED,
        target.user(user),
        { actorId: by.userId, clientAddress: by.clientAddress },
        { changes: { active: { from: false, to: true } } },
      );
      return true;
    });
    if (!done) {
      await em.refresh(user);
      return user;
    }
    Object.assign(user, { active: true, deactivatedAt: null });
    this.mailer.sendLater({
      to: user.email,
      locale: user.locale,
      template: 'account-reactivated',
      vars: { name: user.name, twoFactorEnabled: user.twoFactorEnabled },
    });
    return user;
  }

  /**
   * Name, reseller-portal link and locale (FLOWS.md section 9): staff for the users they may manage; every
   * user for their own name and locale, never their own reseller-portal link. Unchanged input writes nothing.
   */
  async update(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    id: string,
    input: UpdateUserData,
    clientAddress: string | null,
  ): Promise<User> {
    const user = await this.findVisible(em, p, id);
    if (!user) throw notFound('user');
    const own = user.id === p.userId;
    if (!own && p.role !== Role.ADMIN && p.role !== Role.RESELLER) throw forbidden("Only staff may change other users' accounts.");
    const wanted: Partial<Pick<User, 'name' | 'linkedToResellerPortal' | 'locale'>> = {};
    if (input.name !== undefined && input.name !== null) wanted.name = requiredName(input.name);
    if (input.locale !== undefined && input.locale !== null) wanted.locale = checkLocale(input.locale);
    if (input.linkedToResellerPortal !== undefined && input.linkedToResellerPortal !== null) {
      wanted.linkedToResellerPortal = input.linkedToResellerPortal;
    }
    const changes = changesOf(user, wanted);
    if (own && changes.linkedToResellerPortal) throw forbidden('Your own reseller-portal link is changed by your administrator.');
    if (Object.keys(changes).length === 0) return user;
    await em.transactional(async (tx) => {
      Object.assign(user, wanted);
      await audit(tx, AuditAction.USER_UPDATED, target.user(user), { actorId: p.userId, clientAddress }, { changes });
    });
    if (!own && user.active) {
      const actor = await em.findOneOrFail(User, p.userId);
      this.mailer.sendLater({
        to: user.email,
        locale: user.locale,
        template: 'account-changed',
        vars: { name: user.name, actorName: actor.name, changedAt: new Date(), fields: Object.keys(changes).join(', ') },
      });
    }
    return user;
  }
}
