// User queries and mutations, and the nested fields of User.
import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, Field, FieldResolver, ID, Info, InputType, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Role } from '../../common/enums';
import { related } from '../../common/loaders';
import type { Parent } from '../../common/parent';
import type { Context } from '../../context';
import { PageArgsType, pageArgsOf, UserConnection } from '../../graphql/connections';
import { requireAuthenticated } from '../../graphql/principal';
import { actorOf } from '../auth/principal';
import { Customer } from '../customers/customer.entity';
import { Reseller } from '../resellers/reseller.entity';
import { User } from './user.entity';

@InputType()
export class UserFilter {
  @Field(() => Role, { nullable: true })
  role?: Role | null;

  @Field(() => Boolean, { nullable: true, description: 'true: active accounts only; false: deactivated ones only.' })
  active?: boolean | null;
}

@InputType()
export class UpdateUserInput {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => Boolean, { nullable: true, description: "Staff only, and never on one's own account." })
  linkedToResellerPortal?: boolean | null;

  @Field(() => String, { nullable: true, description: 'en or de.' })
  locale?: string | null;
}

@InputType()
export class CreateUserInput {
  @Field(() => String)
  email!: string;

  @Field(() => String)
  name!: string;

  @Field(() => Role)
  role!: Role;

  @Field(() => ID, { nullable: true, description: 'Required for RESELLER users created by admins.' })
  resellerId?: string | null;

  @Field(() => ID, { nullable: true, description: 'Required for CUSTOMER users.' })
  customerId?: string | null;

  @Field(() => Boolean, { nullable: true })
  linkedToResellerPortal?: boolean | null;

  @Field(() => String, {
    nullable: true,
    description:
      "en or de: the language of the user's e-mails. Default: a reseller's user's own locale; DEFAULT_LOCALE when an admin creates.",
  })
  locale?: string | null;
}

@Resolver(() => User)
export class UserResolver {
  @Query(() => User, { description: 'The signed-in user.' })
  me(@Ctx() ctx: Context): Promise<User> {
    return ctx.services.users.me(ctx.em, requireAuthenticated(ctx));
  }

  @Query(() => UserConnection)
  async users(
    @Args(() => PageArgsType) args: PageArgsType,
    @Arg('filter', () => UserFilter, { nullable: true }) filter: UserFilter | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<UserConnection> {
    return UserConnection.from(await ctx.services.users.list(ctx.em, requireAuthenticated(ctx), { ...pageArgsOf(args, info), filter }));
  }

  @Mutation(() => User, { description: 'Creates the account and e-mails an invitation link (same flow as a password reset).' })
  createUser(@Arg('input', () => CreateUserInput) input: CreateUserInput, @Ctx() ctx: Context): Promise<User> {
    return ctx.services.users.create(ctx.em, requireAuthenticated(ctx), input, ctx.clientAddress);
  }

  @Mutation(() => User, {
    description: "Disables the user's 2FA and ends the user's sessions and API tokens; the user must activate 2FA again.",
  })
  resetUserTwoFactor(@Arg('userId', () => ID) userId: string, @Ctx() ctx: Context): Promise<User> {
    return ctx.services.users.resetTwoFactor(ctx.em, requireAuthenticated(ctx), userId, ctx.clientAddress);
  }

  @Mutation(() => User, {
    description:
      "Ends the user's sessions, API tokens and open e-mail/activation tokens; sign-in then fails like a wrong password. Not the last active ADMIN, not oneself.",
  })
  deactivateUser(
    @Arg('userId', () => ID) userId: string,
    @Arg('reason', () => String, { nullable: true }) reason: string | null,
    @Ctx() ctx: Context,
  ): Promise<User> {
    return ctx.services.users.deactivate(ctx.em, actorOf(requireAuthenticated(ctx), ctx.clientAddress), userId, reason);
  }

  @Mutation(() => User, { description: 'Undoes a deactivation; 2FA stays as it was.' })
  reactivateUser(@Arg('userId', () => ID) userId: string, @Ctx() ctx: Context): Promise<User> {
    return ctx.services.users.reactivate(ctx.em, actorOf(requireAuthenticated(ctx), ctx.clientAddress), userId);
  }

  @Mutation(() => User, {
    description: 'Name, RSP link and locale; staff for the users they may manage, anyone for their own name and locale.',
  })
  updateUser(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateUserInput) input: UpdateUserInput,
    @Ctx() ctx: Context,
  ): Promise<User> {
    return ctx.services.users.update(ctx.em, requireAuthenticated(ctx), id, input, ctx.clientAddress);
  }

  @FieldResolver(() => Int, { nullable: true, description: "Unused recovery codes; only on the caller's own user (null on others)." })
  async recoveryCodesRemaining(@Root() user: Parent<User>, @Ctx() ctx: Context): Promise<number | null> {
    if (user.id !== ctx.principal?.userId) return null;
    return ctx.services.recoveryCodes.remaining(ctx.em, user.id);
  }

  /** A visible user's reseller and customer are visible by construction (FLOWS.md section 5). */
  @FieldResolver(() => Reseller, { nullable: true, description: 'Set for RESELLER users.' })
  async reseller(@Root() user: Parent<User>, @Ctx() ctx: Context): Promise<Reseller | null> {
    return user.reseller ? related(ctx, Reseller, user.reseller) : null;
  }

  @FieldResolver(() => Customer, { nullable: true, description: 'Set for CUSTOMER users.' })
  async customer(@Root() user: Parent<User>, @Ctx() ctx: Context): Promise<Customer | null> {
    return user.customer ? related(ctx, Customer, user.customer) : null;
  }
}
