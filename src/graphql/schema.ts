// Assembles the executable schema: type-graphql resolvers, the DateTime scalar, and the shield map.
import { applyMiddleware } from 'graphql-middleware';
import { DateTimeResolver } from 'graphql-scalars';
import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { resolvers } from './resolvers';
import { permissions } from './permissions';

/** The schema without permissions: what is printed to schema/schema.graphql. */
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
  return applyMiddleware(schema, permissions(schema));
}
