// GraphQL input types of licenses. They carry only fields a caller may set.
import { Field, ID, InputType, Int } from 'type-graphql';
import { LicenseKind, LicenseStatus } from '../../common/enums';

@InputType()
export class LicenseFilter {
  @Field(() => [LicenseStatus], { nullable: true })
  status?: LicenseStatus[] | null;

  @Field(() => LicenseKind, { nullable: true })
  kind?: LicenseKind | null;

  @Field(() => ID, { nullable: true })
  customerId?: string | null;

  @Field(() => Date, { nullable: true, description: 'Licenses whose validUntil is before this instant.' })
  expiresBefore?: Date | null;
}

@InputType()
export class CreateLicenseInput {
  @Field(() => ID)
  customerId!: string;

  @Field(() => LicenseKind)
  kind!: LicenseKind;

  @Field(() => Int)
  seats!: number;

  @Field(() => Date, { nullable: true, description: 'Defaults to now.' })
  validFrom?: Date | null;

  @Field(() => Date)
  validUntil!: Date;

  @Field(() => String, {
    nullable: true,
    description: 'Retrying createLicense with the same key (per caller) returns the license created first instead of a second one.',
  })
  idempotencyKey?: string | null;
}

@InputType()
export class UpdateLicenseInput {
  @Field(() => Int, { nullable: true })
  seats?: number | null;

  @Field(() => Date, { nullable: true, description: 'A later end is a renewal.' })
  validUntil?: Date | null;

  @Field(() => LicenseKind, { nullable: true, description: 'Upgrade MDM -> MOBILE_SECURITY only; a downgrade is BAD_USER_INPUT.' })
  kind?: LicenseKind | null;
}
