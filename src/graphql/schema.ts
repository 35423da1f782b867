// Assembles the executable schema: type-graphql resolvers, the DateTime scalar, the input checks and
// the shield map.
import { applyMiddleware } from 'graphql-middleware';
import { DateTimeResolver } from 'graphql-scalars';
import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { directFieldResolvers } from './direct-resolvers';
import { inputChecks } from './input-checks';
import { resolvers } from './resolvers';
import { permissions } from './permissions';

/**
 * The schema without permissions: what is printed to schema/schema.graphql. Every object type is
 * declared with simpleResolvers: no type-graphql middleware or auth checker is used (authorization is
 * the shield map on root fields), so plain fields keep graphql-js's default resolver instead of a
 * wrapper per field and row.
 */
export async function buildTypeSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    validate: false,
    emitSchemaFile: false,
  });
}

export async function buildAppSchema(): Promise<GraphQLSchema> {
  const schema = await buildTypeSchema();
  // No global middlewares and no auth checker above: field resolvers may be called directly.
  directFieldResolvers(schema);
  // The first middleware runs first: no hostile value reaches a permission rule or a resolver.
  return applyMiddleware(schema, inputChecks(schema), permissions(schema));
}
