// CSV export of licenses for operators (npm run cli -- export-licenses): every license, or one
// reseller's through that reseller's scope, oldest first, page by page; cells escaped like every CSV here.
import type { EntityManager } from '@mikro-orm/core';
import { keysetCondition } from '../../common/pagination';
import { toFilter } from '../access/condition';
import { scopeCondition } from '../access/scope';
import { License } from '../licenses/license.entity';
import { stringifyCells } from './csv-cells';
import { LICENSE_COLUMNS } from './license-rows';

const EXPORT_COLUMNS = [...LICENSE_COLUMNS, 'key', 'status'] as const;
const BATCH = 500;

/** Streams every license (optionally of one reseller) as CSV, oldest first, page by page. */
export async function* exportLicenses(em: EntityManager, options: { resellerId?: string; now?: Date } = {}): AsyncGenerator<string> {
  const now = options.now ?? new Date();
  yield stringifyCells([[...EXPORT_COLUMNS]]);
  let after: { createdAt: Date; id: string } | null = null;
  for (;;) {
    // The operator's export: everything, or one reseller's licenses through that reseller's scope.
    const where = toFilter(scopeCondition('License', options.resellerId ? { by: 'reseller', id: options.resellerId } : 'all'));
    const page: License[] = await em
      .fork()
      .find(
        License,
        after ? { $and: [where, keysetCondition<License>(em, 'createdAt', { at: after.createdAt, id: after.id }, '>')] } : where,
        { orderBy: { createdAt: 'asc', id: 'asc' }, limit: BATCH },
      );
    if (page.length === 0) return;
    yield stringifyCells(
      page.map((l) => [
        l.customer.id,
        l.kind,
        l.seats,
        l.validFrom.toISOString(),
        l.validUntil.toISOString(),
        l.idempotencyKey ?? '',
        l.key,
        l.statusAt(now),
      ]),
    );
    const last = page[page.length - 1]!;
    after = { createdAt: last.createdAt, id: last.id };
  }
}
