import { createHash } from 'node:crypto';
import http from 'node:http';
import type https from 'node:https';
import type { LookupFunction } from 'node:net';
import { httpsModule } from '../net/lazy-https.js';
import { VerificationError, type ErrorCode } from '../errors.js';
import { checkUrl, guardedLookup } from '../net/guarded-fetch.js';
import { basicHeader, fetchBearerToken, parseChallenge } from './auth.js';
import { BoundedLru } from './bounded-lru.js';
import type { RegistryCredentials } from './docker-config.js';
import { bodyForDebug, sendHttp, type HttpResponse } from './http.js';
import { indexDescriptors, MANIFEST_ACCEPT, OCI_INDEX_MEDIA_TYPE, referrersTag, type Descriptor } from './oci.js';

export interface RegistryClientOptions {
  /** Host and optional port, as in an image reference. */
  registry: string;
  /** Plain HTTP (Ratify's ORAS store `useHttp`); HTTPS otherwise. */
  useHttp?: boolean;
  credentials?: RegistryCredentials;
  /** Per-request deadline. */
  timeoutMs?: number;
  /** Extra CA certificates (PEM) for a registry with a private CA. */
  ca?: string;
  signal?: AbortSignal;
  /**
   * The registry, its redirect targets and its token realm may be private, loopback or
   * link-local addresses (an in-cluster registry; test networks). Off by default: the same
   * address guard as every other fetch (src/net) then applies to each of them.
   */
  allowPrivateNetwork?: boolean;
  /** Where remote bodies and remote-chosen URLs go (debug logs); never into error messages. */
  debug?: (message: string) => void;
}

export interface FetchedManifest {
  bytes: Uint8Array;
  mediaType: string;
  /** The digest of the bytes received, computed here: never the registry's word. */
  digest: string;
}

/** Manifests larger than this are refused (distribution's own limit is 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REFERRER_PAGES = 8;
const MAX_REDIRECTS = 5;
const DEFAULT_TIMEOUT_MS = 10_000;
/** Tokens are cached per repository scope, which callers choose: keep only the most recent. */
export const MAX_CACHED_TOKENS = 64;
/**
 * How long a registry that answered the referrers API with 404 is read through the tag schema
 * without asking the API first (oras-go remembers the same per repository). A registry upgraded
 * meanwhile is found again by the re-probe below, or when this ends.
 */
export const REFERRERS_API_ABSENT_TTL_MS = 5 * 60_000;

