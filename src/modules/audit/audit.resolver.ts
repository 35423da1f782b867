// The audit log: newest first, scoped per FLOWS.md section 5; the actor shows only when visible.
import { Args, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { loadById } from '../../common/loaders';
import type { Parent } from '../../common/parent';
import type { Context } from '../../context';
import { AuditEventConnection, PageArgsType } from '../../graphql/connections';
import { requireAuthenticated } from '../../graphql/principal';
import { scopeWhere } from '../access/scope';
import { User } from '../users/user.entity';
import { AuditEvent } from './audit-event.entity';
import { listAuditEvents } from './audit.service';

@Resolver(() => AuditEvent)
export class AuditResolver {
  @Query(() => AuditEventConnection)
  async auditEvents(@Args(() => PageArgsType) args: PageArgsType, @Ctx() ctx: Context): Promise<AuditEventConnection> {
    const page = await listAuditEvents(ctx.em, requireAuthenticated(ctx), args);
    return AuditEventConnection.from(page);
  }

  /** An actor the caller may not see (e.g. vendor staff, for a reseller) is null. */
  @FieldResolver(() => User, { nullable: true })
  actor(@Root() event: Parent<AuditEvent>, @Ctx() ctx: Context): Promise<User | null> {
    if (!event.actorId) return Promise.resolve(null);
    return loadById(ctx, User, event.actorId, scopeWhere('User', requireAuthenticated(ctx)), 'User:visible');
  }
}
