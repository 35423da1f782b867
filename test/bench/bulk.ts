// Bulk writes (issue [throughput], goal 2): createLicenses in calls of 100 rows against the running
// server, and as the baseline of the same run the database's own multi-row insert of as many licenses
// and audit events through the ORM (what the rows cost without the API: parsing, auth, checks, answer).
import { randomBytes } from 'node:crypto';
import { LicenseKind } from '../../src/common/enums';
import type { Orm } from '../../src/db/orm';
import { newId } from '../../src/common/ids';
import { AuditEvent } from '../../src/modules/audit/audit-event.entity';
import { License } from '../../src/modules/licenses/license.entity';
import { generateLicenseKey } from '../../src/modules/licenses/license-key';

export const BULK_ROWS_PER_CALL = 100;

export interface BulkResult {
  rows: number;
  calls: number;
  appRowsPerSecond: number;
  baselineRowsPerSecond: number;
  ratio: number;
}

type Gql = <T>(url: string, query: string, variables: Record<string, unknown>, token: string) => Promise<T>;

/** Sets up a reseller with 10 customers (through the API, as the admin) and times `calls` createLicenses calls. */
export async function bulkWrites(
  url: string,
  adminToken: string,
  calls: number,
  gql: Gql,
): Promise<{ rows: number; ms: number; customers: string[]; resellerId: string }> {
  const tag = randomBytes(4).toString('hex');
  const reseller = await gql<{ createReseller: { id: string } }>(
    url,
    'mutation($n: String!) { createReseller(input: { name: $n }) { id } }',
    { n: `Bulk ${tag}` },
    adminToken,
  );
  const customers: string[] = [];
  for (let i = 0; i < 10; i++) {
    const c = await gql<{ createCustomer: { id: string } }>(
      url,
      'mutation($n: String!, $r: ID!) { createCustomer(input: { name: $n, resellerId: $r }) { id } }',
      { n: `Bulk customer ${tag} ${i}`, r: reseller.createReseller.id },
      adminToken,
    );
    customers.push(c.createCustomer.id);
  }
  const validUntil = new Date(Date.now() + 365 * 86_400_000).toISOString();
  const query = 'mutation($i: [CreateLicenseInput!]!) { createLicenses(inputs: $i) { license { id key status } error { code } } }';
  let rows = 0;
  const started = process.hrtime.bigint();
  for (let call = 0; call < calls; call++) {
    const inputs = Array.from({ length: BULK_ROWS_PER_CALL }, (_, i) => ({
      customerId: customers[i % customers.length],
      kind: 'MDM',
      seats: 5,
      validUntil,
      idempotencyKey: `bulk-${tag}-${call}-${i}`,
    }));
    const res = await gql<{ createLicenses: { license: { id: string } | null; error: { code: string } | null }[] }>(
      url,
      query,
      { i: inputs },
      adminToken,
    );
    const failed = res.createLicenses.filter((r) => !r.license);
    if (failed.length) throw new Error(`bulk: ${failed.length} rows failed: ${JSON.stringify(failed[0])}`);
    rows += res.createLicenses.length;
  }
  return { rows, ms: Number(process.hrtime.bigint() - started) / 1e6, customers, resellerId: reseller.createReseller.id };
}

/** The baseline: the same number of licenses and LICENSE_CREATED events as multi-row inserts, one transaction per 100. */
export async function bulkBaseline(orm: Orm, customerIds: string[], resellerId: string, rows: number): Promise<number> {
  const validUntil = new Date(Date.now() + 365 * 86_400_000);
  const started = process.hrtime.bigint();
  for (let done = 0; done < rows; done += BULK_ROWS_PER_CALL) {
    await orm.em.fork().transactional(async (tx) => {
      const now = new Date();
      const licenses = Array.from({ length: BULK_ROWS_PER_CALL }, (_, i) => ({
        id: newId('License'),
        key: generateLicenseKey(),
        kind: LicenseKind.MDM,
        seats: 5,
        validFrom: now,
        validUntil,
        revokedAt: null,
        customer: customerIds[i % customerIds.length]!,
        reseller: resellerId,
        idempotencyOwnerId: null,
        idempotencyKey: null,
        createdAt: now,
        updatedAt: now,
      }));
      await tx.insertMany(License, licenses as never[]);
      await tx.insertMany(
        AuditEvent,
        licenses.map((l) => ({
          id: newId('AuditEvent'),
          action: 'LICENSE_CREATED',
          targetType: 'License',
          targetId: l.id,
          resellerId,
          customerId: l.customer,
          at: now,
        })) as never[],
      );
    });
  }
  return Number(process.hrtime.bigint() - started) / 1e6;
}
