// Users: created by admins (any role) and resellers (their own and their customers' users), each
// invited by e-mail; 2FA can be reset by whoever may see the user. Nobody creates above their scope.
import { UniqueConstraintViolationException, type EntityManager, type FilterQuery } from '@mikro-orm/core';
import { Role } from '../../common/enums';
import { paginate, type PageArgs } from '../../common/pagination';
import { requiredName } from '../../common/validation';
import { badInput, conflict, forbidden, notFound } from '../../errors';
import { scopeOf, scopeReseller, scopeWhere } from '../access/scope';
import { audit, AuditAction, target } from '../audit/audit.service';
import { validEmail } from '../auth/email-address';
import type { PasswordResetService } from '../auth/password-reset.service';
import type { AuthenticatedPrincipal } from '../auth/principal';
import type { SessionService } from '../auth/session.service';
import { Customer } from '../customers/customer.entity';
import type { Mailer } from '../mail/mailer';
import { Reseller } from '../resellers/reseller.entity';
import { User } from './user.entity';

export interface CreateUserData {
  email: string;
  name: string;
  role: Role;
  resellerId?: string | null;
  customerId?: string | null;
  linkedToResellerPortal?: boolean | null;
}

export class UserService {
  constructor(
    private readonly invitations: Pick<PasswordResetService, 'issueInvitation' | 'sendInvitation'>,
    private readonly sessions: SessionService,
    private readonly mailer: Mailer,
    private readonly productName: string,
  ) {}

  list(em: EntityManager, p: AuthenticatedPrincipal, args: PageArgs & { filter?: { role?: Role | null } | null }) {
    const parts: FilterQuery<User>[] = [];
    if (args.filter?.role) parts.push({ role: args.filter.role });
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
        const created = tx.create(User, {
          email,
          name,
          role: input.role,
          reseller: reseller ? tx.getReference(Reseller, reseller.id) : null,
          customer: customer ? tx.getReference(Customer, customer.id) : null,
          linkedToResellerPortal,
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

  /** Disables the user's 2FA and ends its sessions and API tokens; the user must activate 2FA again. */
  async resetTwoFactor(em: EntityManager, p: AuthenticatedPrincipal, userId: string, clientAddress: string | null): Promise<User> {
    const user = await this.findVisible(em, p, userId);
    if (!user) throw notFound('user');
    const actor = await em.findOneOrFail(User, p.userId);
    await em.transactional(async (tx) => {
      await tx.nativeUpdate(User, { id: user.id }, { twoFactorEnabled: false, totpSecretSealed: null, totpLastStep: null });
      await this.sessions.revokeAllFor(tx, user.id);
      await audit(tx, AuditAction.TWO_FACTOR_RESET, target.user(user), { actorId: p.userId, clientAddress });
    });
    user.twoFactorEnabled = false;
    user.totpLastStep = null;
    this.mailer.sendLater({
      to: user.email,
      subject: `Two-factor authentication of your ${this.productName} account was reset`,
      template: 'two-factor-reset',
      vars: { name: user.name, actorName: actor.name, changedAt: new Date().toUTCString() },
    });
    return user;
  }
}
