// Expiry reminders: each reseller's users get one digest of their licenses that expire within 30, 7
// or 1 days. Every (license, threshold) is claimed in the database before the mail goes out, so a
// license is reminded once per threshold even when two runs or two servers overlap.
import type { EntityManager } from '@mikro-orm/core';
import { Role } from '../../common/enums';
import { describeError, type Logger } from '../../logger';
import { Customer } from '../customers/customer.entity';
import { allOf, lte, toFilter } from '../access/condition';
import { License } from '../licenses/license.entity';
import { liveAt } from '../licenses/license-status';
import type { Mailer } from '../mail/mailer';
import { Reseller } from '../resellers/reseller.entity';
import { LicenseReminder } from './license-reminder.entity';
import { User } from '../users/user.entity';
import { recordLicenseEvent } from '../webhooks/webhook-events';

const THRESHOLDS_DAYS = [1, 7, 30] as const;
const DAY_MS = 86_400_000;
const CLAIM_BATCH = 200;

export interface ReminderRunResult {
  /** (license, threshold) pairs claimed and mailed by this run. */
  reminded: number;
  /** Digest e-mails sent. */
  mails: number;
  /** Reminders whose e-mail failed: released, so that the next run sends them. */
  failed: number;
}

/** The smallest threshold the license is within, or null when it expires later than the largest. */
function thresholdFor(validUntil: Date, now: Date): number | null {
  const left = validUntil.getTime() - now.getTime();
  if (left <= 0) return null;
  return THRESHOLDS_DAYS.find((days) => left <= days * DAY_MS) ?? null;
}

export class ExpiryReminderService {
  constructor(
    private readonly mailer: Mailer,
    private readonly log: Logger,
    private readonly config: { publicUrl: string },
  ) {}

  /**
   * Claims (license, threshold) pairs with one atomic insert; only the pairs this call inserted come
   * back (ON CONFLICT DO NOTHING ... RETURNING), so concurrent runs split the work without overlap.
   */
  private async claim(tx: EntityManager, pairs: { licenseId: string; days: number }[], now: Date): Promise<Set<string>> {
    const claimed = new Set<string>();
    for (let i = 0; i < pairs.length; i += CLAIM_BATCH) {
      const batch = pairs.slice(i, i + CLAIM_BATCH);
      const values = batch.map(() => '(?, ?, ?)').join(', ');
      const params = batch.flatMap((p) => [p.licenseId, p.days, now]);
      const rows = await tx
        .getConnection()
        .execute<{ license_id: string; threshold_days: number }[]>(
          `insert into license_reminder (license_id, threshold_days, sent_at) values ${values} on conflict do nothing returning license_id, threshold_days`,
          params,
          'all',
          tx.getTransactionContext(),
        );
      for (const row of rows) claimed.add(`${row.license_id}:${Number(row.threshold_days)}`);
    }
    return claimed;
  }

  /** Gives claims back when their mail could not be sent, so that the next run tries again. */
  private async release(em: EntityManager, pairs: { licenseId: string; days: number }[]): Promise<void> {
    if (pairs.length)
      await em.nativeDelete(LicenseReminder, { $or: pairs.map((p) => ({ licenseId: p.licenseId, thresholdDays: p.days })) });
  }

  async run(em: EntityManager, now = new Date()): Promise<ReminderRunResult> {
    const horizon = new Date(now.getTime() + Math.max(...THRESHOLDS_DAYS) * DAY_MS);
    // PENDING or ACTIVE licenses that end within the horizon, of every reseller (a system job: scope 'all').
    const licenses = await em.find(License, toFilter(allOf<License>(liveAt(now), lte('validUntil', horizon))), {
      orderBy: { validUntil: 'asc', id: 'asc' },
    });
    const candidates = licenses.map((l) => ({ license: l, days: thresholdFor(l.validUntil, now)! }));
    // Each reseller's active users are told about the licenses of their scope (License: by its reseller).
    // Deactivated users get nothing (FLOWS.md section 9).
    const recipients = await em.find(User, {
      role: Role.RESELLER,
      active: true,
      reseller: { $in: [...new Set(candidates.map((d) => d.license.reseller.id))] },
    });
    // A reseller without users has nobody to tell yet: its reminders stay unclaimed until it has one.
    const reachable = new Set(recipients.map((u) => u.reseller!.id));
    const due = candidates.filter((d) => reachable.has(d.license.reseller.id));
    // The claims and the license.expiring webhook messages of the claimed licenses commit together.
    const mine = await em.transactional(async (tx) => {
      const claimed = await this.claim(
        tx,
        due.map((d) => ({ licenseId: d.license.id, days: d.days })),
        now,
      );
      const taken = due.filter((d) => claimed.has(`${d.license.id}:${d.days}`));
      for (const d of taken) recordLicenseEvent(tx, 'license.expiring', d.license, { daysLeft: d.days }, now);
      return taken;
    });
    if (mine.length === 0) return { reminded: 0, mails: 0, failed: 0 };

    const byReseller = new Map<string, typeof mine>();
    for (const d of mine) {
      const list = byReseller.get(d.license.reseller.id) ?? [];
      list.push(d);
      byReseller.set(d.license.reseller.id, list);
    }
    const resellerIds = [...byReseller.keys()];
    const [resellers, customers] = await Promise.all([
      em.find(Reseller, { id: { $in: resellerIds } }),
      em.find(Customer, { id: { $in: [...new Set(mine.map((d) => d.license.customer.id))] } }),
    ]);
    const resellerName = new Map(resellers.map((r) => [r.id, r.name]));
    const customerName = new Map(customers.map((c) => [c.id, c.name]));

    let mails = 0;
    let reminded = 0;
    let failed = 0;
    for (const [resellerId, items] of byReseller) {
      const to = recipients.filter((u) => u.reseller?.id === resellerId);
      const rows = items.map((d) => ({
        key: d.license.key,
        customer: customerName.get(d.license.customer.id) ?? '',
        kind: d.license.kind,
        seats: d.license.seats,
        validUntil: d.license.validUntil,
        days: d.days,
      }));
      try {
        for (const user of to) {
          // Each recipient in the recipient's own language.
          await this.mailer.send({
            to: user.email,
            locale: user.locale,
            template: 'expiry-reminder',
            vars: {
              name: user.name,
              reseller: resellerName.get(resellerId) ?? '',
              count: items.length,
              portalUrl: this.config.publicUrl,
              licenses: rows,
            },
          });
          mails += 1;
        }
        reminded += items.length;
      } catch (error) {
        this.log.error('expiry reminder mail failed; claims released for the next run', { resellerId, ...describeError(error) });
        await this.release(
          em,
          items.map((d) => ({ licenseId: d.license.id, days: d.days })),
        );
        failed += items.length;
      }
    }
    return { reminded, mails, failed };
  }
}
