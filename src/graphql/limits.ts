// Request limits checked before execution (FLOWS.md section 4): query depth at most 10, at most 15
// aliases, at most one of the sensitive mutations per request, and a bound on the expanded size so
// that fragments cannot multiply work. Fragment spreads are expanded, so nothing hides in them.
import { GraphQLError, Kind, type ASTVisitor, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext } from 'graphql';
import { ErrorCode } from '../errors';

export const MAX_DEPTH = 10;
export const MAX_ALIASES = 15;
export const MAX_FIELDS = 1000;
/**
 * Tokens a document may have (graphql-js stops parsing beyond it). Parsing, validation and Apollo's
 * document cache recurse once per nesting level, and a 1 MB body holds 100,000 levels (`{a{a{a...`,
 * lists, inline fragments, chains of fragment spreads): past a few thousand the stack overflows, and
 * not everywhere as a parse error. 5,000 tokens keep every such recursion under about 1,000 levels,
 * while a legitimate request within the limits below (even 100 createLicenses rows written inline,
 * about 2,000 tokens) stays well under it.
 */
export const MAX_TOKENS = 5_000;
export const SENSITIVE_MUTATIONS = new Set([
  'login',
  'verifyTotp',
  'verifyRecoveryCode',
  'activateTwoFactor',
  'resetPassword',
  'changePassword',
  'generateRecoveryCodes',
]);

interface Tally {
  aliases: number;
  fields: number;
  sensitive: number;
  depth: number;
}

class LimitExceeded extends Error {}

function walk(
  set: SelectionSetNode,
  depth: number,
  fragments: Record<string, FragmentDefinitionNode>,
  tally: Tally,
  atMutationRoot: boolean,
  seen: Set<string>,
): void {
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      tally.fields += 1;
      if (selection.alias) tally.aliases += 1;
      if (atMutationRoot && SENSITIVE_MUTATIONS.has(selection.name.value)) tally.sensitive += 1;
      const fieldDepth = depth + 1;
      tally.depth = Math.max(tally.depth, fieldDepth);
      if (tally.depth > MAX_DEPTH || tally.aliases > MAX_ALIASES || tally.sensitive > 1 || tally.fields > MAX_FIELDS) {
        throw new LimitExceeded();
      }
      if (selection.selectionSet) walk(selection.selectionSet, fieldDepth, fragments, tally, false, seen);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      walk(selection.selectionSet, depth, fragments, tally, atMutationRoot, seen);
    } else {
      const name = selection.name.value;
      const fragment = fragments[name];
      // Unknown or cyclic spreads are reported by graphql-js's own rules.
      if (!fragment || seen.has(name)) continue;
      seen.add(name);
      walk(fragment.selectionSet, depth, fragments, tally, atMutationRoot, seen);
      seen.delete(name);
    }
  }
}

function limitError(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCode.BAD_USER_INPUT, limit: true } });
}

/** A graphql-js validation rule enforcing the limits above for every operation of the document. */
export function requestLimitsRule(context: ValidationContext): ASTVisitor {
  return {
    Document(document) {
      const fragments: Record<string, FragmentDefinitionNode> = {};
      for (const def of document.definitions) {
        if (def.kind === Kind.FRAGMENT_DEFINITION) fragments[def.name.value] = def;
      }
      for (const def of document.definitions) {
        if (def.kind !== Kind.OPERATION_DEFINITION) continue;
        const tally: Tally = { aliases: 0, fields: 0, sensitive: 0, depth: 0 };
        try {
          walk(def.selectionSet, 0, fragments, tally, def.operation === 'mutation', new Set());
        } catch (error) {
          if (!(error instanceof LimitExceeded)) throw error;
          if (tally.sensitive > 1) {
            context.reportError(limitError(`A request may contain at most one of ${[...SENSITIVE_MUTATIONS].join(', ')}.`));
          } else if (tally.aliases > MAX_ALIASES) {
            context.reportError(limitError(`A request may contain at most ${MAX_ALIASES} aliases.`));
          } else if (tally.depth > MAX_DEPTH) {
            context.reportError(limitError(`The query is nested too deeply (at most ${MAX_DEPTH} levels).`));
          } else {
            context.reportError(limitError(`The query selects too many fields (at most ${MAX_FIELDS}).`));
          }
          return false;
        }
      }
      return false;
    },
  };
}
