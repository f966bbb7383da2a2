import type http from 'node:http';
import type https from 'node:https';
import type { LookupFunction } from 'node:net';
import { VerificationError } from '../errors.js';
import { checkUrl } from '../net/guarded-fetch.js';
import type { RegistryCredentials } from './docker-config.js';
import { bodyForDebug, sendHttp } from './http.js';

/** A parsed `WWW-Authenticate` challenge from a registry's 401. */
export interface Challenge {
  scheme: 'basic' | 'bearer';
  realm?: string;
  service?: string;
  scope?: string;
}

const MAX_TOKEN_RESPONSE = 64 * 1024;

/** Parses `Bearer realm="...",service="...",scope="..."` (or `Basic realm=...`). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*(basic|bearer)\b(.*)$/i.exec(header);
  if (!match) return undefined;
  const challenge: Challenge = { scheme: match[1]!.toLowerCase() as Challenge['scheme'] };
  for (const [, key, quoted, bare] of match[2]!.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) {
    const value = quoted ?? bare ?? '';
    if (key === 'realm' || key === 'service' || key === 'scope') challenge[key] = value;
  }
  return challenge;
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export interface TokenTransport {
  /** The registry whose challenge this is, for messages (the realm URL is the registry's word). */
  registry: string;
  agentFor: (url: URL) => http.Agent | https.Agent;
  timeoutMs: number;
  ca?: string;
  /** The registry is plain http by the operator's choice: its realm may be http too. */
  allowHttp: boolean;
  /** The realm may be a private or loopback address (same rule as the registry). */
  allowPrivateNetwork: boolean;
  /** The address guard's DNS lookup. */
  lookup?: LookupFunction;
  debug?: (message: string) => void;
  signal?: AbortSignal;
}

/**
 * Gets a bearer token for `scope` from the challenge's realm (distribution token auth). With an
 * identity token this is the OAuth2 refresh-token grant (POST), as ORAS and Ratify do; with a
 * password, the Basic-authenticated GET; without credentials, the anonymous GET. The realm is
 * chosen by the registry, so it passes the address guard, must be https unless the registry
 * itself is allowed plain http, and is named in debug logs only.
 */
export async function fetchBearerToken(
  challenge: Challenge,
  scope: string,
  credentials: RegistryCredentials | undefined,
  transport: TokenTransport,
): Promise<string> {
  const service = `the token service of ${transport.registry}`;
  let realm: URL;
  try {
    realm = new URL(challenge.realm ?? '');
  } catch {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `${transport.registry} named a token realm that is not a URL`);
  }
  if (realm.protocol !== 'https:' && !(transport.allowHttp && realm.protocol === 'http:')) {
    transport.debug?.(`${transport.registry}: token realm ${realm.origin} refused (not https)`);
    throw new VerificationError('REGISTRY_AUTH_FAILED', `${service} is not https; credentials are not sent there`);
  }
  try {
    checkUrl(realm.toString(), { allowPrivateNetwork: transport.allowPrivateNetwork, allowHttp: transport.allowHttp }, service);
  } catch (err) {
    transport.debug?.(`${transport.registry}: token realm ${realm.origin} refused: ${(err as Error).message}`);
    throw new VerificationError('NETWORK_DENIED', `${service} is at an address the network policy refuses (private, loopback, link-local, metadata, or credentials in the URL)`);
  }
  const common = {
    maxBytes: MAX_TOKEN_RESPONSE,
    timeoutMs: transport.timeoutMs,
    agent: transport.agentFor(realm),
    label: service,
    ...(transport.lookup ? { lookup: transport.lookup } : {}),
    ...(transport.ca ? { ca: transport.ca } : {}),
    ...(transport.signal ? { signal: transport.signal } : {}),
  };
  // The DNS guard names the realm's host and address: the registry's words, kept for debug logs.
  const send = (req: Parameters<typeof sendHttp>[0]) =>
    sendHttp(req).catch((err: unknown) => {
      if (!(err instanceof VerificationError) || err.code !== 'NETWORK_DENIED') throw err;
      transport.debug?.(`${transport.registry}: token realm ${realm.origin} refused: ${err.message}`);
      throw new VerificationError('NETWORK_DENIED', `${service} resolves to an address the network policy refuses`);
    });
  let res;
  if (credentials?.kind === 'identityToken') {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.token, client_id: 'atproto-verifier', scope });
    if (challenge.service) form.set('service', challenge.service);
    res = await send({
      ...common,
      method: 'POST',
      url: realm,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new TextEncoder().encode(form.toString()),
    });
  } else {
    const url = new URL(realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    url.searchParams.set('scope', scope);
    const headers: Record<string, string> = credentials ? { authorization: basicHeader(credentials.username, credentials.password) } : {};
    res = await send({ ...common, method: 'GET', url, headers });
  }
  if (res.status !== 200 && res.body.length > 0) transport.debug?.(`${service} (${realm.origin}) answered HTTP ${res.status} with body ${bodyForDebug(res.body)}`);
  if (res.status === 401 || res.status === 403) {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `${service} refused the credentials (HTTP ${res.status})`);
  }
  if (res.status !== 200) {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `${service} answered HTTP ${res.status}`);
  }
  let parsed: { token?: unknown; access_token?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(res.body).toString('utf8'));
  } catch {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `${service} did not answer JSON`);
  }
  const token = typeof parsed.access_token === 'string' && parsed.access_token ? parsed.access_token : parsed.token;
  if (typeof token !== 'string' || token.length === 0) {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `${service} returned no token`);
  }
  return token;
}
