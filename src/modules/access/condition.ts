// Row conditions as data, written once and rendered mechanically twice: to a MikroORM FilterQuery (em.find,
// paginate) and to a SQL fragment over a table alias (the hand-written statements of
// src/db/sql.ts). Both renderings take their column and table names from the ORM metadata, so they cannot
// drift apart; test/unit/scope.test.ts runs every rule through both and compares the rows.
import { ReferenceKind, Utils, type EntityManager, type EntityMetadata, type EntityName, type FilterQuery } from '@mikro-orm/core';
import { and as sqlAnd, or as sqlOr, sql, timeParam, type Sql } from '../../db/sql';

/** A value compared with a column; a Date is bound as the engine stores time (timeParam). */
export type Value = string | number | Date;
export type Comparison = '=' | '<' | '<=' | '>' | '>=';

/** A property of T, or a path through a to-one relation of T ('customer.reseller'). */
export type Path<T> = (keyof T & string) | `${keyof T & string}.${string}`;

export type Condition<T> =
  | { readonly op: 'true' }
  | { readonly op: 'false' }
  | { readonly op: 'cmp'; readonly path: Path<T>; readonly cmp: Comparison; readonly value: Value }
  | { readonly op: 'null'; readonly path: Path<T>; readonly isNull: boolean }
  | { readonly op: 'and' | 'or'; readonly parts: readonly Condition<T>[] };

export const always = <T>(): Condition<T> => ({ op: 'true' });
export const never = <T>(): Condition<T> => ({ op: 'false' });
const compare =
  (cmp: Comparison) =>
  <T>(path: Path<T>, value: Value): Condition<T> => ({ op: 'cmp', path, cmp, value });
export const eq = compare('=');
export const lt = compare('<');
export const lte = compare('<=');
export const gt = compare('>');
export const gte = compare('>=');
/** Null tests are for columns of the entity itself (through a relation a join and a subquery would differ). */
export const isNull = <T>(path: keyof T & string): Condition<T> => ({ op: 'null', path, isNull: true });
export const notNull = <T>(path: keyof T & string): Condition<T> => ({ op: 'null', path, isNull: false });

/** All of the parts (none: every row); nested ANDs are flattened, a part that matches nothing wins. */
export function allOf<T>(...parts: Condition<T>[]): Condition<T> {
  const kept = parts.flatMap((part) => (part.op === 'and' ? part.parts : part.op === 'true' ? [] : [part]));
  if (kept.some((part) => part.op === 'false')) return never();
  if (kept.length === 0) return always();
  return kept.length === 1 ? kept[0]! : { op: 'and', parts: kept };
}

/** Any of the parts (none: no row); nested ORs are flattened, a part that matches every row wins. */
export function anyOf<T>(...parts: Condition<T>[]): Condition<T> {
  const kept = parts.flatMap((part) => (part.op === 'or' ? part.parts : part.op === 'false' ? [] : [part]));
  if (kept.some((part) => part.op === 'true')) return always();
  if (kept.length === 0) return never();
  return kept.length === 1 ? kept[0]! : { op: 'or', parts: kept };
}

const ORM_OPERATOR: Record<Exclude<Comparison, '='>, string> = { '<': '$lt', '<=': '$lte', '>': '$gt', '>=': '$gte' };

/** { a: { b: leaf } } for the path 'a.b': MikroORM follows the relation (a join). */
function nest(path: string, leaf: unknown): Record<string, unknown> {
  return path.split('.').reduceRight<unknown>((inner, property) => ({ [property]: inner }), leaf) as Record<string, unknown>;
}

/** The condition as a MikroORM filter. Matching nothing is an empty IN list (MikroORM renders it as 1 = 0). */
export function toFilter<T>(condition: Condition<T>): FilterQuery<T> {
  switch (condition.op) {
    case 'true':
      return {} as FilterQuery<T>;
    case 'false':
      return { id: { $in: [] } } as FilterQuery<T>;
    case 'cmp':
      return nest(
        condition.path,
        condition.cmp === '=' ? condition.value : { [ORM_OPERATOR[condition.cmp]]: condition.value },
      ) as FilterQuery<T>;
    case 'null':
      return nest(condition.path, condition.isNull ? null : { $ne: null }) as FilterQuery<T>;
    case 'and': {
      const parts = condition.parts.map((part) => toFilter(part) as Record<string, unknown>);
      const keys = parts.flatMap((part) => Object.keys(part));
      // Distinct properties in one object ({ revokedAt: null, validUntil: { $gt: now } }), else $and.
      return (
        new Set(keys).size === keys.length ? Object.assign({}, ...parts) : within<T>(...(parts as FilterQuery<T>[]))
      ) as FilterQuery<T>;
    }
    case 'or':
      return { $or: condition.parts.map((part) => toFilter(part)) } as FilterQuery<T>;
  }
}

