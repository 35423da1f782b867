// Request-scoped batch loading: the objects behind many references of one page load in one query.
import { Reference, type EntityName, type FilterQuery, type Ref } from '@mikro-orm/core';
import DataLoader from 'dataloader';
import type { Context } from '../context';

/**
 * Loads rows by id in batches. `condition` (a visibility rule) is part of the query: a row it excludes
 * comes back as null, exactly like a missing one.
 */
export function loadById<T extends { id: string }>(
  ctx: Context,
  entity: EntityName<T> & { name: string },
  id: string,
  condition: FilterQuery<T> = {},
  key = entity.name,
): Promise<T | null> {
  let loader = ctx.loaders.get(key) as DataLoader<string, T | null> | undefined;
  if (!loader) {
    loader = new DataLoader<string, T | null>(async (ids) => {
      const where = { $and: [{ id: { $in: [...ids] } }, condition] } as FilterQuery<T>;
      const rows = await ctx.em.find(entity, where);
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((one) => byId.get(one) ?? null);
    });
    ctx.loaders.set(key, loader);
  }
  return loader.load(id);
}

/** Like loadById for a reference that must exist (a foreign key); a missing row is an internal error. */
export async function loadRequired<T extends { id: string }>(
  ctx: Context,
  entity: EntityName<T> & { name: string },
  id: string,
): Promise<T> {
  const row = await loadById(ctx, entity, id);
  if (!row) throw new Error(`${entity.name} ${id} is missing`);
  return row;
}

/** The entity behind a reference: as loaded with its parent (joined populate), else batch-loaded. */
function loadRef<T extends { id: string }>(ctx: Context, entity: EntityName<T> & { name: string }, ref: Ref<T>): Promise<T> {
  if (ref.isInitialized()) return Promise.resolve(ref.getEntity() as T);
  return loadRequired(ctx, entity, ref.id);
}

/**
 * The object a to-one field points at, whatever the parent is: an entity (a reference, loaded or not),
 * a plain row that already carries the joined object, or a row that carries only its id.
 */
export function related<T extends { id: string }>(
  ctx: Context,
  entity: EntityName<T> & { name: string },
  value: Ref<T> | T | string,
): Promise<T> {
  if (typeof value === 'string') return loadRequired(ctx, entity, value);
  if (Reference.isReference<T>(value)) return loadRef(ctx, entity, value as Ref<T>);
  return Promise.resolve(value as T);
}

/**
 * One nested connection per parent, for all parents of a response at once: `load` gets the ids of the
 * parents and answers a page per id (one statement for all, e.g. through groupPagesSql). One loader
 * per field and argument set (`key`), created on first use in the request.
 */
export function loadPage<P>(
  ctx: Context,
  key: string,
  parentId: string,
  load: (ids: readonly string[]) => Promise<Map<string, P>>,
): Promise<P> {
  let loader = ctx.loaders.get(key) as DataLoader<string, P> | undefined;
  if (!loader) {
    loader = new DataLoader<string, P>(
      async (ids) => {
        const pages = await load(ids);
        return ids.map((id) => pages.get(id)!);
      },
      { maxBatchSize: 500 },
    );
    ctx.loaders.set(key, loader);
  }
  return loader.load(parentId);
}
