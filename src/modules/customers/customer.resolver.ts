// Customer queries and mutations, and the nested fields of Customer.
import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import DataLoader from 'dataloader';
import { loadPage, related } from '../../common/loaders';
import type { Parent } from '../../common/parent';
import type { Context } from '../../context';
import {
  BEFORE_DESCRIPTION,
  CustomerConnection,
  LAST_DESCRIPTION,
  LicenseConnection,
  PageArgsType,
  pageArgsOf,
} from '../../graphql/connections';
import { requireAuthenticated } from '../../graphql/principal';
import { selectsField, selectsPath } from '../../graphql/selection';
import { actorOf } from '../auth/principal';
import { LicenseFilter } from '../licenses/license.inputs';
import { Reseller } from '../resellers/reseller.entity';
import { Customer } from './customer.entity';
import { CreateCustomerInput, CustomerFilter, UpdateCustomerInput } from './customer.inputs';
import type { PageColumns } from './customer.service';

/** What a customer connection's selection asks of the page statement. */
export function pageColumnsOf(info: GraphQLResolveInfo): PageColumns {
  return { count: selectsField(info, 'totalCount'), hasValidLicense: selectsPath(info, ['edges', 'node', 'hasValidLicense']) };
}

@Resolver(() => Customer)
export class CustomerResolver {
  @Query(() => Customer, { nullable: true })
  customer(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Customer | null> {
    return ctx.services.customers.findVisible(ctx.em, requireAuthenticated(ctx), id);
  }

  @Query(() => CustomerConnection)
  async customers(
    @Args(() => PageArgsType) args: PageArgsType,
    @Arg('filter', () => CustomerFilter, { nullable: true }) filter: CustomerFilter | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<CustomerConnection> {
    return CustomerConnection.from(
      await ctx.services.customers.list(ctx.em, requireAuthenticated(ctx), { ...pageArgsOf(args, info), filter }, pageColumnsOf(info)),
    );
  }

  @Mutation(() => Customer)
  createCustomer(@Arg('input', () => CreateCustomerInput) input: CreateCustomerInput, @Ctx() ctx: Context): Promise<Customer> {
    return ctx.services.customers.create(ctx.em, requireAuthenticated(ctx), input, ctx.clientAddress);
  }

  @Mutation(() => Customer)
  updateCustomer(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateCustomerInput) input: UpdateCustomerInput,
    @Ctx() ctx: Context,
  ): Promise<Customer> {
    return ctx.services.customers.update(ctx.em, requireAuthenticated(ctx), id, input, ctx.clientAddress);
  }

  @Mutation(() => Customer, {
    description: 'Admins: the customer, its licenses and its users move to another reseller in one transaction.',
  })
  transferCustomer(
    @Arg('customerId', () => ID) customerId: string,
    @Arg('toResellerId', () => ID) toResellerId: string,
    @Arg('reason', () => String) reason: string,
    @Ctx() ctx: Context,
  ): Promise<Customer> {
    return ctx.services.customers.transfer(ctx.em, actorOf(requireAuthenticated(ctx), ctx.clientAddress), customerId, toResellerId, reason);
  }

  /** A visible customer's reseller is visible by construction (FLOWS.md section 5). */
  @FieldResolver(() => Reseller)
  reseller(@Root() customer: Parent<Customer>, @Ctx() ctx: Context): Promise<Reseller> {
    return related(ctx, Reseller, customer.reseller);
  }

  @FieldResolver(() => Boolean, { description: 'True when the customer has at least one ACTIVE license.' })
  hasValidLicense(@Root() customer: Parent<Customer> & { hasValidLicense?: boolean }, @Ctx() ctx: Context): Promise<boolean> {
    // A page row computed it in its own statement (customer-page.ts); other parents load it in one batch.
    if (typeof customer.hasValidLicense === 'boolean') return Promise.resolve(customer.hasValidLicense);
    let loader = ctx.loaders.get('hasValidLicense') as DataLoader<string, boolean> | undefined;
    if (!loader) {
      loader = new DataLoader<string, boolean>(async (ids) => {
        const valid = await ctx.services.customers.withValidLicense(ctx.em, ids);
        return ids.map((id) => valid.has(id));
      });
      ctx.loaders.set('hasValidLicense', loader);
    }
    return loader.load(customer.id);
  }

  @FieldResolver(() => LicenseConnection)
  async licenses(
    @Root() customer: Parent<Customer>,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => LicenseFilter, { nullable: true }) filter: LicenseFilter | null,
    @Arg('last', () => Int, { nullable: true, description: LAST_DESCRIPTION }) last: number | null,
    @Arg('before', () => String, { nullable: true, description: BEFORE_DESCRIPTION }) before: string | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ) {
    const p = requireAuthenticated(ctx);
    // Only totalCount selected: no page rows are read.
    const rows = selectsField(info, 'edges') || selectsField(info, 'pageInfo');
    const key = `Customer.licenses:${JSON.stringify([first, after, last, before, filter, rows])}`;
    return LicenseConnection.from(
      await loadPage(ctx, key, customer.id, (ids) =>
        ctx.services.licenses.listForCustomers(ctx.em, p, ids, { first, after, last, before, filter }, { rows }),
      ),
    );
  }
}
