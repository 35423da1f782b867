// One keyset page per group (the licenses of each customer on a page of customers, the customers of each
// reseller on a page of resellers) in ONE hand-written statement whose cost follows the rows returned,
// not the groups' sizes: for each group id, an index range read that stops at `limit` rows.
// - PostgreSQL: a lateral join over the ids (`cross join lateral (... limit ?)`).
// - SQLite (no LATERAL): a join on `id in (correlated subquery ... limit ?)`, which SQLite runs once per
//   group id as its own index range with its own LIMIT.
// Also for one group: a plain page statement with `group = ?` beside the caller's `reseller = ?` leaves
// SQLite's planner (no statistics) a choice between two indexes that both serve the order, and it may walk
// the reseller's instead of the customer's.
// The ids travel as one JSON parameter, so the statement text does not depend on their number.
import type { EntityManager } from '@mikro-orm/core';
import { pageOf, type Page, type PageRequest } from '../common/pagination';
import type { Reader } from './reader';
import { isPostgres, type Sql } from './sql';

export interface GroupPageQuery {
  /** `select <columns>` over `alias` and its joined tables (a column may have parameters). */
  columns: Sql;
  /** The driving table (quoted) and its alias. */
  table: string;
  alias: string;
  /** ` left join ...` of the joined tables (may be empty). */
  joins: string;
  /** The quoted group column of the driving table. */
  groupColumn: string;
  /** Visibility and filters, cursors included, over the driving table under the given alias. */
  where: (alias: string) => Sql;
  /** Read order of (created_at, id): newest first forward, oldest first backward. */
  direction: 'asc' | 'desc';
  /** Rows per group (page size + 1). */
  limit: number;
}

/** The statement of the pages of `groupIds` (rows of all groups, in no particular order across groups). */
export function groupPagesSql(em: EntityManager, q: GroupPageQuery, groupIds: readonly string[]): Sql {
  const a = q.alias;
  const order = (x: string) => `order by ${x}.created_at ${q.direction}, ${x}.id ${q.direction}`;
  const ids = JSON.stringify(groupIds);
  if (isPostgres(em)) {
    const where = q.where(a);
    return {
      text:
        `select p.* from json_array_elements_text(?::json) g(id) cross join lateral` +
        ` (${q.columns.text} from ${q.table} ${a}${q.joins} where (${where.text}) and ${a}.${q.groupColumn} = g.id ${order(a)} limit ?) p`,
      params: [ids, ...q.columns.params, ...where.params, q.limit],
    };
  }
  const inner = `${a}_g`;
  const where = q.where(inner);
  return {
    text:
      `${q.columns.text} from json_each(?) g join ${q.table} ${a}` +
      ` on ${a}.id in (select ${inner}.id from ${q.table} ${inner} where (${where.text}) and ${inner}.${q.groupColumn} = g.value ${order(inner)} limit ?)` +
      q.joins,
    params: [...q.columns.params, ids, ...where.params, q.limit],
  };
}

/** The rows of groupPagesSql by group, each newest first by (createdAt, id) as pageOf wants them. */
export function byGroup<R extends { id: string; createdAt: Date }>(rows: R[], groupOf: (row: R) => string): Map<string, R[]> {
  const groups = new Map<string, R[]>();
  for (const row of rows) {
    const group = groups.get(groupOf(row));
    if (group) group.push(row);
    else groups.set(groupOf(row), [row]);
  }
  const newestFirst = (x: R, y: R) => y.createdAt.getTime() - x.createdAt.getTime() || (x.id < y.id ? 1 : x.id > y.id ? -1 : 0);
  for (const group of groups.values()) group.sort(newestFirst);
  return groups;
}

/** `column in (<the ids>)`, the ids as one JSON parameter (one statement text for any number of them). */
export function inIds(em: EntityManager, column: string, ids: readonly string[]): Sql {
  return isPostgres(em)
    ? { text: `${column} in (select json_array_elements_text(?::json))`, params: [JSON.stringify(ids)] }
    : { text: `${column} in (select value from json_each(?))`, params: [JSON.stringify(ids)] };
}

/**
 * The number of rows of each group, as `g` (the group id) and `n`: per group id a correlated count over
 * the index that leads with the group column (a count grouped over `in (ids)` lets SQLite's planner walk
 * a wider index of the caller's scope instead).
 */
export function groupCountsSql(
  em: EntityManager,
  q: Pick<GroupPageQuery, 'table' | 'alias' | 'groupColumn' | 'where'>,
  groupIds: readonly string[],
): Sql {
  const where = q.where(q.alias);
  const [ids, id] = isPostgres(em) ? ['json_array_elements_text(?::json) g(id)', 'g.id'] : ['json_each(?) g', 'g.value'];
  return {
    text: `select ${id} as g, (select count(*) from ${q.table} ${q.alias} where (${where.text}) and ${q.alias}.${q.groupColumn} = ${id}) as n from ${ids}`,
    params: [...where.params, JSON.stringify(groupIds)],
  };
}

/**
 * The nested connections of `parentIds` (in the caller's order, repeats allowed) from their rows (byGroup of
 * groupPagesSql's): each page's totalCount comes from one groupCountsSql statement for all groups (`counted`,
 * over the distinct `groupIds`), run at most once and only when some page's count is read.
 */
export function groupedPages<T extends { id: string; createdAt: Date }>(
  reader: Reader,
  em: EntityManager,
  parentIds: readonly string[],
  groups: Map<string, T[]>,
  request: PageRequest,
  counted: Pick<GroupPageQuery, 'table' | 'alias' | 'groupColumn' | 'where'>,
  groupIds: readonly string[],
): Map<string, Page<T>> {
  let counts: Promise<Map<string, number>> | undefined;
  const countAll = () =>
    (counts ??= reader
      .rows<{ g: string; n: number | string }>(em, groupCountsSql(em, counted, groupIds))
      .then((found) => new Map(found.map((row) => [row.g, Number(row.n)]))));
  return new Map(parentIds.map((id) => [id, pageOf(groups.get(id) ?? [], request, () => countAll().then((found) => found.get(id) ?? 0))]));
}
