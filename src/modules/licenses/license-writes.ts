// New licenses as rows: the one definition of a new license's fields (persistNewLicense makes one entity
// of it; the bulk paths insert many as one statement), and the bulk insert itself with the LICENSE_CREATED
// audit events and webhook messages of its licenses.
import type { EntityManager } from '@mikro-orm/core';
import { newId } from '../../common/ids';
import type { LicenseKind } from '../../common/enums';
import { insertRows, type InsertRow } from '../../db/writes';
import { AuditAction, auditMany, target, type AuditBy } from '../audit/audit.service';
import { generateLicenseKey } from './license-key';
import { License } from './license.entity';

/** What a new license is made of, checked by the caller (license-rules.ts). */
export interface NewLicense {
  kind: LicenseKind;
  seats: number;
  validFrom: Date;
  validUntil: Date;
  customer: { id: string; reseller: { id: string } };
  idempotencyOwnerId: string | null;
  idempotencyKey: string | null;
}

/**
 * A license as a batch inserted it (newLicenseRow): what createLicenses answers with, without an entity per
 * row. The License field resolvers read it like a page row (customer and reseller as ids, loaded when asked).
 */
export type CreatedLicense = InsertRow<License>;

/** A new license with a fresh id and key, of the customer and the customer's reseller. */
export function newLicenseRow(data: NewLicense, now = new Date()): InsertRow<License> {
  return {
    id: newId('License'),
    key: generateLicenseKey(),
    kind: data.kind,
    seats: data.seats,
    validFrom: data.validFrom,
    validUntil: data.validUntil,
    customer: data.customer.id,
    reseller: data.customer.reseller.id,
    idempotencyOwnerId: data.idempotencyOwnerId,
    idempotencyKey: data.idempotencyKey,
    revokedAt: null,
    createdAt: now,
    updatedAt: now,
    suspendedAt: null,
    resellerSuspendedAt: null,
  };
}

/** The facts of a license row, as its webhook message tells them. */
export const licenseFactsOf = (row: InsertRow<License>) => ({ ...row, customer: { id: row.customer }, reseller: { id: row.reseller } });

/**
 * Inserts the licenses, their LICENSE_CREATED audit events and their webhook messages: one multi-row insert
 * per table, in `tx`, now. The caller has checked (and locked) their customers (customerProblems) in `tx`.
 * A unique violation (an idempotency key taken meanwhile, a key collision) fails the statement and so `tx`.
 */
export async function insertNewLicenses(tx: EntityManager, rows: readonly InsertRow<License>[], by: AuditBy): Promise<void> {
  await insertRows(tx, License, rows);
  await auditMany(
    tx,
    rows.map((row) => ({ action: AuditAction.LICENSE_CREATED, target: target.license(licenseFactsOf(row)), by })),
  );
}
