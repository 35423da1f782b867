// The Relay Node interface shared by every object with a global ID.
import { Field, ID, InterfaceType } from 'type-graphql';

@InterfaceType()
export abstract class Node {
  @Field(() => ID)
  id!: string;
}
