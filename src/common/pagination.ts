// Relay connections with keyset cursors over (createdAt, id), newest first (FLOWS.md section 6).
// The cursor is opaque to clients; the page query and the count share one visibility condition.
import type { EntityManager, EntityName, FilterQuery } from '@mikro-orm/core';
import { Field, Int, ObjectType, type ClassType } from 'type-graphql';
import { badInput } from '../errors';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

@ObjectType()
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

export interface Page<T> {
  nodes: T[];
  pageInfo: PageInfo;
  count: () => Promise<number>;
}

export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.getTime()}:${id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { at: Date; id: string } {
  const match = /^(\d{1,15}):([a-z]{3}_[0-9a-f]{24})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw badInput('The cursor is not valid.', 'after');
  return { at: new Date(Number(match[1])), id: match[2]! };
}

export function pageSize(first: number | null | undefined): number {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw badInput(`first must be between 1 and ${MAX_PAGE_SIZE}.`, 'first');
  }
  return size;
}

/**
 * One page of `entity` rows matching `where` (which must already hold the caller's visibility
 * condition), ordered newest first by (orderBy, id). The count runs only when totalCount is selected.
 */
export async function paginate<T extends { id: string }>(
  em: EntityManager,
  entity: EntityName<T>,
  where: FilterQuery<T>,
  args: PageArgs,
  orderBy: 'createdAt' | 'at' = 'createdAt',
): Promise<Page<T>> {
  const size = pageSize(args.first);
  let pageWhere = where;
  if (args.after) {
    const cursor = decodeCursor(args.after);
    const before = {
      $or: [{ [orderBy]: { $lt: cursor.at } }, { [orderBy]: cursor.at, id: { $lt: cursor.id } }],
    } as FilterQuery<T>;
    pageWhere = { $and: [where, before] } as FilterQuery<T>;
  }
  const rows = await em.find(entity, pageWhere, {
    orderBy: { [orderBy]: 'desc', id: 'desc' } as never,
    limit: size + 1,
  });
  const nodes = rows.slice(0, size);
  const last = nodes[nodes.length - 1] as (T & Record<string, unknown>) | undefined;
  let total: Promise<number> | undefined;
  return {
    nodes,
    pageInfo: { hasNextPage: rows.length > size, endCursor: last ? encodeCursor(last[orderBy] as Date, last.id) : null },
    count: () => (total ??= em.count(entity, where)),
  };
}

/** The Edge and Connection types of one node type, named as in the contract (LicenseEdge, LicenseConnection). */
export function connectionTypes<T extends { id: string }>(node: ClassType<T>, name: string, orderBy: 'createdAt' | 'at' = 'createdAt') {
  @ObjectType(`${name}Edge`)
  class Edge {
    @Field(() => String)
    cursor!: string;

    @Field(() => node)
    node!: T;
  }

  @ObjectType(`${name}Connection`)
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

    static from(page: Page<T>): Connection {
      const connection = new Connection();
      connection.edges = page.nodes.map((n) => ({
        cursor: encodeCursor((n as T & Record<string, Date>)[orderBy]!, n.id),
        node: n,
      }));
      connection.pageInfo = page.pageInfo;
      connection.count = page.count;
      return connection;
    }
  }

  return { Edge, Connection };
}
