// What a query selects below the field being resolved, for resolvers that can skip work nobody asked for.
import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';

/**
 * Whether the current field's selection holds `name` directly, also through inline fragments and
 * fragment spreads. @skip and @include are not evaluated: a field under them counts as selected, so
 * the answer may say yes for nothing but never no for something.
 */
export function selectsField(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>, name: string): boolean {
  const visited = new Set<string>();
  const within = (set: SelectionSetNode | undefined): boolean =>
    (set?.selections ?? []).some((selection) => {
      switch (selection.kind) {
        case Kind.FIELD:
          return selection.name.value === name;
        case Kind.INLINE_FRAGMENT:
          return within(selection.selectionSet);
        case Kind.FRAGMENT_SPREAD: {
          const fragmentName = selection.name.value;
          if (visited.has(fragmentName)) return false;
          visited.add(fragmentName);
          return within(info.fragments[fragmentName]?.selectionSet);
        }
      }
    });
  return info.fieldNodes.some((node) => within(node.selectionSet));
}
