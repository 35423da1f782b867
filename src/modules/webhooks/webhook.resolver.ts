// Webhook endpoints and deliveries (FLOWS.md section 12). Who may call each field: permissions.ts.
import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Info, Mutation, ObjectType, Query, Resolver, Root } from 'type-graphql';
import { related } from '../../common/loaders';
import type { Parent } from '../../common/parent';
import type { Context } from '../../context';
import { PageArgsType, WebhookDeliveryConnection, pageArgsOf } from '../../graphql/connections';
import { rowsCost } from '../../graphql/cost';
import { requireAuthenticated } from '../../graphql/principal';
import { MAX_PAGE_SIZE } from '../../common/pagination';
import { Reseller } from '../resellers/reseller.entity';
import { WebhookDelivery } from './webhook-delivery.entity';
import { WebhookEndpoint } from './webhook-endpoint.entity';

@ObjectType({ simpleResolvers: true })
export class CreatedWebhookEndpoint {
  @Field(() => WebhookEndpoint)
  endpoint!: WebhookEndpoint;

  @Field(() => String, { description: 'The signing secret; shown once.' })
  signingSecret!: string;
}

@ArgsType()
class DeliveryPageArgs extends PageArgsType {
  @Field(() => ID)
  endpointId!: string;
}

@Resolver(() => WebhookEndpoint)
export class WebhookEndpointResolver {
  /**
   * Not a connection: a reseller has at most 5 endpoints. Charged like a full page of 100 rows, so that
   * what is nested below (WebhookEndpoint.reseller.customers) is charged as below the largest page.
   */
  @Query(() => [WebhookEndpoint], {
    description: "The caller's reseller's endpoints (admins: all).",
    complexity: ({ childComplexity }) => rowsCost(MAX_PAGE_SIZE, childComplexity),
  })
  webhookEndpoints(@Ctx() ctx: Context): Promise<WebhookEndpoint[]> {
    return ctx.services.webhooks.list(ctx.em, requireAuthenticated(ctx));
  }

  @Query(() => WebhookDeliveryConnection, { description: 'Delivery attempts, newest first.' })
  async webhookDeliveries(
    @Args(() => DeliveryPageArgs) args: DeliveryPageArgs,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<WebhookDeliveryConnection> {
    const page = await ctx.services.webhooks.deliveries(ctx.em, requireAuthenticated(ctx), args.endpointId, pageArgsOf(args, info));
    return WebhookDeliveryConnection.from(page);
  }

  @Mutation(() => CreatedWebhookEndpoint, {
    description: "Staff: an HTTPS endpoint for the caller's reseller (admins: any reseller, or all when resellerId is null).",
  })
  createWebhookEndpoint(
    @Arg('url', () => String) url: string,
    @Arg('events', () => [String]) events: string[],
    @Arg('resellerId', () => ID, { nullable: true }) resellerId: string | null,
    @Ctx() ctx: Context,
  ): Promise<CreatedWebhookEndpoint> {
    return ctx.services.webhooks.create(ctx.em, requireAuthenticated(ctx), { url, events, resellerId }, ctx.clientAddress);
  }

  @Mutation(() => Boolean, { description: 'Staff: nothing more is delivered to the endpoint; its deliveries stay readable.' })
  deleteWebhookEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<boolean> {
    return ctx.services.webhooks.delete(ctx.em, requireAuthenticated(ctx), id, ctx.clientAddress);
  }

  @Mutation(() => WebhookDelivery, { description: 'Queues one delivery again.' })
  redeliverWebhook(@Arg('deliveryId', () => ID) deliveryId: string, @Ctx() ctx: Context): Promise<WebhookDelivery> {
    return ctx.services.webhooks.redeliver(ctx.em, requireAuthenticated(ctx), deliveryId, ctx.clientAddress);
  }

  /** An endpoint's reseller is visible to whoever sees the endpoint (scope.ts). Null: admin-wide. */
  @FieldResolver(() => Reseller, { nullable: true })
  reseller(@Root() endpoint: Parent<WebhookEndpoint>, @Ctx() ctx: Context): Promise<Reseller> | null {
    return endpoint.reseller ? related(ctx, Reseller, endpoint.reseller) : null;
  }
}
