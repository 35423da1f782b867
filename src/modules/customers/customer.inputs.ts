// GraphQL input types of customers. They carry only fields a caller may set.
import { Field, ID, InputType } from 'type-graphql';

@InputType()
export class CustomerFilter {
  @Field(() => String, { nullable: true, description: 'Case-insensitive substring of the name.' })
  search?: string | null;

  @Field(() => Boolean, { nullable: true })
  hasValidLicense?: boolean | null;

  @Field(() => ID, { nullable: true, description: 'Admins only.' })
  resellerId?: string | null;
}

@InputType()
export class CreateCustomerInput {
  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  contactEmail?: string | null;

  @Field(() => ID, { nullable: true, description: 'Admins must name the reseller; for reseller users it is their own and may be omitted.' })
  resellerId?: string | null;
}

@InputType()
export class UpdateCustomerInput {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => String, { nullable: true, description: 'null or an empty string removes the address.' })
  contactEmail?: string | null;
}
