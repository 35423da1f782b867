// One check of every argument value before any resolver or permission rule sees it (FLOWS.md section 8):
// strings of bounded length without control characters, DateTimes within the years 1970-9999. Values
// from literals and from variables alike, in nested input objects and lists. A failure is
// BAD_USER_INPUT naming the argument or input field; nothing reaches the database, where a NUL, a huge
// LIKE pattern or the year 0 would fail as an internal error.
import {
  getNamedType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLArgument,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import type { IMiddlewareFunction, IMiddlewareTypeMap } from 'graphql-middleware';
import { badInput } from '../errors';

export const MAX_STRING_LENGTH = 10_000;
/** Fields with a tighter bound than MAX_STRING_LENGTH: a search becomes a LIKE pattern. */
export const MAX_LENGTH_OF: Readonly<Record<string, number>> = { search: 200 };
/**
 * Free text typed by people, where tab and newline are allowed. Every other string (identifiers,
 * e-mail addresses, tokens, codes, keys, searches, cursors) allows no control character at all.
 */
export const FREE_TEXT = new Set(['name', 'reason', 'description', 'password', 'newPassword', 'currentPassword']);

// C0 controls and DEL; C1 controls too (U+0080-U+009F), which no person types either.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL_BUT_TAB_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

const MIN_TIME = Date.UTC(1970, 0, 1);
const MAX_TIME = Date.UTC(10000, 0, 1) - 1;

function checkString(value: string, field: string): void {
  const max = MAX_LENGTH_OF[field] ?? MAX_STRING_LENGTH;
  if (value.length > max) throw badInput(`${field} must have at most ${max} characters.`, field);
  if ((FREE_TEXT.has(field) ? CONTROL_BUT_TAB_NEWLINE : CONTROL).test(value)) {
    throw badInput(`${field} must not contain control characters.`, field);
  }
}

function checkValue(value: unknown, type: GraphQLInputType, field: string): void {
  if (value === null || value === undefined) return;
  if (isNonNullType(type)) return checkValue(value, type.ofType, field);
  if (isListType(type)) {
    for (const item of value as Iterable<unknown>) checkValue(item, type.ofType, field);
    return;
  }
  if (isInputObjectType(type)) {
    const object = value as Record<string, unknown>;
    for (const inputField of Object.values(type.getFields())) checkValue(object[inputField.name], inputField.type, inputField.name);
    return;
  }
  // Scalars (enums are closed and already checked by graphql-js): String, ID, DateTime.
  if (typeof value === 'string') return checkString(value, field);
  if (value instanceof Date) {
    const time = value.getTime();
    if (!(time >= MIN_TIME && time <= MAX_TIME)) throw badInput(`${field} must be a date between the years 1970 and 9999.`, field);
  }
}

/** Throws BAD_USER_INPUT for the first argument value that breaks a rule above. */
export function checkArguments(definitions: readonly GraphQLArgument[], args: Record<string, unknown>): void {
  for (const definition of definitions) checkValue(args[definition.name], definition.type, definition.name);
}

/** Whether a value of this type can hold a string or a date somewhere (Int, Boolean and enums cannot). */
function holdsCheckedValues(type: GraphQLInputType, seen = new Set<string>()): boolean {
  const named = getNamedType(type);
  if (isInputObjectType(named)) {
    if (seen.has(named.name)) return false;
    seen.add(named.name);
    return Object.values(named.getFields()).some((f) => holdsCheckedValues(f.type, seen));
  }
  return !['Int', 'Float', 'Boolean'].includes(named.name) && !('getValues' in named);
}

/**
 * The middleware for graphql-middleware's applyMiddleware: only fields with an argument that can hold a
 * string or a date are wrapped (root fields and nested ones such as Customer.licenses alike).
 */
export function inputChecks(schema: GraphQLSchema): IMiddlewareTypeMap {
  const map: IMiddlewareTypeMap = {};
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const checked = field.args.filter((arg) => holdsCheckedValues(arg.type));
      if (checked.length === 0) continue;
      const check: IMiddlewareFunction = (resolve, parent, args, context, info) => {
        checkArguments(checked, args as Record<string, unknown>);
        return resolve(parent, args, context, info);
      };
      ((map[type.name] ??= {}) as Record<string, IMiddlewareFunction>)[field.name] = check;
    }
  }
  return map;
}
