// The Reader's packed reads (src/db/reader.ts): the database returns a page's rows as one JSON text. They
// must be the rows the plain statement returns, value for value and in order, whatever the values hold.
import { expect } from 'chai';
import { LicenseKind } from '../../src/common/enums';
import { customerFromRow, customerStatement } from '../../src/modules/customers/customer-page';
import { licenseFromRow, nestedLicenseFromRow, pageStatement } from '../../src/modules/licenses/license-page';
import { License } from '../../src/modules/licenses/license.entity';
import { Reseller } from '../../src/modules/resellers/reseller.entity';
import { makeCustomer, makeLicense, makeReseller } from '../factories';
import { startTestServer, type TestServer } from '../helpers/server';

const DAY = 86_400_000;

describe('packed reads (a page of rows as one JSON value from the database)', function () {
  this.timeout(60_000);

  let s: TestServer;

  before(async () => {
    s = await startTestServer();
    const odd = await makeReseller(s, { name: 'Rë"s\'eller \\ 🚀\n,[]{}', linkedToResellerPortal: true });
    await s.app.services.orm.em
      .fork()
      .nativeUpdate(Reseller, { id: odd.id }, { suspendedAt: new Date(Date.now() - DAY), suspensionReason: 'why: "quoted"\ttab, ü' });
    const plain = await makeReseller(s, { name: 'Plain' });
    const c1 = await makeCustomer(s, odd, { name: 'Ünïcode "x" <y> null', contactEmail: null });
    const c2 = await makeCustomer(s, plain, { name: '', contactEmail: 'it@example.test' });
    const now = Date.now();
    await makeLicense(s, c1, {
      kind: LicenseKind.MOBILE_SECURITY,
      seats: 100_000,
      revokedAt: new Date(now - DAY),
      createdAt: new Date(now - 3),
    });
    const suspended = await makeLicense(s, c1, { seats: 1, createdAt: new Date(now - 2) });
    await s.app.services.orm.em.fork().nativeUpdate(License, { id: suspended.id }, { suspendedAt: new Date(now - 5 * DAY) });
    // Two licenses in the same millisecond: the order falls to the id.
    await makeLicense(s, c2, { createdAt: new Date(now - 1) });
    await makeLicense(s, c2, { createdAt: new Date(now - 1) });
    await makeLicense(s, c2, { validFrom: new Date(now + DAY), validUntil: new Date(now + 2 * DAY), createdAt: new Date(0) });
  });
  after(() => s?.stop());

  it('answers the license page, nested page and customer page exactly as the plain statements (every column type, nulls, quotes, unicode, order, empty)', async () => {
    const em = s.app.services.orm.em.fork();
    const reader = s.app.services.reader;
    const page = pageStatement(em);
    for (const direction of ['desc', 'asc'] as const) {
      const statement = {
        text: `${page.columns}, (select count(*) from ${page.table}) as total_count${page.from} order by l.created_at ${direction}, l.id ${direction} limit ?`,
        params: [100],
      };
      const plain = await reader.rows<Record<string, unknown>>(em, statement);
      const packed = await reader.rows<Record<string, unknown>>(em, statement, {
        columns: [...page.names, 'total_count'],
        orderBy: `"l_createdAt" ${direction}, "l_id" ${direction}`,
      });
      expect(plain).to.have.length(5);
      expect(packed.map(licenseFromRow)).to.deep.equal(plain.map(licenseFromRow));
      expect(packed.map((row) => Number(row.total_count))).to.deep.equal(plain.map((row) => Number(row.total_count)));
    }

    const nested = { text: `${page.nestedColumns} from ${page.table} l order by l.created_at desc, l.id desc`, params: [] };
    const byId = (rows: Record<string, unknown>[]) => rows.map(nestedLicenseFromRow).sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(byId(await reader.rows(em, nested, { columns: page.nestedNames }))).to.deep.equal(byId(await reader.rows(em, nested)));

    const customers = customerStatement(em);
    const customerPage = {
      text: `${customers.columns}, c.id is not null as has_valid_license from ${customers.table} c${customers.joins} order by c.created_at desc, c.id desc`,
      params: [],
    };
    const plainCustomers = await reader.rows<Record<string, unknown>>(em, customerPage);
    const packedCustomers = await reader.rows<Record<string, unknown>>(em, customerPage, {
      columns: [...customers.names, 'has_valid_license'],
      orderBy: '"c_createdAt" desc, "c_id" desc',
    });
    expect(plainCustomers).to.have.length(2);
    expect(packedCustomers.map(customerFromRow)).to.deep.equal(plainCustomers.map(customerFromRow));
    expect(packedCustomers.map(customerFromRow)[1]!.reseller.name).to.equal('Rë"s\'eller \\ 🚀\n,[]{}');

    const none = { text: `${page.columns}${page.from} where l.seats < 0 order by l.created_at desc`, params: [] };
    expect(await reader.rows(em, none, { columns: page.names, orderBy: '"l_createdAt" desc' })).to.deep.equal([]);
  });

  it('refuses a column name that is not a plain alias (it becomes SQL text)', async () => {
    const em = s.app.services.orm.em.fork();
    const page = pageStatement(em);
    const statement = { text: `${page.columns}${page.from} limit 1`, params: [] };
    let refused: unknown;
    try {
      await s.app.services.reader.rows(em, statement, { columns: ['l_id", (select 1) as "x'] });
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(Error);
  });
});
