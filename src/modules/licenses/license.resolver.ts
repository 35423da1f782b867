// License queries and mutations (single and bulk), and the nested fields of License.
import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, Field, FieldResolver, ID, Info, Mutation, ObjectType, Query, Resolver, Root } from 'type-graphql';
import { LicenseStatus } from '../../common/enums';
import { related } from '../../common/loaders';
import type { Parent } from '../../common/parent';
import type { Context } from '../../context';
import { ErrorCode, badInput, isAppError } from '../../errors';
import { LicenseConnection, PageArgsType, pageArgsOf } from '../../graphql/connections';
import { rowsCost } from '../../graphql/cost';
import { requireAuthenticated } from '../../graphql/principal';
import { selectsField } from '../../graphql/selection';
import { Customer } from '../customers/customer.entity';
import { Reseller } from '../resellers/reseller.entity';
import { License, licenseStatus } from './license.entity';
import { CreateLicenseInput, LicenseFilter, UpdateLicenseInput } from './license.inputs';
import type { CreatedLicense } from './license-writes';
import type { NestedLicense } from './license-page';

export const MAX_BULK_LICENSES = 100;

@ObjectType({ simpleResolvers: true, description: 'Why one row of a bulk call was refused.' })
export class RowError {
  @Field(() => String, { description: 'One of the codes of FLOWS.md section 2.' })
  code!: string;

  @Field(() => String)
  message!: string;

  @Field(() => String, { nullable: true, description: 'The input field at fault, when there is one.' })
  field!: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'One row of a bulk createLicenses call: the license, or why this row was refused.' })
export class CreateLicenseResult {
  @Field(() => License, { nullable: true })
  license!: License | CreatedLicense | NestedLicense | null;

  @Field(() => RowError, { nullable: true })
  error!: RowError | null;
}

@Resolver(() => License)
export class LicenseResolver {
  @Query(() => License, { nullable: true, description: 'null when it does not exist or is not visible to the caller.' })
  license(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<License | null> {
    return ctx.services.licenses.findVisible(ctx.em, requireAuthenticated(ctx), id);
  }

  @Query(() => LicenseConnection)
  async licenses(
    @Args(() => PageArgsType) args: PageArgsType,
    @Arg('filter', () => LicenseFilter, { nullable: true }) filter: LicenseFilter | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<LicenseConnection> {
    const page = await ctx.services.licenses.list(
      ctx.em,
      requireAuthenticated(ctx),
      { ...pageArgsOf(args, info), filter },
      { count: selectsField(info, 'totalCount') },
    );
    return LicenseConnection.from(page);
  }

  @Mutation(() => License)
  createLicense(@Arg('input', () => CreateLicenseInput) input: CreateLicenseInput, @Ctx() ctx: Context): Promise<License> {
    return ctx.services.licenses.create(ctx.em, requireAuthenticated(ctx), input, ctx.clientAddress);
  }

  @Mutation(() => [CreateLicenseResult], {
    description:
      'At most 100 rows; each row is authorized, validated and idempotent like createLicense; one bad row does not stop the others.',
    // Its cost (FLOWS.md section 8) is its number of rows, like a page of that many licenses.
    complexity: ({ args, childComplexity }) => rowsCost(Array.isArray(args.inputs) ? args.inputs.length : 1, childComplexity),
  })
  async createLicenses(
    @Arg('inputs', () => [CreateLicenseInput]) inputs: CreateLicenseInput[],
    @Ctx() ctx: Context,
  ): Promise<CreateLicenseResult[]> {
    const principal = requireAuthenticated(ctx);
    if (inputs.length > MAX_BULK_LICENSES) throw badInput(`At most ${MAX_BULK_LICENSES} licenses per call.`, 'inputs');
    // Row for row as createLicense would answer, written as set operations (LicenseService.createMany).
    const outcomes = await ctx.services.licenses.createMany(ctx.em, principal, inputs, ctx.clientAddress);
    return outcomes.map((outcome) => {
      if (!isAppError(outcome)) return { license: outcome, error: null };
      const field = typeof outcome.extensions.field === 'string' ? outcome.extensions.field : null;
      return { license: null, error: { code: outcome.code ?? ErrorCode.INTERNAL_SERVER_ERROR, message: outcome.message, field } };
    });
  }

  @Mutation(() => License)
  updateLicense(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateLicenseInput) input: UpdateLicenseInput,
    @Ctx() ctx: Context,
  ): Promise<License> {
    return ctx.services.licenses.update(ctx.em, requireAuthenticated(ctx), id, input, ctx.clientAddress);
  }

  @Mutation(() => License)
  revokeLicense(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<License> {
    return ctx.services.licenses.revoke(ctx.em, requireAuthenticated(ctx), id, ctx.clientAddress);
  }

  @Mutation(() => License, { description: 'Staff, within their scope.' })
  suspendLicense(@Arg('id', () => ID) id: string, @Arg('reason', () => String) reason: string, @Ctx() ctx: Context): Promise<License> {
    return ctx.services.licenses.suspend(ctx.em, requireAuthenticated(ctx), id, reason, ctx.clientAddress);
  }

  @Mutation(() => License, { description: "Staff: lifts the license's own suspension." })
  reinstateLicense(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<License> {
    return ctx.services.licenses.reinstate(ctx.em, requireAuthenticated(ctx), id, ctx.clientAddress);
  }

  @Mutation(() => License, { description: 'Staff: to another customer of the same reseller.' })
  moveLicense(@Arg('id', () => ID) id: string, @Arg('toCustomerId', () => ID) toCustomerId: string, @Ctx() ctx: Context): Promise<License> {
    return ctx.services.licenses.move(ctx.em, requireAuthenticated(ctx), id, toCustomerId, ctx.clientAddress);
  }

  @FieldResolver(() => LicenseStatus)
  status(@Root() license: Parent<License>): LicenseStatus {
    return licenseStatus(license, new Date());
  }

  /** The customer and reseller of a visible license are visible by construction (FLOWS.md section 5). */
  @FieldResolver(() => Customer)
  customer(@Root() license: Parent<License>, @Ctx() ctx: Context): Promise<Customer> {
    return related(ctx, Customer, license.customer);
  }

  @FieldResolver(() => Reseller)
  reseller(@Root() license: Parent<License>, @Ctx() ctx: Context): Promise<Reseller> {
    return related(ctx, Reseller, license.reseller);
  }
}
