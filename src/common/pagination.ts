// Relay connections with keyset cursors over (createdAt, id), newest first (FLOWS.md sections 6 and 13).
// The cursor is opaque to clients; the page query and the count share one visibility condition.
//
// Paging forward (first/after) reads the rows past `after` newest first; paging backward (last/before)
// reads the rows before `before` oldest first, nearest the cursor first, and reverses them, so a page's
// edges are newest first either way. Both read LIMIT size + 1 rows through the (createdAt, id) index:
// a deep page costs what the first one does. The rules (as in the Relay specification's algorithm):
// - `first` and `last` together: BAD_USER_INPUT (field `last`); each must be 1..100.
// - `after` and `before` together: the window between the two cursors (rows older than `after` and
//   newer than `before`), then `first` takes its newest rows or `last` its oldest.
// - Backward paging: `last`, or `before` without `first` (then `last` defaults to 20, as `first` does).
// - hasPreviousPage: true when a backward page has rows before it; false on a forward page.
//   hasNextPage: true when a forward page has rows after it; false on a backward page. (The Relay
//   specification allows false where knowing would cost a query of its own.)
import { raw, type EntityManager, type EntityName, type FilterQuery } from '@mikro-orm/core';
import { Field, Int, ObjectType, type ClassType } from 'type-graphql';
import type { Reader } from '../db/reader';
import { ID_BODY } from './ids';
import { sql, timeParam, type Sql } from '../db/sql';
import { badInput } from '../errors';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

@ObjectType({ simpleResolvers: true })
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;

  @Field(() => Boolean, {
    description: 'Relay: true when `last`/`before` paging has rows before this page (false when paging forward).',
  })
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true, description: 'Relay: the cursor of the first edge.' })
  startCursor!: string | null;
}

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/** A position in the order of a connection: a row's (createdAt or at, id). */
export interface Cursor {
  at: Date;
  id: string;
}

/** The page arguments, checked and decoded. */
export interface PageRequest {
  /** Rows on the page at most (`first` or `last`). */
  size: number;
  /** last/before paging: the `size` rows nearest the end of the window, i.e. just before `before`. */
  backward: boolean;
  /** Only rows older than this one (after it, newest first). */
  after: Cursor | null;
  /** Only rows newer than this one (before it, newest first). */
  before: Cursor | null;
}

export interface Page<T> {
  nodes: T[];
  pageInfo: PageInfo;
  count: () => Promise<number>;
}

