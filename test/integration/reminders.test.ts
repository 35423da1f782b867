// Expiry reminders as a reseller's staff receive them: one digest e-mail per run and reseller user,
// listing that reseller's licenses that expire within 30, 7 or 1 days, each (license, threshold)
// reminded exactly once, also when runs overlap (in one process and as two CLI processes), and a
// failed delivery is tried again by the next run. Driven through the service with a chosen `now`
// and through `send-expiry-reminders`.
import { expect } from 'chai';
import { Role } from '../../src/common/enums';
import type { Customer } from '../../src/modules/customers/customer.entity';
import type { License } from '../../src/modules/licenses/license.entity';
import type { Reseller } from '../../src/modules/resellers/reseller.entity';
import { User } from '../../src/modules/users/user.entity';
import { makeCustomer, makeLicense, makeReseller, makeUser, type TestUser } from '../factories';
import { runCli } from '../helpers/cli';
import { startSmtpCapture, type CapturedMail, type SmtpCapture } from '../helpers/mail';
import { startTestServer, type TestServer } from '../helpers/server';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Shop {
  reseller: Reseller;
  customer: Customer;
  users: TestUser[];
}

describe('expiry reminders', function () {
  this.timeout(120000);
  let smtp: SmtpCapture;
  let s: TestServer;

  before(async () => (smtp = await startSmtpCapture()));
  after(() => smtp.close());
  // Every test starts from an empty database: a run looks at every license there is.
  beforeEach(async () => {
    smtp.mails.length = 0;
    s = await startTestServer({ SMTP_URL: smtp.url });
  });
  afterEach(() => s.stop());

  const run = (now: Date) => s.app.services.reminders.run(s.app.services.orm.em.fork(), now);
  const mailsTo = (u: TestUser) => smtp.mails.filter((m) => m.to.includes(u.email));

  /** The licenses a digest lists: key -> threshold in days ("within N day(s)"). */
  function listed(mail: CapturedMail): Map<string, number> {
    const out = new Map<string, number>();
    for (const match of mail.text.matchAll(/^- ([2-9A-Z]{5}(?:-[2-9A-Z]{5}){4})\s.*\(within (\d+) day\(s\)\)\s*$/gm)) {
      expect(out.has(match[1]!), `${match[1]} listed twice`).to.equal(false);
      out.set(match[1]!, Number(match[2]));
    }
    return out;
  }

  async function claims(): Promise<string[]> {
    const rows = await s.app.services.orm.em
      .fork()
      .getConnection()
      .execute<{ license_id: string; threshold_days: number }[]>('select license_id, threshold_days from license_reminder');
    return rows.map((r) => `${r.license_id}:${Number(r.threshold_days)}`).sort();
  }

  async function shop(users = 2): Promise<Shop> {
    const reseller = await makeReseller(s);
    const customer = await makeCustomer(s, reseller);
    const list: TestUser[] = [];
    for (let i = 0; i < users; i++) list.push(await makeUser(s, { role: Role.RESELLER, reseller }));
    return { reseller, customer, users: list };
  }

  const expiring = (c: Customer, now: number, inMs: number) =>
    makeLicense(s, c, { validFrom: new Date(now - 30 * DAY), validUntil: new Date(now + inMs) });

  it('reminds 30 days ahead at 20 days left, 7 at 5 days, 1 at 12 hours; nothing at 40 days, for expired or revoked licenses', async () => {
    const now = Date.now();
    const a = await shop(2);
    const customerUser = await makeUser(s, { role: Role.CUSTOMER, customer: a.customer });
    const admin = await makeUser(s, { role: Role.ADMIN });
    const in20d = await expiring(a.customer, now, 20 * DAY);
    const in5d = await expiring(a.customer, now, 5 * DAY);
    const in12h = await expiring(a.customer, now, 12 * HOUR);
    const in40d = await expiring(a.customer, now, 40 * DAY);
    const expired = await expiring(a.customer, now, -HOUR);
    const revoked = await makeLicense(s, a.customer, { validUntil: new Date(now + 5 * DAY), revokedAt: new Date(now - DAY) });

    const result = await run(new Date(now));
    expect(result).to.deep.equal({ reminded: 3, mails: 2, failed: 0 });
    for (const u of a.users) {
      const mails = mailsTo(u);
      expect(mails, u.email).to.have.length(1);
      expect([...listed(mails[0]!)].sort()).to.deep.equal(
        [
          [in20d.key, 30],
          [in5d.key, 7],
          [in12h.key, 1],
        ].sort(),
      );
      for (const l of [in40d, expired, revoked]) {
        expect(mails[0]!.text).to.not.contain(l.key);
        expect(mails[0]!.html).to.not.contain(l.key);
      }
      expect(mails[0]!.html).to.contain(in20d.key);
      expect(mails[0]!.text).to.contain(a.customer.name);
    }
    // Customer users and admins get no digest.
    expect(mailsTo(customerUser)).to.have.length(0);
    expect(mailsTo(admin)).to.have.length(0);
    expect(smtp.mails).to.have.length(2);
    expect(await claims()).to.deep.equal([`${in20d.id}:30`, `${in5d.id}:7`, `${in12h.id}:1`].sort());
  });

  it("sends one digest per reseller user with only that reseller's licenses", async () => {
    const now = Date.now();
    const a = await shop(2);
    const b = await shop(2);
    const otherCustomerOfA = await makeCustomer(s, a.reseller);
    const keysA = [
      (await expiring(a.customer, now, 3 * DAY)).key,
      (await expiring(a.customer, now, 25 * DAY)).key,
      (await expiring(otherCustomerOfA, now, 10 * HOUR)).key,
    ];
    const keysB = [(await expiring(b.customer, now, 6 * DAY)).key];

    const result = await run(new Date(now));
    expect(result).to.deep.equal({ reminded: 4, mails: 4, failed: 0 });
    for (const [sh, keys, foreign] of [
      [a, keysA, keysB],
      [b, keysB, keysA],
    ] as const) {
      for (const u of sh.users) {
        const mails = mailsTo(u);
        expect(mails, u.email).to.have.length(1);
        expect([...listed(mails[0]!).keys()].sort()).to.deep.equal([...keys].sort());
        for (const key of foreign) expect(mails[0]!.text + mails[0]!.html).to.not.contain(key);
        expect(mails[0]!.subject).to.contain(sh.reseller.name);
        expect(mails[0]!.to).to.not.contain(',');
      }
    }
    expect(smtp.mails).to.have.length(4);
  });

  it('a deactivated reseller user gets no digest; the active colleague does', async () => {
    const now = Date.now();
    const a = await shop(2);
    const key = (await expiring(a.customer, now, 3 * DAY)).key;
    await s.app.services.orm.em.fork().nativeUpdate(User, { id: a.users[1]!.user.id }, { active: false, deactivatedAt: new Date(now) });
    expect(await run(new Date(now))).to.deep.equal({ reminded: 1, mails: 1, failed: 0 });
    expect([...listed(mailsTo(a.users[0]!)[0]!).keys()]).to.deep.equal([key]);
    expect(mailsTo(a.users[1]!)).to.deep.equal([]);
  });

  it('a second run sends nothing; as time passes, the next threshold is sent once', async () => {
    const now = Date.now();
    const a = await shop(2);
    const l20 = await expiring(a.customer, now, 20 * DAY);
    const l40 = await expiring(a.customer, now, 40 * DAY);

    expect(await run(new Date(now))).to.deep.equal({ reminded: 1, mails: 2, failed: 0 });
    expect(await run(new Date(now))).to.deep.equal({ reminded: 0, mails: 0, failed: 0 });
    expect(await run(new Date(now + HOUR))).to.deep.equal({ reminded: 0, mails: 0, failed: 0 });
    expect(smtp.mails).to.have.length(2);

    // 15 days later: l20 has 5 days left (7-day reminder), l40 has 25 days left (30-day reminder).
    expect(await run(new Date(now + 15 * DAY))).to.deep.equal({ reminded: 2, mails: 2, failed: 0 });
    expect(await run(new Date(now + 15 * DAY + HOUR))).to.deep.equal({ reminded: 0, mails: 0, failed: 0 });
    for (const u of a.users) {
      const mails = mailsTo(u);
      expect(mails).to.have.length(2);
      expect([...listed(mails[1]!)].sort()).to.deep.equal(
        [
          [l20.key, 7],
          [l40.key, 30],
        ].sort(),
      );
    }

    // Half a day before l20 expires: the 1-day reminder, once.
    expect(await run(new Date(now + 19.5 * DAY))).to.deep.equal({ reminded: 1, mails: 2, failed: 0 });
    expect(await run(new Date(now + 19.9 * DAY))).to.deep.equal({ reminded: 0, mails: 0, failed: 0 });
    // Once it has expired, nothing more about it.
    expect(await run(new Date(now + 21 * DAY))).to.deep.equal({ reminded: 0, mails: 0, failed: 0 });
    for (const u of a.users) expect([...listed(mailsTo(u)[2]!)]).to.deep.equal([[l20.key, 1]]);
    expect(await claims()).to.deep.equal([`${l20.id}:30`, `${l20.id}:7`, `${l20.id}:1`, `${l40.id}:30`].sort());
    expect(smtp.mails).to.have.length(6);
  });

  /** Every recipient got each of its reseller's licenses exactly once, over `maxMails` mails at most. */
  function expectEachOnce(shops: Shop[], licenses: Map<Shop, License[]>, maxMails: number) {
    for (const sh of shops) {
      for (const u of sh.users) {
        const mails = mailsTo(u);
        expect(mails.length, u.email).to.be.within(1, maxMails);
        const seen: string[] = mails.flatMap((m) => [...listed(m).keys()]);
        expect(seen.sort()).to.deep.equal(
          licenses
            .get(sh)!
            .map((l) => l.key)
            .sort(),
        );
      }
    }
  }

  it('two concurrent runs send each reminder exactly once in total', async () => {
    const now = Date.now();
    const shops = [await shop(2), await shop(2)];
    const licenses = new Map<Shop, License[]>();
    for (const sh of shops) {
      const list: License[] = [];
      for (let i = 0; i < 8; i++) list.push(await expiring(sh.customer, now, (i + 1) * 3 * DAY + i * HOUR));
      licenses.set(sh, list);
    }
    const [r1, r2] = await Promise.all([run(new Date(now)), run(new Date(now))]);
    expect(r1.reminded + r2.reminded).to.equal(16);
    expect(r1.mails + r2.mails).to.equal(4);
    expectEachOnce(shops, licenses, 1);
    expect(smtp.mails).to.have.length(4);
    expect(await claims()).to.have.length(16);
  });

  it('two concurrent runs over more licenses than one claim batch still remind each license once', async () => {
    const now = Date.now();
    const shops = [await shop(1), await shop(1)];
    const licenses = new Map<Shop, License[]>();
    for (const sh of shops) {
      const list: License[] = [];
      for (let i = 0; i < 150; i++) list.push(await expiring(sh.customer, now, 2 * DAY + i * HOUR));
      licenses.set(sh, list);
    }
    const [r1, r2] = await Promise.all([run(new Date(now)), run(new Date(now))]);
    expect(r1.reminded + r2.reminded).to.equal(300);
    // The two runs may split a reseller's list between them, but no license is listed twice.
    expectEachOnce(shops, licenses, 2);
    expect(await claims()).to.have.length(300);
    expect(await run(new Date(now))).to.deep.equal({ reminded: 0, mails: 0, failed: 0 });
  });

  it('send-expiry-reminders (CLI) sends the digests, and two concurrent processes send each reminder once', async () => {
    const now = Date.now();
    const shops = [await shop(2), await shop(2)];
    const licenses = new Map<Shop, License[]>();
    for (const sh of shops) {
      const list: License[] = [];
      for (let i = 0; i < 5; i++) list.push(await expiring(sh.customer, now, (i + 1) * 4 * DAY));
      licenses.set(sh, list);
    }
    const [c1, c2] = await Promise.all([runCli(['send-expiry-reminders'], s.env), runCli(['send-expiry-reminders'], s.env)]);
    expect(c1.code, c1.stderr).to.equal(0);
    expect(c2.code, c2.stderr).to.equal(0);
    const counts = [c1, c2].map((c) => {
      const match = /^(\d+) license reminder\(s\) in (\d+) e-mail\(s\)\.$/m.exec(c.stdout);
      expect(match, c.stdout).to.not.equal(null);
      return { reminded: Number(match![1]), mails: Number(match![2]) };
    });
    expect(counts[0]!.reminded + counts[1]!.reminded).to.equal(10);
    expect(counts[0]!.mails + counts[1]!.mails).to.equal(4);
    expectEachOnce(shops, licenses, 1);
    expect(smtp.mails).to.have.length(4);
    expect(await claims()).to.have.length(10);

    // A third run, later the same day, has nothing to send.
    const again = await runCli(['send-expiry-reminders'], s.env);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/^0 license reminder\(s\) in 0 e-mail\(s\)\.$/m);
    expect(smtp.mails).to.have.length(4);
  });

  it('keeps the reminders of a reseller without users until it has one, then sends them once', async () => {
    const now = Date.now();
    const lonely = await shop(0);
    const l = await expiring(lonely.customer, now, 5 * DAY);
    expect(await run(new Date(now))).to.deep.equal({ reminded: 0, mails: 0, failed: 0 });
    expect(await claims()).to.deep.equal([]);

    const user = await makeUser(s, { role: Role.RESELLER, reseller: lonely.reseller });
    expect(await run(new Date(now))).to.deep.equal({ reminded: 1, mails: 1, failed: 0 });
    expect([...listed(smtp.mails.find((m) => m.to.includes(user.email))!)]).to.deep.equal([[l.key, 7]]);
    expect(await run(new Date(now))).to.deep.equal({ reminded: 0, mails: 0, failed: 0 });
  });

  it('when the mail cannot be delivered, nothing is marked as reminded and the next run sends it', async () => {
    const now = Date.now();
    const a = await shop(1);
    const l = await expiring(a.customer, now, 5 * DAY);
    // A closed port: delivery fails.
    const down = await runCli(['send-expiry-reminders'], { ...s.env, SMTP_URL: 'smtp://127.0.0.1:9', LOG_LEVEL: 'error' });
    expect(down.stdout).to.match(/^0 license reminder\(s\) in 0 e-mail\(s\)\.$/m);
    expect(down.stderr).to.match(/expiry reminder mail failed/);
    // A cron job notices: non-zero exit with a one-line error.
    expect(down.code).to.equal(1);
    expect(down.stderr).to.match(/1 reminder\(s\) could not be e-mailed/);
    expect(await claims()).to.deep.equal([]);
    expect(smtp.mails).to.have.length(0);

    const up = await runCli(['send-expiry-reminders'], s.env);
    expect(up.code, up.stderr).to.equal(0);
    expect(up.stdout).to.match(/^1 license reminder\(s\) in 1 e-mail\(s\)\.$/m);
    expect([...listed(mailsTo(a.users[0]!)[0]!)]).to.deep.equal([[l.key, 7]]);
    expect(await claims()).to.deep.equal([`${l.id}:7`]);
  });
});