/** Filters combined with AND; empty ones ({}) drop out. */
export function within<T>(...parts: FilterQuery<T>[]): FilterQuery<T> {
  const kept = parts.filter((part) => Object.keys(part as object).length > 0);
  if (kept.length === 0) return {} as FilterQuery<T>;
  return kept.length === 1 ? kept[0]! : ({ $and: kept } as FilterQuery<T>);
}

/** A quoted identifier: double quotes mean the same on SQLite and PostgreSQL. */
export function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The metadata of an entity: its table and the column of each property. */
export function metadataOf<T>(em: EntityManager, entity: EntityName<T>): EntityMetadata<T> {
  return em.getMetadata().get<T>(Utils.className(entity));
}

/** The one column of a property (a to-one relation: its foreign key). */
export function columnOf<T>(meta: EntityMetadata<T>, property: string): string {
  const fieldNames = (meta.properties as Record<string, { fieldNames?: string[] } | undefined>)[property]?.fieldNames;
  if (fieldNames?.length !== 1) throw new Error(`${meta.className}.${property} is not a single-column property`);
  return fieldNames[0]!;
}

/** The value as bound on this engine: timestamps as the engine stores them. */
function param(em: EntityManager, value: Value): unknown {
  return value instanceof Date ? timeParam(em, value) : value;
}

/**
 * `alias.path <test>` for a leaf test: a plain property is its column; a path through a to-one relation
 * becomes `alias.fk in (select id from target where <rest of the path> <test>)`, which walks the target's
 * index and needs no join in the caller's statement.
 */
function leafSql(em: EntityManager, meta: EntityMetadata<unknown>, alias: string, path: string, test: Sql): Sql {
  const [property, ...rest] = path.split('.');
  const column = `${alias}.${quote(columnOf(meta, property!))}`;
  if (rest.length === 0) return { text: `${column} ${test.text}`, params: test.params };
  const relation = (meta.properties as Record<string, { kind: ReferenceKind; type: string }>)[property!]!;
  if (relation.kind !== ReferenceKind.MANY_TO_ONE) throw new Error(`${meta.className}.${property} is not a to-one relation`);
  const target = em.getMetadata().get(relation.type);
  const inner = `${alias}_${property}`;
  const where = leafSql(em, target, inner, rest.join('.'), test);
  const pk = quote(columnOf(target, target.primaryKeys[0]!));
  return {
    text: `${column} in (select ${inner}.${pk} from ${quote(target.tableName)} ${inner} where ${where.text})`,
    params: where.params,
  };
}

/**
 * The condition as SQL over `alias` (a table of `entity`). Only `?` parameters carry values, so one shape
 * of condition is one statement text (one prepared statement).
 */
export function toSql<T>(em: EntityManager, entity: EntityName<T>, alias: string, condition: Condition<T>): Sql {
  const render = (c: Condition<T>): Sql => {
    switch (c.op) {
      case 'true':
        return sql('1 = 1');
      case 'false':
        return sql('1 = 0');
      case 'cmp':
        return leafSql(em, metadataOf(em, entity) as EntityMetadata<unknown>, alias, c.path, sql(`${c.cmp} ?`, param(em, c.value)));
      case 'null':
        // Through a relation, "is null" would differ between a join (no related row) and a subquery.
        if (c.path.includes('.')) throw new Error(`is null is for columns of ${Utils.className(entity)}, not for ${c.path}`);
        return leafSql(em, metadataOf(em, entity) as EntityMetadata<unknown>, alias, c.path, sql(c.isNull ? 'is null' : 'is not null'));
      case 'and':
        return sqlAnd(c.parts.map(render));
      case 'or':
        return sqlOr(c.parts.map(render));
    }
  };
  return render(condition);
}
