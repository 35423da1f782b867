// The audit log: newest first, scoped per FLOWS.md section 5; the actor shows only when visible.
import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, Field, FieldResolver, ID, Info, InputType, Query, Resolver, Root } from 'type-graphql';
import { loadById } from '../../common/loaders';
import type { Parent } from '../../common/parent';
import type { Context } from '../../context';
import { AuditEventConnection, PageArgsType, pageArgsOf } from '../../graphql/connections';
import { requireAuthenticated } from '../../graphql/principal';
import { scopeWhere } from '../access/scope';
import { User } from '../users/user.entity';
import { AuditEvent } from './audit-event.entity';
import { listAuditEvents } from './audit.service';

@InputType({ description: "Narrows the audit log, e.g. to one license's history." })
export class AuditEventFilter {
  @Field(() => ID, { nullable: true })
  targetId?: string | null;

  @Field(() => String, { nullable: true })
  action?: string | null;

  @Field(() => Date, { nullable: true, description: 'Events at or after this instant.' })
  since?: Date | null;
}

@Resolver(() => AuditEvent)
export class AuditResolver {
  @Query(() => AuditEventConnection)
  async auditEvents(
    @Args(() => PageArgsType) args: PageArgsType,
    @Arg('filter', () => AuditEventFilter, { nullable: true }) filter: AuditEventFilter | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<AuditEventConnection> {
    const page = await listAuditEvents(ctx.em, requireAuthenticated(ctx), { ...pageArgsOf(args, info), filter });
    return AuditEventConnection.from(page);
  }

  /** An actor the caller may not see (e.g. vendor staff, for a reseller) is null. */
  @FieldResolver(() => User, { nullable: true })
  actor(@Root() event: Parent<AuditEvent>, @Ctx() ctx: Context): Promise<User | null> {
    if (!event.actorId) return Promise.resolve(null);
    return loadById(ctx, User, event.actorId, scopeWhere('User', requireAuthenticated(ctx)), 'User:visible');
  }
}
