// Reseller queries and mutations; Reseller.customers goes through the customers' visibility rule.
import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, Field, FieldResolver, ID, Info, InputType, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Role } from '../../common/enums';
import { loadPage } from '../../common/loaders';
import type { Parent } from '../../common/parent';
import type { Context } from '../../context';
import {
  BEFORE_DESCRIPTION,
  CustomerConnection,
  LAST_DESCRIPTION,
  PageArgsType,
  pageArgsOf,
  ResellerConnection,
} from '../../graphql/connections';
import { requireAuthenticated } from '../../graphql/principal';
import { actorOf } from '../auth/principal';
import { CustomerFilter } from '../customers/customer.inputs';
import { pageColumnsOf } from '../customers/customer.resolver';
import { Reseller } from './reseller.entity';

@InputType()
export class CreateResellerInput {
  @Field(() => String)
  name!: string;

  @Field(() => Boolean, { nullable: true })
  linkedToResellerPortal?: boolean | null;
}

@Resolver(() => Reseller)
export class ResellerResolver {
  @Query(() => ResellerConnection, { description: 'Admins: all resellers; reseller users: their own; customer users: FORBIDDEN.' })
  async resellers(
    @Args(() => PageArgsType) args: PageArgsType,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<ResellerConnection> {
    return ResellerConnection.from(await ctx.services.resellers.list(ctx.em, requireAuthenticated(ctx), pageArgsOf(args, info)));
  }

  @Mutation(() => Reseller)
  createReseller(@Arg('input', () => CreateResellerInput) input: CreateResellerInput, @Ctx() ctx: Context): Promise<Reseller> {
    return ctx.services.resellers.create(ctx.em, requireAuthenticated(ctx), input, ctx.clientAddress);
  }

  @Mutation(() => Reseller, {
    description:
      "Admins. The reseller's users are signed out and cannot sign in; its licenses answer SUSPENDED; nothing new is created under it.",
  })
  suspendReseller(@Arg('id', () => ID) id: string, @Arg('reason', () => String) reason: string, @Ctx() ctx: Context): Promise<Reseller> {
    return ctx.services.resellers.suspend(ctx.em, actorOf(requireAuthenticated(ctx), ctx.clientAddress), id, reason);
  }

  @Mutation(() => Reseller, { description: 'Admins. Undoes a suspension.' })
  reinstateReseller(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Reseller> {
    return ctx.services.resellers.reinstate(ctx.em, actorOf(requireAuthenticated(ctx), ctx.clientAddress), id);
  }

  @FieldResolver(() => String, { nullable: true, description: 'Why it was suspended (staff only; null for others).' })
  suspensionReason(@Root() reseller: Parent<Reseller>, @Ctx() ctx: Context): string | null {
    const role = ctx.principal?.role;
    return role === Role.ADMIN || role === Role.RESELLER ? (reseller.suspensionReason ?? null) : null;
  }

  @FieldResolver(() => CustomerConnection, { description: "Admins and the reseller's own users only; a customer user gets FORBIDDEN." })
  async customers(
    @Root() reseller: Parent<Reseller>,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => CustomerFilter, { nullable: true }) filter: CustomerFilter | null,
    @Arg('last', () => Int, { nullable: true, description: LAST_DESCRIPTION }) last: number | null,
    @Arg('before', () => String, { nullable: true, description: BEFORE_DESCRIPTION }) before: string | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ) {
    const p = requireAuthenticated(ctx);
    const columns = pageColumnsOf(info);
    const key = `Reseller.customers:${JSON.stringify([first, after, last, before, filter, columns.hasValidLicense])}`;
    return CustomerConnection.from(
      await loadPage(ctx, key, reseller.id, (ids) =>
        ctx.services.customers.listForResellers(ctx.em, p, ids, { first, after, last, before, filter }, columns),
      ),
    );
  }
}
