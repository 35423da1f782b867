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

/**
 * `<prefix>_`, 12 hex digits of the creation time (milliseconds since 1970), 16 hex digits (64 bits) from the
 * CSPRNG: 32 characters, the width of every id column. Time first, so that rows created together sit
 * together in their primary-key index: a batch of 100 licenses (with their audit events and webhook
 * messages) dirties a few pages of each primary key instead of one page per row, which halved the time
 * SQLite's commit of a createLicenses call takes at 100,000 licenses (test/bench/bulk.ts). The time is no
 * secret (createdAt); ids were never authorization (visibility is a database filter on every read).
 * IDs made before are 24 random hex digits; both shapes name objects.
 */
export function newId(type: NodeTypeName): string {
  return `${IdPrefix[type]}_${Date.now().toString(16).padStart(12, '0')}${pooledRandomBytes(8).toString('hex')}`;
}

/** The part of an ID after its prefix: 28 hex digits (time and randomness), or 24 (random, the first ids). */
export const ID_BODY = '(?:[0-9a-f]{28}|[0-9a-f]{24})';

const ID_SHAPE = new RegExp(`^([a-z]{3})_${ID_BODY}$`);

/** The type an ID names, or null for anything that is not one of our IDs. */
export function typeOfId(id: string): NodeTypeName | null {
  const match = ID_SHAPE.exec(id);
  if (!match) return null;
  const entry = Object.entries(IdPrefix).find(([, prefix]) => prefix === match[1]);
  return entry ? (entry[0] as NodeTypeName) : null;
}
