// Object IDs carry a type prefix, so node(id) can tell the type without a lookup and IDs of one type
// cannot be passed where another is expected.
import { pooledRandomBytes } from './random-pool';

export const IdPrefix = {
  Reseller: 'rsl',
  Customer: 'cus',
  License: 'lic',
  User: 'usr',
  AuditEvent: 'aud',
  ApiToken: 'tok',
  Session: 'ses',
  AccountToken: 'act',
  RecoveryCode: 'rec',
  WebhookEndpoint: 'whk',
  WebhookDelivery: 'whd',
  /** A webhook message: its id is the payload's id and the webhook-id header (the same on every retry). */
  WebhookEvent: 'msg',
} as const;
export type NodeTypeName = keyof typeof IdPrefix;

export function newId(type: NodeTypeName): string {
  return `${IdPrefix[type]}_${pooledRandomBytes(12).toString('hex')}`;
}

const ID_SHAPE = /^([a-z]{3})_[0-9a-f]{24}$/;

/** The type an ID names, or null for anything that is not one of our IDs. */
export function typeOfId(id: string): NodeTypeName | null {
  const match = ID_SHAPE.exec(id);
  if (!match) return null;
  const entry = Object.entries(IdPrefix).find(([, prefix]) => prefix === match[1]);
  return entry ? (entry[0] as NodeTypeName) : null;
}
