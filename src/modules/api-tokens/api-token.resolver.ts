// API token queries and mutations: each caller sees and manages only its own tokens.
import { Arg, Ctx, Field, ID, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import { ApiTokenPurpose } from '../../common/enums';
import type { Context } from '../../context';
import { requireAuthenticated } from '../../graphql/principal';
import { ApiToken } from './api-token.entity';

@ObjectType({ simpleResolvers: true })
export class CreatedApiToken {
  @Field(() => ApiToken)
  apiToken!: ApiToken;

  @Field(() => String, { description: 'The secret; shown once, stored only as a hash.' })
  token!: string;
}

@Resolver(() => ApiToken)
export class ApiTokenResolver {
  @Query(() => [ApiToken])
  apiTokens(@Ctx() ctx: Context): Promise<ApiToken[]> {
    return ctx.services.apiTokens.list(ctx.em, requireAuthenticated(ctx));
  }

  @Mutation(() => CreatedApiToken, {
    description:
      'AUTHENTICATED sessions only. purpose RESELLER_PORTAL (admins only): a token for the reseller portal that can only call beginTwoFactorSetup.',
  })
  createApiToken(
    @Arg('name', () => String) name: string,
    @Arg('expiresAt', () => Date, { nullable: true }) expiresAt: Date | null,
    @Arg('purpose', () => ApiTokenPurpose, { nullable: true, defaultValue: ApiTokenPurpose.OWNER }) purpose: ApiTokenPurpose | null,
    @Ctx() ctx: Context,
  ): Promise<CreatedApiToken> {
    return ctx.services.apiTokens.create(
      ctx.em,
      requireAuthenticated(ctx),
      name,
      expiresAt ?? null,
      purpose ?? ApiTokenPurpose.OWNER,
      ctx.clientAddress,
    );
  }

  @Mutation(() => Boolean)
  revokeApiToken(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<boolean> {
    return ctx.services.apiTokens.revoke(ctx.em, requireAuthenticated(ctx), id, ctx.clientAddress);
  }
}
