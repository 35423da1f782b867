// Licenses: created by admins and resellers for visible customers; status derived from the validity
// window and revocation; idempotent creation per caller, safe under concurrent retries.
import { UniqueConstraintViolationException, type EntityManager, type FilterQuery } from '@mikro-orm/core';
import { LicenseKind, LicenseStatus } from '../../common/enums';
import { paginateGroups, paginateRows, type PageArgs } from '../../common/pagination';
import { badInput, notFound } from '../../errors';
import { checkDate, checkIdempotencyKey, checkSeats, checkWindow } from './license-rules';
import { visibleCustomers, visibleLicenses, within } from '../access/visibility';
import { recordAudit } from '../audit/audit.service';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { Customer } from '../customers/customer.entity';
import { Reseller } from '../resellers/reseller.entity';
import { generateLicenseKey } from './license-key';
import { statusCondition } from './license-status';
import { License } from './license.entity';

export interface LicenseFilterData {
  status?: LicenseStatus[] | null;
  kind?: LicenseKind | null;
  customerId?: string | null;
  expiresBefore?: Date | null;
}

export interface CreateLicenseData {
  customerId: string;
  kind: LicenseKind;
  seats: number;
  validFrom?: Date | null;
  validUntil: Date;
  idempotencyKey?: string | null;
}

export interface UpdateLicenseData {
  seats?: number | null;
  validUntil?: Date | null;
}

export class LicenseService {
  constructor(private readonly now: () => Date = () => new Date()) {}

  filterCondition(p: AuthenticatedPrincipal, filter: LicenseFilterData | null | undefined): FilterQuery<License> {
    const now = this.now();
    const parts: FilterQuery<License>[] = [];
    if (filter?.status?.length) {
      parts.push({ $or: [...new Set(filter.status)].map((s) => statusCondition(s, now)) });
    }
    if (filter?.kind) parts.push({ kind: filter.kind });
    if (filter?.customerId) parts.push({ customer: filter.customerId });
    if (filter?.expiresBefore) parts.push({ validUntil: { $lt: checkDate(filter.expiresBefore, 'expiresBefore') } });
    return within(visibleLicenses(p), ...parts);
  }

  list(em: EntityManager, p: AuthenticatedPrincipal, args: PageArgs & { filter?: LicenseFilterData | null }, extra: FilterQuery<License> = {}) {
    // The reseller portal's hot path: plain rows with customer and reseller joined in (one statement).
    return paginateRows(em, License, 'l', within(this.filterCondition(p, args.filter), extra), args, (qb) =>
      qb
        .select(['l.id', 'l.key', 'l.kind', 'l.seats', 'l.validFrom', 'l.validUntil', 'l.revokedAt', 'l.createdAt'])
        .leftJoinAndSelect('l.customer', 'c', {}, ['id', 'name', 'contactEmail', 'reseller', 'createdAt'])
        .leftJoinAndSelect('l.reseller', 'r', {}, ['id', 'name', 'linkedToResellerPortal', 'createdAt']),
    );
  }

  /** The nested Customer.licenses connection of many customers at once (no statement per customer). */
  listForCustomers(em: EntityManager, p: AuthenticatedPrincipal, customerIds: readonly string[], args: PageArgs & { filter?: LicenseFilterData | null }) {
    return paginateGroups(em, License, this.filterCondition(p, args.filter), 'customer', customerIds, args);
  }

  findVisible(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<License | null> {
    return em.findOne(License, within(visibleLicenses(p), { id }));
  }

  private findByIdempotencyKey(em: EntityManager, p: AuthenticatedPrincipal, key: string): Promise<License | null> {
    return em.findOne(License, within(visibleLicenses(p), { idempotencyOwnerId: p.userId, idempotencyKey: key }));
  }

  /**
   * Creates a license, or returns the one this caller already created with the same idempotencyKey.
   * The unique (owner, key) index decides between concurrent retries: the losers read the winner's row.
   */
  async create(em: EntityManager, p: AuthenticatedPrincipal, input: CreateLicenseData, clientAddress: string | null): Promise<License> {
    const idempotencyKey = checkIdempotencyKey(input.idempotencyKey);
    if (idempotencyKey !== null) {
      const existing = await this.findByIdempotencyKey(em, p, idempotencyKey);
      if (existing) return existing;
    }
    const seats = checkSeats(input.seats);
    const { validFrom, validUntil } = checkWindow(input.validFrom, input.validUntil, this.now());
    const customer = await em.findOne(Customer, within(visibleCustomers(p), { id: input.customerId }));
    if (!customer) throw notFound('customer');

    for (let attempt = 0; ; attempt++) {
      try {
        // A fresh EntityManager per attempt: a failed insert leaves nothing behind in the request's one.
        return await em.fork().transactional(async (tx) => {
          const license = tx.create(License, {
            key: generateLicenseKey(),
            kind: input.kind,
            seats,
            validFrom,
            validUntil,
            customer: tx.getReference(Customer, customer.id),
            reseller: tx.getReference(Reseller, customer.reseller.id),
            idempotencyOwnerId: idempotencyKey !== null ? p.userId : null,
            idempotencyKey,
            revokedAt: null,
            createdAt: new Date(),
            updatedAt: new Date(),
          });
          recordAudit(tx, {
            action: 'LICENSE_CREATED',
            actorId: p.userId,
            targetType: 'License',
            targetId: license.id,
            resellerId: customer.reseller.id,
            customerId: customer.id,
            clientAddress,
          });
          return license;
        });
      } catch (error) {
        if (!(error instanceof UniqueConstraintViolationException)) throw error;
        if (idempotencyKey !== null) {
          const winner = await this.findByIdempotencyKey(em.fork(), p, idempotencyKey);
          if (winner) return winner;
        }
        // A key collision (120 random bits: practically never): try a fresh key.
        if (attempt >= 3) throw error;
      }
    }
  }

  async update(em: EntityManager, p: AuthenticatedPrincipal, id: string, input: UpdateLicenseData, clientAddress: string | null): Promise<License> {
    const license = await this.findVisible(em, p, id);
    if (!license) throw notFound('license');
    if (license.revokedAt) throw badInput('A revoked license cannot be changed.', 'id');
    const seats = input.seats !== undefined && input.seats !== null ? checkSeats(input.seats) : license.seats;
    const validUntil = input.validUntil ? checkDate(input.validUntil, 'validUntil') : license.validUntil;
    if (validUntil.getTime() <= license.validFrom.getTime()) throw badInput('validUntil must be after validFrom.', 'validUntil');
    await em.transactional(async (tx) => {
      license.seats = seats;
      license.validUntil = validUntil;
      recordAudit(tx, {
        action: 'LICENSE_UPDATED',
        actorId: p.userId,
        targetType: 'License',
        targetId: license.id,
        resellerId: license.reseller.id,
        customerId: license.customer.id,
        clientAddress,
      });
    });
    return license;
  }

  /** Revocation is final; revoking again changes nothing and returns the license as it is. */
  async revoke(em: EntityManager, p: AuthenticatedPrincipal, id: string, clientAddress: string | null): Promise<License> {
    const license = await this.findVisible(em, p, id);
    if (!license) throw notFound('license');
    if (license.revokedAt) return license;
    await em.transactional(async (tx) => {
      license.revokedAt = this.now();
      recordAudit(tx, {
        action: 'LICENSE_REVOKED',
        actorId: p.userId,
        targetType: 'License',
        targetId: license.id,
        resellerId: license.reseller.id,
        customerId: license.customer.id,
        clientAddress,
      });
    });
    return license;
  }
}
