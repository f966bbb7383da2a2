import type http from 'node:http';
import type https from 'node:https';
import { VerificationError } from '../errors.js';
import type { RegistryCredentials } from './docker-config.js';
import { bodyExcerpt, sendHttp } from './http.js';

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

/**
 * Gets a bearer token for `scope` from the challenge's realm (distribution token auth). With an
 * identity token this is the OAuth2 refresh-token grant (POST), as ORAS and Ratify do; with a
 * password, the Basic-authenticated GET; without credentials, the anonymous GET.
 */
export async function fetchBearerToken(
  challenge: Challenge,
  scope: string,
  credentials: RegistryCredentials | undefined,
  transport: { agentFor: (url: URL) => http.Agent | https.Agent; timeoutMs: number; ca?: string; allowHttp: boolean; signal?: AbortSignal },
): Promise<string> {
  let realm: URL;
  try {
    realm = new URL(challenge.realm ?? '');
  } catch {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `registry token realm "${challenge.realm ?? ''}" is not a URL`);
  }
  if (realm.protocol !== 'https:' && !(transport.allowHttp && realm.protocol === 'http:')) {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `registry token realm ${realm.origin} is not https; credentials are not sent there`);
  }
  const common = { maxBytes: MAX_TOKEN_RESPONSE, timeoutMs: transport.timeoutMs, agent: transport.agentFor(realm), ...(transport.ca ? { ca: transport.ca } : {}), ...(transport.signal ? { signal: transport.signal } : {}) };
  let res;
  if (credentials?.kind === 'identityToken') {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.token, client_id: 'atproto-verifier', scope });
    if (challenge.service) form.set('service', challenge.service);
    res = await sendHttp({
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
    res = await sendHttp({ ...common, method: 'GET', url, headers });
  }
  if (res.status === 401 || res.status === 403) {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `token service ${realm.origin} refused the credentials (HTTP ${res.status})${bodyExcerpt(res.body)}`);
  }
  if (res.status !== 200) {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `token service ${realm.origin} answered HTTP ${res.status}${bodyExcerpt(res.body)}`);
  }
  let parsed: { token?: unknown; access_token?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(res.body).toString('utf8'));
  } catch {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `token service ${realm.origin} did not answer JSON`);
  }
  const token = typeof parsed.access_token === 'string' && parsed.access_token ? parsed.access_token : parsed.token;
  if (typeof token !== 'string' || token.length === 0) {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `token service ${realm.origin} returned no token`);
  }
  return token;
}