export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.getTime()}:${id}`, 'utf8').toString('base64url');
}

/** `<epoch ms>:<id>`, base64url-encoded (encodeCursor). */
const CURSOR_SHAPE = new RegExp(`^(\\d{1,15}):([a-z]{3}_${ID_BODY})$`);

/** The instants a cursor may carry: those of rows, which were all written in the years 1970-9999. */
const LAST_CURSOR_TIME = Date.UTC(10000, 0, 1) - 1;

export function decodeCursor(cursor: string, field: 'after' | 'before' = 'after'): Cursor {
  const match = CURSOR_SHAPE.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || Number(match[1]) > LAST_CURSOR_TIME) throw badInput('The cursor is not valid.', field);
  return { at: new Date(Number(match[1])), id: match[2]! };
}

/**
 * Rows past a keyset cursor, as one row-value comparison: (at, id) < (?, ?) for newest first, > for
 * oldest first. It walks the (at, id) index on both engines, where the equivalent OR of two conditions
 * makes PostgreSQL scan. Timestamps are bound as the engine stores them (epoch ms on SQLite).
 */
export function keysetSql(
  em: EntityManager,
  alias: string,
  orderBy: 'createdAt' | 'at',
  cursor: { at: Date; id: string },
  op: '<' | '>' = '<',
): Sql {
  const column = orderBy === 'createdAt' ? 'created_at' : 'at';
  return sql(`(${alias}.${column}, ${alias}.id) ${op} (?, ?)`, timeParam(em, cursor.at), cursor.id);
}

/** keysetSql as an ORM condition (for em.find and the QueryBuilder, which choose the alias). */
export function keysetCondition<T>(
  em: EntityManager,
  orderBy: 'createdAt' | 'at',
  cursor: { at: Date; id: string },
  op: '<' | '>' = '<',
): FilterQuery<T> {
  const { params } = keysetSql(em, '', orderBy, cursor, op);
  return { [raw((alias: string) => keysetSql(em, alias, orderBy, cursor, op).text, params)]: [] } as FilterQuery<T>;
}

export function pageSize(value: number | null | undefined, field: 'first' | 'last' = 'first'): number {
  const size = value ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw badInput(`${field} must be between 1 and ${MAX_PAGE_SIZE}.`, field);
  }
  return size;
}

const given = <V>(value: V | null | undefined): value is V => value !== null && value !== undefined;

/** The page arguments checked (BAD_USER_INPUT naming the argument) and the cursors decoded; see the top of this file. */
export function pageRequest(args: PageArgs): PageRequest {
  if (given(args.first) && given(args.last)) throw badInput('first and last cannot be used together.', 'last');
  const backward = given(args.last) || (!given(args.first) && !!args.before);
  return {
    size: backward ? pageSize(args.last, 'last') : pageSize(args.first, 'first'),
    backward,
    after: args.after ? decodeCursor(args.after, 'after') : null,
    before: args.before ? decodeCursor(args.before, 'before') : null,
  };
}

/** The order the page statement reads rows in: newest first, or oldest first for a backward page. */
export function readOrder(request: PageRequest): 'asc' | 'desc' {
  return request.backward ? 'asc' : 'desc';
}

/** The keyset conditions of the request's cursors as SQL fragments over `alias` (none without cursors). */
export function cursorSql(em: EntityManager, alias: string, orderBy: 'createdAt' | 'at', request: PageRequest): Sql[] {
  return [
    ...(request.after ? [keysetSql(em, alias, orderBy, request.after, '<')] : []),
    ...(request.before ? [keysetSql(em, alias, orderBy, request.before, '>')] : []),
  ];
}

/** The keyset conditions of the request's cursors as ORM conditions. */
export function cursorConditions<T>(em: EntityManager, orderBy: 'createdAt' | 'at', request: PageRequest): FilterQuery<T>[] {
  return [
    ...(request.after ? [keysetCondition<T>(em, orderBy, request.after, '<')] : []),
    ...(request.before ? [keysetCondition<T>(em, orderBy, request.before, '>')] : []),
  ];
}

/** `where` AND the keyset conditions of the request's cursors. */
function withCursors<T>(em: EntityManager, where: FilterQuery<T>, orderBy: 'createdAt' | 'at', request: PageRequest): FilterQuery<T> {
  const cursors = cursorConditions<T>(em, orderBy, request);
  return cursors.length ? ({ $and: [where, ...cursors] } as FilterQuery<T>) : where;
}

/**
 * The condition of a page: built afresh for each statement that uses it, because MikroORM consumes a
 * raw SQL fragment (a search, a keyset cursor) with the first query it appears in.
 */
export type Where<T> = () => FilterQuery<T>;

/**
 * One page of `entity` rows matching `where` (which must already hold the caller's visibility
 * condition), ordered newest first by (orderBy, id). The count runs only when totalCount is selected.
 */
export async function paginate<T extends { id: string }>(
  em: EntityManager,
  entity: EntityName<T>,
  where: Where<T>,
  args: PageArgs,
  orderBy: 'createdAt' | 'at' = 'createdAt',
  /** To-one relations to load in the page query itself (joined), so nested fields cost no query. */
  populate: string[] = [],
): Promise<Page<T>> {
  const request = pageRequest(args);
  const direction = readOrder(request);
  const rows = await em.find(entity, withCursors(em, where(), orderBy, request), {
    orderBy: { [orderBy]: direction, id: direction } as never,
    limit: request.size + 1,
    populate: populate as never,
    strategy: 'joined',
  });
  if (request.backward) rows.reverse();
  return pageOf(
    rows,
    request,
    () => em.count(entity, where()),
    (row) => (row as T & Record<string, Date>)[orderBy]!,
  );
}

/**
 * A page from rows fetched with limit size + 1, given newest first by (at, id) in either direction: the
 * extra row is the last one of a forward read and the first one of a backward read (the farthest from
 * the cursor). The count runs at most once.
 */
export function pageOf<T extends { id: string }>(
  rows: T[],
  request: Pick<PageRequest, 'size' | 'backward'>,
  count: () => Promise<number>,
  at: (row: T) => Date = (row) => (row as T & { createdAt: Date }).createdAt,
): Page<T> {
  const { size, backward } = request;
  const more = rows.length > size;
  const nodes = backward ? rows.slice(more ? rows.length - size : 0) : rows.slice(0, size);
  const first = nodes[0];
  const last = nodes[nodes.length - 1];
  let total: Promise<number> | undefined;
  return {
    nodes,
    pageInfo: {
      hasNextPage: !backward && more,
      hasPreviousPage: backward && more,
      startCursor: first ? encodeCursor(at(first), first.id) : null,
      endCursor: last ? encodeCursor(at(last), last.id) : null,
    },
    count: () => (total ??= count()),
  };
}

/**
 * The page of a hand-written keyset statement (the license and customer pages): `rows` as read with limit
 * size + 1 from the cursor's side, with a `total_count` column when the count was asked for up front. The
 * count is that column; else 0 when there is no cursor and no row (nothing matches the filter); else
 * `countStatement` (a `select count(*) as n`), run at most once and only when read. A backward read
 * (last/before) comes oldest first and is reversed here.
 */
export function keysetPage<R extends { total_count?: number | string }, T extends { id: string }>(
  rows: R[],
  request: PageRequest,
  toNode: (row: R) => T,
  count: { reader: Reader; em: EntityManager; statement: Sql },
): Page<T> {
  const first = rows[0];
  const total = async () => {
    if (first?.total_count !== undefined) return Number(first.total_count);
    if (!request.after && !request.before && !first) return 0;
    const [row] = await count.reader.rows<{ n: number | string }>(count.em, count.statement);
    return Number(row!.n);
  };
  const nodes = rows.map(toNode);
  if (request.backward) nodes.reverse();
  return pageOf(nodes, request, total);
}

/**
 * The Edge and Connection types of one node type, named as in the contract (LicenseEdge, LicenseConnection).
 * Row: the plain row a hand-written page may hold instead of the entity (see license-page.ts).
 */
export function connectionTypes<T extends { id: string }, Row extends { id: string } = T>(
  node: ClassType<T>,
  name: string,
  orderBy: 'createdAt' | 'at' = 'createdAt',
) {
  @ObjectType(`${name}Edge`, { simpleResolvers: true })
  class Edge {
    @Field(() => node)
    readonly node: T | Row;

    constructor(row: T | Row) {
      this.node = row;
    }

    /** Encoded only when a client asks for it (a page of the dearest request has 99 edges per customer). */
    @Field(() => String)
    get cursor(): string {
      return encodeCursor((this.node as (T | Row) & Record<string, Date>)[orderBy]!, this.node.id);
    }
  }

  @ObjectType(`${name}Connection`, { simpleResolvers: true })
  class Connection {
    @Field(() => [Edge])
    edges!: Edge[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;

    private count!: () => Promise<number>;

    @Field(() => Int)
    totalCount(): Promise<number> {
      return this.count();
    }

    static from(page: Page<T | Row>): Connection {
      const connection = new Connection();
      connection.edges = page.nodes.map((n) => new Edge(n));
      connection.pageInfo = page.pageInfo;
      connection.count = page.count;
      return connection;
    }
  }

  return { Edge, Connection };
}
