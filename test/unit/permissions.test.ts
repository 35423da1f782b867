// The shield map as the server applies it: every root field is wrapped, and below the root every field
// that has a rule of its own, whether named, covered by a type-wide rule or by '*'.
import { expect } from 'chai';
import { allow, deny } from 'graphql-shield';
import { buildTypeSchema } from '../../src/graphql/schema';
import { permissionMap, permissions } from '../../src/graphql/permissions';

describe('permissions (shield map)', () => {
  const wrapped = async (map: Record<string, unknown>) => {
    const middleware = permissions(await buildTypeSchema(), map) as Record<string, Record<string, unknown>>;
    return Object.fromEntries(Object.entries(middleware).map(([type, fields]) => [type, Object.keys(fields).sort()]));
  };

  it('wraps every Query and Mutation field, and below the root only Reseller.customers', async () => {
    const types = await wrapped(permissionMap);
    expect(types.Query).to.include.members(Object.keys(permissionMap.Query));
    expect(types.Mutation).to.include.members(Object.keys(permissionMap.Mutation));
    expect(types.Reseller).to.deep.equal(['customers']);
    expect(Object.keys(types).sort()).to.deep.equal(['Mutation', 'Query', 'Reseller']);
  });

  it('keeps a type-wide rule and a "*" rule on every field of their type, and drops fields that are allowed', async () => {
    const types = await wrapped({ ...permissionMap, AuditEvent: deny, License: { '*': deny, id: allow } });
    expect(types.AuditEvent).to.include.members(['action', 'at', 'id']);
    expect(types.License).to.include.members(['key', 'seats', 'status']);
    expect(types.License).to.not.include('id');
  });
});