export function digestOf(bytes: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Checks that `bytes` hash to `expected`, whichever supported algorithm it names. */
function checkDigest(bytes: Uint8Array, expected: string, what: string): void {
  const algorithm = expected.startsWith('sha512:') ? 'sha512' : 'sha256';
  const actual = digestOf(bytes, algorithm);
  if (actual !== expected) {
    throw new VerificationError('ARTIFACT_DIGEST_MISMATCH', `${what}: the registry served bytes hashing to ${actual}, not ${expected}`);
  }
}

/**
 * A minimal OCI distribution client: what verification and signing need, nothing more. Every
 * manifest and blob is hashed and compared with the digest it was asked by, every response is
 * capped, and credentials only go to the registry or the token realm it names (issue 15):
 * - every URL (the registry, each redirect hop, the token realm) passes the address guard;
 * - a challenge is answered only when the 401 came from the registry's own origin;
 * - the realm is https unless the registry itself is plain http by the operator's choice;
 * - referrers pagination (`Link`) stays on the registry's origin;
 * - error messages carry status codes and our own words, never a remote body or a remote URL.
 */
export class RegistryClient {
  readonly registry: string;
  private readonly base: URL;
  private readonly options: RegistryClientOptions;
  private readonly agent: http.Agent | https.Agent;
  /**
   * This client's own pools for other origins (redirect targets, the token realm), made on first
   * use. Never Node's global agents: their pools are keyed by host:port, so a socket another
   * client opened under a wider network allowance would be reused here with no address check.
   */
  private readonly otherOrigins: { http?: http.Agent; https?: https.Agent } = {};
  /** Authorization header per scope, learned from challenges. */
  private readonly auth = new BoundedLru<string, string>(MAX_CACHED_TOKENS);
  private readonly lookup: LookupFunction;
  /**
   * Until when the referrers API is known absent (a plain HTTP 404: the distribution spec has a
   * registry with the API answer 200 for any repository it holds, whatever the digest, and an OCI
   * error for one it lacks): a long-running verifier then spends one request per image on the tag
   * schema instead of two (issue 12, item 3).
   */
  private referrersApiAbsentUntil = 0;
  /** Requests in progress, so an evicted client closes its connections only once they are done. */
  private active = 0;
  private retired = false;

  constructor(options: RegistryClientOptions) {
    this.options = options;
    this.registry = options.registry;
    // Docker Hub's API host differs from the name used in references.
    const host = options.registry === 'docker.io' ? 'registry-1.docker.io' : options.registry;
    this.base = new URL(`${options.useHttp ? 'http' : 'https'}://${host}`);
    this.agent = options.useHttp ? new http.Agent({ keepAlive: true }) : new (httpsModule().Agent)({ keepAlive: true });
    this.lookup = guardedLookup(options.allowPrivateNetwork === true);
  }

  /** Drops pooled connections so a short-lived process can exit. */
  close(): void {
    this.destroyAgents();
  }

  /** Closes the connections once the requests in progress are done (a pool evicting this client). */
  retire(): void {
    this.retired = true;
    if (this.active === 0) this.destroyAgents();
  }

  private destroyAgents(): void {
    this.agent.destroy();
    this.otherOrigins.http?.destroy();
    this.otherOrigins.https?.destroy();
    delete this.otherOrigins.http;
    delete this.otherOrigins.https;
  }

  /** The pool for an origin other than the registry's: same network allowance as the client. */
  private agentForOtherOrigin(url: URL): http.Agent | https.Agent {
    if (url.protocol === 'https:') return (this.otherOrigins.https ??= new (httpsModule().Agent)({ keepAlive: true }));
    return (this.otherOrigins.http ??= new http.Agent({ keepAlive: true }));
  }

  async getManifest(repository: string, reference: string, opts: { maxBytes?: number; notFound?: ErrorCode } = {}): Promise<FetchedManifest> {
    const res = await this.request('GET', repository, `manifests/${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
      maxBytes: opts.maxBytes ?? MAX_MANIFEST_BYTES,
    });
    const what = `manifest ${this.registry}/${repository}:${reference}`;
    if (res.status === 404) throw new VerificationError(opts.notFound ?? 'REGISTRY_ERROR', `${what} not found (HTTP 404)`);
    this.expect(res, [200], `GET ${what}`);
    const isDigest = reference.includes(':');
    if (isDigest) checkDigest(res.body, reference, what);
    const digest = isDigest ? reference : digestOf(res.body);
    const mediaType = mediaTypeOf(res);
    return { bytes: res.body, mediaType, digest };
  }

  /** Resolves a tag to the digest of the manifest bytes actually served. */
  async resolveDigest(repository: string, tag: string): Promise<string> {
    return (await this.getManifest(repository, tag)).digest;
  }

  async getBlob(repository: string, digest: string, opts: { maxBytes: number; notFound?: ErrorCode }): Promise<Uint8Array> {
    const res = await this.request('GET', repository, `blobs/${digest}`, { maxBytes: opts.maxBytes });
    const what = `blob ${this.registry}/${repository}@${digest}`;
    if (res.status === 404) throw new VerificationError(opts.notFound ?? 'REGISTRY_ERROR', `${what} not found (HTTP 404)`);
    this.expect(res, [200], `GET ${what}`);
    checkDigest(res.body, digest, what);
    return res.body;
  }

  /**
   * Lists the referrers of `digest` with the given artifactType: the referrers API when the
   * registry has it, else the referrers tag schema (distribution 2.8 has only the latter).
   * Filtering is done here too, since a registry may ignore the filter.
   */
  async listReferrers(repository: string, digest: string, artifactType: string): Promise<Descriptor[]> {
    let byTag: Descriptor[] | undefined;
    if (Date.now() < this.referrersApiAbsentUntil) {
      byTag = await this.listReferrersByTag(repository, digest, artifactType);
      // Nothing under the tag: ask the API after all, so a registry that gained the API since
      // (and referrers pushed through it) is never refused on a stale memory.
      if (byTag.length > 0) return byTag;
      this.referrersApiAbsentUntil = 0;
    }
    let path = `referrers/${digest}?artifactType=${encodeURIComponent(artifactType)}`;
    const found: Descriptor[] = [];
    for (let page = 0; page < MAX_REFERRER_PAGES; page++) {
      const res = await this.request('GET', repository, path, { headers: { accept: OCI_INDEX_MEDIA_TYPE }, maxBytes: MAX_MANIFEST_BYTES });
      if (res.status === 404 && page === 0) {
        // Only a 404 that is no OCI error remembers the API as absent: a registry that has it
        // says NAME_UNKNOWN (or the like) for a repository it lacks, and one name anybody can
        // put in a Pod must not send every other repository to the tag schema alone.
        if (!isOciErrorBody(res.body)) this.referrersApiAbsentUntil = Date.now() + REFERRERS_API_ABSENT_TTL_MS;
        return byTag ?? this.listReferrersByTag(repository, digest, artifactType);
      }
      this.expect(res, [200], `GET referrers of ${repository}@${digest}`);
      found.push(...indexDescriptors(parseJson(res.body, `referrers index of ${repository}@${digest}`)));
      const link = res.headers.link;
      const next = nextLink(Array.isArray(link) ? link[0] : link, this.base);
      if (!next) break;
      path = next;
    }
    return found.filter((d) => d.artifactType === artifactType);
  }

  private async listReferrersByTag(repository: string, digest: string, artifactType: string): Promise<Descriptor[]> {
    const index = await this.getTagSchemaIndex(repository, digest);
    return index.filter((d) => d.artifactType === artifactType);
  }

  private async getTagSchemaIndex(repository: string, digest: string): Promise<Descriptor[]> {
    const res = await this.request('GET', repository, `manifests/${referrersTag(digest)}`, {
      headers: { accept: OCI_INDEX_MEDIA_TYPE },
      maxBytes: MAX_MANIFEST_BYTES,
    });
    if (res.status === 404) return [];
    this.expect(res, [200], `GET referrers tag ${referrersTag(digest)} of ${repository}`);
    return indexDescriptors(parseJson(res.body, `referrers tag index of ${repository}@${digest}`));
  }

  /** Uploads a blob (monolithic POST then PUT) unless the registry already has it. */
  async pushBlob(repository: string, bytes: Uint8Array, mediaType = 'application/octet-stream'): Promise<Descriptor> {
    const digest = digestOf(bytes);
    const descriptor = { mediaType, digest, size: bytes.length };
    const head = await this.request('HEAD', repository, `blobs/${digest}`, { maxBytes: 0, push: true });
    if (head.status === 200) return descriptor;
    const start = await this.request('POST', repository, 'blobs/uploads/', { maxBytes: 64 * 1024, push: true });
    this.expect(start, [202], `start blob upload to ${repository}`);
    const location = start.headers.location;
    if (!location) throw new VerificationError('REGISTRY_ERROR', `blob upload to ${repository}: the registry gave no Location`);
    const url = new URL(location, this.base);
    if (url.origin !== this.base.origin) throw new VerificationError('REGISTRY_ERROR', `blob upload to ${repository}: refusing upload location on ${url.origin}`);
    url.searchParams.set('digest', digest);
    const put = await this.requestUrl('PUT', url, repository, {
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
      maxBytes: 64 * 1024,
      push: true,
    });
    this.expect(put, [201], `upload blob ${digest} to ${repository}`);
    return descriptor;
  }

  /** Pushes manifest bytes under a tag or digest; returns the digest of those bytes. */
  async pushManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<string> {
    const digest = digestOf(bytes);
    if (reference.includes(':') && reference !== digest) {
      throw new VerificationError('INPUT_INVALID', `manifest bytes hash to ${digest}, not ${reference}`);
    }
    const res = await this.request('PUT', repository, `manifests/${reference}`, {
      headers: { 'content-type': mediaType },
      body: bytes,
      maxBytes: 64 * 1024,
      push: true,
    });
    this.expect(res, [201], `push manifest ${repository}:${reference}`);
    return digest;
  }

  /** Adds `descriptor` to the referrers tag-schema index of `subjectDigest` (read, merge, write). */
  async addReferrerToTagSchemaIndex(repository: string, subjectDigest: string, descriptor: Descriptor): Promise<void> {
    const existing = await this.getTagSchemaIndex(repository, subjectDigest);
    if (existing.some((d) => d.digest === descriptor.digest)) return;
    const index = { schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests: [...existing, descriptor] };
    await this.pushManifest(repository, referrersTag(subjectDigest), new TextEncoder().encode(JSON.stringify(index)), OCI_INDEX_MEDIA_TYPE);
  }

  private expect(res: HttpResponse, ok: number[], what: string): void {
    if (ok.includes(res.status)) return;
    // The body may be anything the host chose (an internal service's answer): debug logs only.
    if (res.body.length > 0) this.options.debug?.(`${what}: ${this.registry} answered HTTP ${res.status} with body ${bodyForDebug(res.body)}`);
    if (res.status === 401 || res.status === 403) {
      throw new VerificationError('REGISTRY_AUTH_FAILED', `${what}: ${this.registry} refused access (HTTP ${res.status})`);
    }
    throw new VerificationError('REGISTRY_ERROR', `${what}: ${this.registry} answered HTTP ${res.status}`);
  }

  private request(
    method: 'GET' | 'HEAD' | 'POST' | 'PUT',
    repository: string,
    path: string,
    opts: { headers?: Record<string, string>; body?: Uint8Array; maxBytes: number; push?: boolean },
  ): Promise<HttpResponse> {
    const url = path.startsWith('/') ? new URL(path, this.base) : new URL(`/v2/${repository}/${path}`, this.base);
    return this.requestUrl(method, url, repository, opts);
  }

  /** Sends with the scope's credentials, answers one auth challenge, follows GET redirects. */
  private async requestUrl(
    method: 'GET' | 'HEAD' | 'POST' | 'PUT',
    url: URL,
    repository: string,
    opts: { headers?: Record<string, string>; body?: Uint8Array; maxBytes: number; push?: boolean },
  ): Promise<HttpResponse> {
    const scope = `repository:${repository}:${opts.push ? 'pull,push' : 'pull'}`;
    this.active++;
    try {
      let answer = await this.send(method, url, opts, this.auth.get(scope));
      if (answer.res.status === 401) {
        if (answer.url.origin !== this.base.origin) {
          // A host the registry redirected to wants credentials: they are the registry's, not its.
          this.options.debug?.(`${this.registry}: ${answer.url.origin} (a redirect target) asked for credentials; none sent`);
          throw new VerificationError(
            'REGISTRY_AUTH_FAILED',
            `${method} ${url.pathname}: a host ${this.registry} redirected to asked for credentials; the registry's credentials are only sent to its own origin`,
          );
        }
        const authorization = await this.answerChallenge(answer.res, scope);
        if (authorization) {
          this.auth.set(scope, authorization);
          answer = await this.send(method, url, opts, authorization);
        }
      }
      return answer.res;
    } finally {
      this.active--;
      if (this.retired && this.active === 0) this.destroyAgents();
    }
  }

  /**
   * The address guard for one hop: scheme, IP literal (DNS answers are checked by `lookup`).
   * A redirect target is the remote's choice: refused in our words, named in debug logs only.
   */
  private guard(target: URL, method: string, path: string, redirected: boolean): void {
    try {
      checkUrl(target.toString(), { allowPrivateNetwork: this.options.allowPrivateNetwork === true, allowHttp: this.options.useHttp === true }, `registry ${this.registry}`);
    } catch (err) {
      if (!redirected) throw err;
      this.options.debug?.(`${this.registry}: refused redirect to ${target.origin}: ${(err as Error).message}`);
      throw new VerificationError(
        'NETWORK_DENIED',
        `${method} ${path}: ${this.registry} redirected to an address the network policy refuses (private, loopback, link-local, metadata, or not https)`,
      );
    }
  }

  private async send(
    method: 'GET' | 'HEAD' | 'POST' | 'PUT',
    url: URL,
    opts: { headers?: Record<string, string>; body?: Uint8Array; maxBytes: number },
    authorization: string | undefined,
  ): Promise<{ res: HttpResponse; url: URL }> {
    let target = url;
    for (let hop = 0; ; hop++) {
      this.guard(target, method, url.pathname, hop > 0);
      // Credentials never follow a redirect to another origin (blob storage, CDNs).
      const sameOrigin = target.origin === this.base.origin;
      const headers = { ...opts.headers, ...(authorization && sameOrigin ? { authorization } : {}) };
      const res = await sendHttp({
        method,
        url: target,
        headers,
        maxBytes: opts.maxBytes,
        timeoutMs: this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        agent: sameOrigin ? this.agent : this.agentForOtherOrigin(target),
        lookup: this.lookup,
        ...(sameOrigin ? {} : { label: `${method} ${url.pathname} (after a redirect from ${this.registry})` }),
        ...(opts.body ? { body: opts.body } : {}),
        ...(this.options.ca ? { ca: this.options.ca } : {}),
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      }).catch((err: unknown) => {
        // The DNS guard names the host and its address: for a redirect target, those are the remote's words.
        if (hop === 0 || !(err instanceof VerificationError) || err.code !== 'NETWORK_DENIED') throw err;
        this.options.debug?.(`${this.registry}: refused redirect to ${target.origin}: ${err.message}`);
        throw new VerificationError('NETWORK_DENIED', `${method} ${url.pathname}: ${this.registry} redirected to a host that resolves to an address the network policy refuses`);
      });
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || !location || (method !== 'GET' && method !== 'HEAD')) return { res, url: target };
      if (hop >= MAX_REDIRECTS) throw new VerificationError('REGISTRY_ERROR', `${method} ${url.pathname}: more than ${MAX_REDIRECTS} redirects`);
      try {
        target = new URL(location, target);
      } catch {
        throw new VerificationError('REGISTRY_ERROR', `${method} ${url.pathname}: ${this.registry} redirected to something that is not a URL`);
      }
    }
  }

  private async answerChallenge(res: HttpResponse, scope: string): Promise<string | undefined> {
    const header = res.headers['www-authenticate'];
    const challenge = parseChallenge(Array.isArray(header) ? header[0] : header);
    const credentials = this.options.credentials;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      if (credentials?.kind !== 'basic') {
        throw new VerificationError(
          'REGISTRY_AUTH_FAILED',
          `${this.registry} requires Basic credentials and none are configured for it in the docker config.json`,
        );
      }
      return basicHeader(credentials.username, credentials.password);
    }
    const token = await fetchBearerToken(challenge, challenge.scope ?? scope, credentials, {
      registry: this.registry,
      agentFor: (u) => this.agentForOtherOrigin(u),
      timeoutMs: this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      allowHttp: this.options.useHttp === true,
      allowPrivateNetwork: this.options.allowPrivateNetwork === true,
      lookup: this.lookup,
      ...(this.options.debug ? { debug: this.options.debug } : {}),
      ...(this.options.ca ? { ca: this.options.ca } : {}),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
    return `Bearer ${token}`;
  }
}

