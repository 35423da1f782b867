// Object IDs: typed by their prefix, time first (rows created together sit together in their indexes),
// 64 random bits each; the first IDs (24 random hex digits) stay IDs and cursors.
import { expect } from 'chai';
import { IdPrefix, newId, typeOfId, type NodeTypeName } from '../../src/common/ids';
import { decodeCursor, encodeCursor } from '../../src/common/pagination';

describe('object IDs', () => {
  it('are <prefix>_ and 28 hex digits, 32 characters (the id columns), and name their type', () => {
    for (const type of Object.keys(IdPrefix) as NodeTypeName[]) {
      const id = newId(type);
      expect(id).to.match(new RegExp(`^${IdPrefix[type]}_[0-9a-f]{28}$`));
      expect(id).to.have.length(32);
      expect(typeOfId(id)).to.equal(type);
    }
  });

  it('begin with their creation time, so that later IDs sort after earlier ones', async () => {
    const before = Date.now();
    const first = newId('License');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = newId('License');
    expect(parseInt(first.slice(4, 16), 16)).to.be.within(before, before + 1_000);
    expect(second > first).to.equal(true);
    const many = Array.from({ length: 1_000 }, () => newId('AuditEvent'));
    expect(new Set(many).size).to.equal(1_000);
    // Sorted by time: a batch is in creation order, whatever its random part.
    expect(many.map((id) => id.slice(4, 16))).to.deep.equal(many.map((id) => id.slice(4, 16)).sort());
  });

  it('carry 64 random bits after the time: IDs of the same millisecond differ there', () => {
    const ids = Array.from({ length: 200 }, () => newId('License'));
    const tails = new Set(ids.map((id) => id.slice(16)));
    expect(tails.size).to.equal(200);
    for (const tail of tails) expect(tail).to.match(/^[0-9a-f]{16}$/);
  });

  it('the first IDs (24 random hex digits) still name their type and make valid cursors', () => {
    const old = 'lic_0123456789abcdef01234567';
    expect(typeOfId(old)).to.equal('License');
    const at = new Date('2026-06-01T10:00:00.000Z');
    for (const id of [old, newId('License')]) expect(decodeCursor(encodeCursor(at, id))).to.deep.equal({ at, id });
  });

  it('anything else is no ID and no cursor', () => {
    const shapes = [
      'lic_0123456789abcdef0123456',
      'lic_0123456789abcdef012345678',
      'lic_0123456789abcdef0123456789a',
      'lic_0123456789ABCDEF01234567',
      `${newId('License')}0`,
      ` ${newId('License')}`,
    ];
    for (const id of shapes) {
      expect(typeOfId(id), id).to.equal(null);
      expect(() => decodeCursor(encodeCursor(new Date(0), id)), id).to.throw('The cursor is not valid.');
    }
    expect(typeOfId('xyz_0123456789abcdef01234567')).to.equal(null);
  });
});
