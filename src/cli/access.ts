// Operator commands that take access away (FLOWS.md section 9) without a session: deactivate or reactivate
// a user by e-mail, suspend or reinstate a reseller by id. They run the API's services as the operator
// (an admin's scope, recorded as the system), so the rules (not the last admin, reasons, idempotence) and
// the audit trail are the API's.
import { AppError, ErrorCode } from '../errors';
import { validEmail } from '../modules/auth/email-address';
import { OPERATOR } from '../modules/auth/principal';
import { Reseller } from '../modules/resellers/reseller.entity';
import { User } from '../modules/users/user.entity';
import type { Services } from '../services';

async function userByEmail(services: Services, emailInput: string): Promise<User> {
  const email = validEmail(emailInput);
  const user = await services.orm.em.fork().findOne(User, { email });
  if (!user) throw new AppError(ErrorCode.NOT_FOUND, `no user with the e-mail ${email}`, { field: 'email' });
  return user;
}

export async function deactivateUser(services: Services, email: string, reason: string | null): Promise<{ user: User; changed: boolean }> {
  const found = await userByEmail(services, email);
  const wasActive = found.active;
  const user = await services.users.deactivate(services.orm.em.fork(), OPERATOR, found.id, reason);
  return { user, changed: wasActive && !user.active };
}

export async function reactivateUser(services: Services, email: string): Promise<{ user: User; changed: boolean }> {
  const found = await userByEmail(services, email);
  const user = await services.users.reactivate(services.orm.em.fork(), OPERATOR, found.id);
  return { user, changed: !found.active && user.active };
}

async function resellerById(services: Services, id: string): Promise<Reseller> {
  const reseller = await services.orm.em.fork().findOne(Reseller, { id });
  if (!reseller) throw new AppError(ErrorCode.NOT_FOUND, `no reseller with the id ${id}`, { field: 'id' });
  return reseller;
}

export async function suspendReseller(services: Services, id: string, reason: string): Promise<{ reseller: Reseller; changed: boolean }> {
  const found = await resellerById(services, id);
  const reseller = await services.resellers.suspend(services.orm.em.fork(), OPERATOR, found.id, reason);
  return { reseller, changed: found.suspendedAt === null };
}

export async function reinstateReseller(services: Services, id: string): Promise<{ reseller: Reseller; changed: boolean }> {
  const found = await resellerById(services, id);
  const reseller = await services.resellers.reinstate(services.orm.em.fork(), OPERATOR, found.id);
  return { reseller, changed: found.suspendedAt !== null };
}
