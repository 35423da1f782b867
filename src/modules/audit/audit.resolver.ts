// The audit log: newest first, scoped per FLOWS.md section 5; the actor shows only when visible.
import { Args, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { loadById } from '../../common/loaders';
import { paginate } from '../../common/pagination';
import type { Parent } from '../../common/parent';
import type { Context } from '../../context';
import { AuditEventConnection, PageArgsType } from '../../graphql/connections';
import { requireAuthenticated } from '../../graphql/principal';
import { visibleAuditEvents, visibleUsers } from '../access/visibility';
import { User } from '../users/user.entity';
import { AuditEvent } from './audit-event.entity';

@Resolver(() => AuditEvent)
export class AuditResolver {
  @Query(() => AuditEventConnection)
  async auditEvents(@Args(() => PageArgsType) args: PageArgsType, @Ctx() ctx: Context): Promise<AuditEventConnection> {
    const page = await paginate(ctx.em, AuditEvent, () => visibleAuditEvents(requireAuthenticated(ctx)), args, 'at');
    return AuditEventConnection.from(page);
  }

  /** An actor the caller may not see (e.g. vendor staff, for a reseller) is null. */
  @FieldResolver(() => User, { nullable: true })
  actor(@Root() event: Parent<AuditEvent>, @Ctx() ctx: Context): Promise<User | null> {
    if (!event.actorId) return Promise.resolve(null);
    return loadById(ctx, User, event.actorId, visibleUsers(requireAuthenticated(ctx)), 'User:visible');
  }
}
