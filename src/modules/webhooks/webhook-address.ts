// Where webhooks may go (FLOWS.md section 12): https only, and never to the server's own network. In
// production every address a host name resolves to must be public unicast (no loopback, private,
// link-local, metadata, CGNAT, multicast, reserved or IPv4-in-IPv6 trick), checked when the endpoint is
// created (for literal addresses) and again at every delivery after DNS resolution, on the address the
// connection then uses. Outside production http(s)://127.0.0.1 and http(s)://localhost are allowed too.
import ipaddr from 'ipaddr.js';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { badInput } from '../../errors';

export const MAX_URL_LENGTH = 2048;

/** The range of an address, with IPv4-mapped IPv6 addresses judged as the IPv4 address they carry. */
function rangeOf(address: string): string | null {
  if (!ipaddr.isValid(address)) return null;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return parsed.range();
}

/** Whether a delivery may connect to `address` (an IP address as text). */
export function addressAllowed(address: string, production: boolean): boolean {
  const range = rangeOf(address);
  return range === 'unicast' || (!production && range === 'loopback');
}

const LOCAL_NAMES = /^(localhost|localhost\.localdomain)$|\.localhost$/i;

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * The endpoint URL as given, if it may be an endpoint: http(s) URL without credentials, https unless it
 * is a loopback address outside production, and a host that is not a refused address or local name.
 */
export function checkEndpointUrl(text: string, production: boolean): URL {
  const refuse = (message: string) => badInput(message, 'url', 'URL_REFUSED');
  if (text.length > MAX_URL_LENGTH) throw refuse(`The URL may have at most ${MAX_URL_LENGTH} characters.`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse('The URL is not a valid absolute URL.');
  }
  if (url.username || url.password) throw refuse('The URL must not contain credentials; the signature authenticates the messages.');
  const host = hostOf(url);
  const loopback = isIP(host) ? rangeOf(host) === 'loopback' : LOCAL_NAMES.test(host);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback && !production)) {
    throw refuse(production ? 'The URL must use https.' : 'The URL must use https (or http to 127.0.0.1 or localhost outside production).');
  }
  if (isIP(host) ? !addressAllowed(host, production) : loopback && production) {
    throw refuse('The URL must point to a public address, not to a loopback, private or link-local one.');
  }
  url.hash = '';
  return url;
}

export class AddressRefused extends Error {
  constructor(host: string) {
    super(`${host} resolves to an address that webhooks may not reach`);
    this.name = 'AddressRefused';
  }
}

/**
 * A dns.lookup for the delivery's connection that fails unless every address of the name is allowed,
 * so that the address checked is the address connected to (no second resolution to rebind).
 */
export function guardedLookup(production: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 4);
      if (addresses.length === 0 || addresses.some((a) => !addressAllowed(a.address, production))) {
        return callback(Object.assign(new AddressRefused(hostname), { code: 'EADDRREFUSED' }), '', 4);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/** For an IP literal host, which connects without a lookup: the same rule, before connecting. */
export function assertLiteralAllowed(url: URL, production: boolean): void {
  const host = hostOf(url);
  if (isIP(host) && !addressAllowed(host, production)) throw new AddressRefused(host);
}
