// create-admin: an ADMIN without password or 2FA, invited by e-mail through the password-reset flow,
// in DEFAULT_LOCALE (the account's locale until it chooses another).
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { Role } from '../common/enums';
import { requiredName } from '../common/validation';
import { conflict } from '../errors';
import { audit, AuditAction, target } from '../modules/audit/audit.service';
import { validEmail } from '../modules/auth/email-address';
import { User } from '../modules/users/user.entity';
import type { Services } from '../services';

export async function createAdmin(services: Services, emailInput: string, nameInput: string): Promise<{ user: User; link: string }> {
  const email = validEmail(emailInput);
  const name = requiredName(nameInput);
  const em = services.orm.em.fork();
  if (await em.count(User, { email })) throw conflict(`a user with the e-mail ${email} already exists`, 'email');
  try {
    let link = '';
    const user = await em.transactional(async (tx) => {
      const created = tx.create(User, {
        email,
        name,
        role: Role.ADMIN,
        twoFactorEnabled: false,
        linkedToResellerPortal: false,
        locale: services.config.defaultLocale,
        createdAt: new Date(),
        updatedAt: new Date(),
      });
      link = await services.passwordReset.issueInvitation(tx, created.id);
      await audit(tx, AuditAction.USER_CREATED, target.user(created), { actorId: null, clientAddress: 'cli' });
      return created;
    });
    services.passwordReset.sendInvitation(user, link);
    return { user, link };
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) throw conflict(`a user with the e-mail ${email} already exists`, 'email');
    throw error;
  }
}
