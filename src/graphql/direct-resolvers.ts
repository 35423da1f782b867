// type-graphql calls every @FieldResolver method through one generic handler: per call it asks its
// container for the resolver instance, sorts and maps the parameter metadata and runs the (empty)
// middleware chain. On the license page that is 150 calls a request (License.status, .customer and
// .reseller for 50 rows), about 130 µs of CPU per request in test/bench/profile.ts. A field resolver
// whose parameters are only @Root(), @Ctx() and @Info(), with no middleware and no roles, is called
// here directly instead: the same method, with the same arguments. This relies on the schema being
// built without global middlewares and without an auth checker (schema.ts): authorization is the
// shield map, which wraps these resolvers afterwards as before.
import type { GraphQLFieldResolver, GraphQLSchema } from 'graphql';
import { isObjectType } from 'graphql';
import { getMetadataStorage } from 'type-graphql';

type Param = { kind: string; index: number; propertyName?: string; getType?: unknown };
type Method = (...args: unknown[]) => unknown;

/** The argument a parameter receives, or null when the parameter needs type-graphql (args, validation, conversion). */
function argumentOf(param: Param): ((root: unknown, context: unknown, info: unknown) => unknown) | null {
  if (param.kind === 'root' && !param.propertyName && !param.getType) return (root) => root;
  if (param.kind === 'context' && !param.propertyName) return (_root, context) => context;
  if (param.kind === 'info') return (_root, _context, info) => info;
  return null;
}

/** Replaces type-graphql's handler of every eligible field resolver in `schema`; returns the fields replaced ("License.status", ...). */
export function directFieldResolvers(schema: GraphQLSchema): string[] {
  const storage = getMetadataStorage();
  const instances = new Map<object, Record<string, Method>>();
  const replaced: string[] = [];
  for (const metadata of storage.fieldResolvers) {
    if (metadata.kind !== 'external' || metadata.middlewares?.length || metadata.roles !== undefined || !metadata.getObjectType) continue;
    const params = [...((metadata.params ?? []) as Param[])].sort((a, b) => a.index - b.index);
    const args = params.map(argumentOf);
    if (args.some((arg) => arg === null)) continue;
    const objectClass = metadata.getObjectType();
    const typeName = storage.objectTypes.find((o) => o.target === objectClass)?.name;
    const type = typeName ? schema.getType(typeName) : undefined;
    const field = isObjectType(type) ? type.getFields()[metadata.schemaName] : undefined;
    if (!field) continue;
    const Resolver = metadata.target as new () => Record<string, Method>;
    let instance = instances.get(Resolver);
    if (!instance) instances.set(Resolver, (instance = new Resolver()));
    const method = instance[metadata.methodName]!;
    const target = instance;
    const [first, second] = args as ((root: unknown, context: unknown, info: unknown) => unknown)[];
    let resolve: GraphQLFieldResolver<unknown, unknown>;
    if (args.length === 1) resolve = (root, _a, context, info) => method.call(target, first!(root, context, info));
    else if (args.length === 2)
      resolve = (root, _a, context, info) => method.call(target, first!(root, context, info), second!(root, context, info));
    else
      resolve = (root, _a, context, info) =>
        method.apply(
          target,
          args.map((arg) => arg!(root, context, info)),
        );
    field.resolve = resolve;
    replaced.push(`${typeName}.${metadata.schemaName}`);
  }
  return replaced;
}
