import { isIP } from 'node:net';
import { isAtprotoDid, isDidPlc } from '@atproto/did';
import { VerificationError } from '../errors.js';

/** Where a DID's document lives (SPEC section 3 step 2). */
export type DidLocation = { method: 'plc'; did: string } | { method: 'web'; did: string; host: string; port?: number };

/**
 * Validates an atproto DID and says where to resolve it. did:web is limited to a bare hostname
 * (no path, no IP literal) as the atproto DID spec requires; a port is only accepted for
 * test networks, since did:web documents on odd ports are how SSRF probes look.
 */
export function locateDid(did: string, allowPrivateNetwork: boolean): DidLocation {
  if (typeof did !== 'string' || did.length > 2048 || !isAtprotoDid(did)) {
    throw new VerificationError('DID_INVALID', `"${String(did).slice(0, 100)}" is not a did:plc or did:web identifier atproto accepts`);
  }
  if (isDidPlc(did)) return { method: 'plc', did };

  const id = did.slice('did:web:'.length);
  const [hostPart, ...rest] = decodeURIComponent(id).split(':');
  if (rest.length > 1 || id.includes(':')) {
    throw new VerificationError('DID_INVALID', `${did}: did:web with a path is not an atproto DID`);
  }
  const host = hostPart!.toLowerCase();
  const port = rest[0] === undefined ? undefined : Number(rest[0]);
  if (isIP(host.replace(/^\[|\]$/g, '')) || isIP(urlHostname(host))) {
    throw new VerificationError('DID_INVALID', `${did}: did:web must name a host, not an IP address`);
  }
  if (port !== undefined) {
    if (!allowPrivateNetwork) {
      throw new VerificationError('DID_INVALID', `${did}: did:web with a port is only accepted on test networks (allowPrivateNetwork)`);
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new VerificationError('DID_INVALID', `${did}: invalid port`);
    }
  }
  return port === undefined ? { method: 'web', did, host } : { method: 'web', did, host, port };
}

/**
 * The host a URL parser makes of `host`: WHATWG URLs read "2130706433", "0x7f000001", "0177.0.0.1"
 * and "127.1" as IPv4 addresses, so the IP-literal rule must judge this form, not the raw text.
 */
function urlHostname(host: string): string {
  try {
    return new URL(`https://${host}/`).hostname;
  } catch {
    return host;
  }
}

/** The URL of the DID document for a DID location. */
export function didDocumentUrl(location: DidLocation, plcDirectory: string): string {
  if (location.method === 'plc') return `${plcDirectory.replace(/\/+$/, '')}/${location.did}`;
  const origin = location.port === undefined ? location.host : `${location.host}:${location.port}`;
  // Test networks serve plain HTTP on localhost ports; the fetch guard decides whether that is allowed.
  const scheme = location.port !== undefined && location.host === 'localhost' ? 'http' : 'https';
  return `${scheme}://${origin}/.well-known/did.json`;
}
