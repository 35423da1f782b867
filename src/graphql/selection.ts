// What a query selects below the field being resolved, for resolvers that can skip work nobody asked for.
import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';

/**
 * Whether the current field's selection holds `name` directly, also through inline fragments and
 * fragment spreads. @skip and @include are not evaluated: a field under them counts as selected, so
 * the answer may say yes for nothing but never no for something.
 */
export function selectsField(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>, name: string): boolean {
  return selectsPath(info, [name]);
}

/** Like selectsField, for a field further down: ['edges', 'node', 'hasValidLicense']. */
export function selectsPath(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>, path: readonly string[]): boolean {
  const within = (set: SelectionSetNode | undefined, depth: number, visited: ReadonlySet<string>): boolean =>
    (set?.selections ?? []).some((selection) => {
      switch (selection.kind) {
        case Kind.FIELD:
          return (
            selection.name.value === path[depth] && (depth === path.length - 1 || within(selection.selectionSet, depth + 1, new Set()))
          );
        case Kind.INLINE_FRAGMENT:
          return within(selection.selectionSet, depth, visited);
        case Kind.FRAGMENT_SPREAD: {
          const fragmentName = selection.name.value;
          if (visited.has(fragmentName)) return false;
          return within(info.fragments[fragmentName]?.selectionSet, depth, new Set([...visited, fragmentName]));
        }
      }
    });
  return info.fieldNodes.some((node) => within(node.selectionSet, 0, new Set()));
}