function mediaTypeOf(res: HttpResponse): string {
  const header = res.headers['content-type'];
  const fromHeader = (Array.isArray(header) ? header[0] : header)?.split(';')[0]?.trim();
  try {
    const parsed = JSON.parse(Buffer.from(res.body).toString('utf8')) as { mediaType?: unknown };
    if (typeof parsed.mediaType === 'string') return parsed.mediaType;
  } catch {
    // Not JSON: the caller's own parsing reports it.
  }
  return fromHeader ?? 'application/octet-stream';
}

/**
 * True for an OCI distribution error response (`{"errors": [...]}`): the registry's own answer
 * about a repository or digest. A registry without the referrers API has no route there, and
 * answers as its HTTP router does (distribution 2.8: text/plain "404 page not found").
 */
function isOciErrorBody(body: Uint8Array): boolean {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(body)) as { errors?: unknown } | null;
    return typeof parsed === 'object' && parsed !== null && Array.isArray(parsed.errors);
  } catch {
    return false;
  }
}

function parseJson(body: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new VerificationError('REGISTRY_ERROR', `${what} is not valid JSON`);
  }
}

/**
 * The path of a `Link: <...>; rel="next"` header (referrers API pagination). It must stay on the
 * registry: an origin-relative path under /v2/, or an absolute URL of the registry's own origin.
 * A protocol-relative `//host/...` or another origin is refused, never followed.
 */
export function nextLink(header: string | undefined, base: URL): string | undefined {
  const match = header ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(header) : null;
  if (!match) return undefined;
  const target = match[1]!.trim();
  const refuse = () => new VerificationError('REGISTRY_ERROR', 'the referrers list points its next page off the registry (Link header); refused');
  if (target.startsWith('//') || target.startsWith('\\')) throw refuse();
  let url: URL;
  try {
    url = new URL(target, base);
  } catch {
    throw refuse();
  }
  if (url.origin !== base.origin || !url.pathname.startsWith('/v2/') || url.pathname.startsWith('//')) throw refuse();
  return `${url.pathname}${url.search}`;
}
