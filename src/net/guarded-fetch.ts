import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import type https from 'node:https';
import { isIPv4, type LookupFunction } from 'node:net';
import { VerificationError, type ErrorCode } from '../errors.js';
import { isNonPublicAddress } from './address-policy.js';
import { connectionTimedOut } from './connection-timeout.js';
import { httpsModule } from './lazy-https.js';

/**
 * The one door through which the engine reaches URLs that an attacker can influence (PLC
 * directory answers, did:web hosts, PDS endpoints from DID documents, handle well-knowns).
 * It enforces, per request: https only, public addresses only (checked on every DNS answer and
 * pinned for the connection, so DNS rebinding cannot swap the address after the check), at most
 * three redirects each re-checked, a byte cap enforced while streaming, and one deadline for the
 * whole exchange. `allowPrivateNetwork` lifts the address and scheme rules for test networks.
 */
export interface FetchPolicy {
  allowPrivateNetwork: boolean;
  timeoutMs: number;
  maxBytes: number;
  /** Extra CA certificates (PEM) to trust, e.g. a private did:web host's CA. */
  ca?: string;
}

export interface FetchRequest {
  url: string;
  /** What is being fetched, for messages: "PLC directory", "PDS getRecord", ... */
  purpose: string;
  accept?: string;
  signal?: AbortSignal;
}

export interface FetchedResponse {
  status: number;
  url: string;
  contentType: string | undefined;
  body: Uint8Array;
}

export const MAX_REDIRECTS = 3;

/** Counts outbound requests so the benchmark can report round trips. */
export const networkStats = { requests: 0 };

// Keep-alive pools, one per network allowance: a pooled socket is reused without a DNS lookup, so
// the address check it passed must be the one the next request would have to pass. A socket a
// private-network-allowed caller opened to an internal host is never handed to a public-only one.
// The https pools are made on the first https request (node:https is loaded lazily, see lazy-https.ts).
interface Pools {
  http: http.Agent | undefined;
  https: https.Agent | undefined;
}
const pools: { public: Pools; private: Pools } = { public: { http: undefined, https: undefined }, private: { http: undefined, https: undefined } };

function poolFor(allowPrivateNetwork: boolean, isHttps: boolean): http.Agent {
  const p = allowPrivateNetwork ? pools.private : pools.public;
  if (isHttps) return (p.https ??= new (httpsModule().Agent)({ keepAlive: true, maxSockets: 64 }));
  return (p.http ??= new http.Agent({ keepAlive: true, maxSockets: 64 }));
}

/**
 * The agent for one request. With extra CA certificates (a private did:web host, tests) no pool is
 * used (`agent: false`): never Node's process-wide global agent, whose pool ignores the allowance.
 */
export function agentFor(policy: Pick<FetchPolicy, 'allowPrivateNetwork' | 'ca'>, isHttps: boolean): http.Agent | false {
  return policy.ca ? false : poolFor(policy.allowPrivateNetwork, isHttps);
}

/**
 * For the owner of a signal that many exchanges share at once (the provider's per-key signal, the
 * plugin's deadline; a k-of-n policy fetches k signers' handles and proofs together): each
 * exchange in flight listens on it and removes its listener when done (test/net), so Node's
 * warning of a possible leak past 10 listeners would only mislead the operator.
 */
export function shareSignal(signal: AbortSignal): AbortSignal {
  setMaxListeners(0, signal);
  return signal;
}

/** Closes pooled connections, so a short-lived process exits at once. */
export function closeIdleConnections(): void {
  for (const p of [pools.public, pools.private]) {
    p.http?.destroy();
    p.https?.destroy();
    p.http = undefined;
    p.https = undefined;
  }
}

/**
 * Rejects a URL before any I/O: scheme, credentials, and IP-literal hosts. `allowHttp` (default:
 * allowPrivateNetwork) lets a registry the operator declared plain-http be reached over http.
 */
export function checkUrl(raw: string, policy: Pick<FetchPolicy, 'allowPrivateNetwork'> & { allowHttp?: boolean }, purpose: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new VerificationError('NETWORK_DENIED', `${purpose}: "${raw}" is not a valid URL`);
  }
  if (url.protocol !== 'https:' && !((policy.allowHttp ?? policy.allowPrivateNetwork) && url.protocol === 'http:')) {
    throw new VerificationError('NETWORK_DENIED', `${purpose}: ${url.protocol}// is not allowed for ${url.origin} (https only)`);
  }
  if (url.username || url.password) {
    throw new VerificationError('NETWORK_DENIED', `${purpose}: URLs with credentials are refused (${url.host})`);
  }
  // The URL parser brackets IPv6 literals and canonicalises IPv4 ones (0x7f.1, 2130706433 and 0177.0.0.1
  // all become 127.0.0.1), so a host name is told apart without net.isIPv6, whose first call compiles a
  // large regular expression (~4 ms per process).
  const bracketed = url.hostname.startsWith('[');
  const host = bracketed ? url.hostname.slice(1, -1) : url.hostname;
  const literal = bracketed || isIPv4(host);
  if (literal && !policy.allowPrivateNetwork && isNonPublicAddress(host)) {
    throw new VerificationError('NETWORK_DENIED', `${purpose}: ${host} is a private, loopback or reserved address`);
  }
  return url;
}

/** Every address a name resolves to (node:dns lookup with all: true). */
export type ResolveAll = (
  hostname: string,
  options: { all: true; family: number | 'IPv4' | 'IPv6' },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * The DNS guard's refusal. It names the host and the address, which is right for the first URL
 * (ours) and wrong for a redirect target (the remote's choice): guardedFetch tells it apart by class.
 */
class NonPublicAnswer extends VerificationError {}

/**
 * A DNS lookup that refuses names resolving to non-public addresses, before connecting. Every
 * answer is judged, not just the one connected to: a name with one public and one private answer
 * is refused whole. `resolve` is node:dns (tests pass their own answers).
 */
export function guardedLookup(allowPrivateNetwork: boolean, resolve: ResolveAll = dnsLookup as ResolveAll): LookupFunction {
  return (hostname, options, callback) => {
    // With an error, node:net reads neither address nor family.
    const fail = (err: NodeJS.ErrnoException) => callback(err, '', 0);
    resolve(hostname, { all: true, family: options.family ?? 0 }, (err, list) => {
      if (err) return fail(err);
      if (!allowPrivateNetwork) {
        const bad = list.find((a) => isNonPublicAddress(a.address));
        if (bad) {
          const denied = new NonPublicAnswer('NETWORK_DENIED', `${hostname} resolves to ${bad.address}, a private, loopback or reserved address`);
          return fail(denied as unknown as NodeJS.ErrnoException);
        }
      }
      if (list.length === 0) return fail(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }));
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      return callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

interface RawResponse {
  status: number;
  location: string | undefined;
  contentType: string | undefined;
  body: Uint8Array;
}

/** Whether the current exchange got its connection up, so a deadline can say which side stalled. */
interface Progress {
  /** Set by each request: false until its socket is connected (TCP, and TLS for https). */
  connected?: boolean;
}

function requestOnce(url: URL, req: FetchRequest, policy: FetchPolicy, signal: AbortSignal, progress: Progress): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const isHttps = url.protocol === 'https:';
    progress.connected = false;
    networkStats.requests++;
    // GET: http.request's default method.
    const r = (isHttps ? httpsModule() : http).request(url, {
      agent: agentFor(policy, isHttps),
      ...(policy.ca ? { ca: policy.ca } : {}),
      lookup: guardedLookup(policy.allowPrivateNetwork),
      headers: { accept: req.accept ?? '*/*', 'user-agent': 'atproto-verifier' },
      signal,
    });
    r.on('socket', (socket) => {
      if (r.reusedSocket) progress.connected = true;
      else socket.once(isHttps ? 'secureConnect' : 'connect', () => (progress.connected = true));
    });
    // A pooled keep-alive connection the server has meanwhile closed fails before any answer.
    r.on('error', (err) => reject(r.reusedSocket && isStaleConnectionError(err) ? new StaleConnection(err) : err));
    r.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        // A redirect's body is never read: drop the connection instead of draining a hostile,
        // endless body in the background until the deadline.
        res.destroy();
        resolve({ status, location: res.headers.location, contentType: undefined, body: new Uint8Array() });
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > policy.maxBytes) {
        res.destroy();
        reject(tooLarge(req, url, policy));
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > policy.maxBytes) {
          res.destroy();
          reject(tooLarge(req, url, policy));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status,
          location: undefined,
          contentType: res.headers['content-type'],
          body: new Uint8Array(Buffer.concat(chunks)),
        }),
      );
    });
    r.end();
  });
}

/** The request went out on a reused keep-alive socket that turned out to be closed by the server. */
class StaleConnection {
  constructor(readonly original: Error) {}
}

function isStaleConnectionError(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ECONNRESET' || err.code === 'EPIPE';
}

/**
 * GET is idempotent, so a request that met a stale pooled connection is sent again (Node's http
 * docs advise this for reusedSocket + ECONNRESET); otherwise a server closing idle connections
 * would fail verifications at random. Each retry takes a fresh or another pooled socket.
 */
async function requestOnceOnLiveConnection(url: URL, req: FetchRequest, policy: FetchPolicy, signal: AbortSignal, progress: Progress): Promise<RawResponse> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await requestOnce(url, req, policy, signal, progress);
    } catch (err) {
      if (!(err instanceof StaleConnection)) throw err;
      if (attempt >= 2 || signal.aborted) throw err.original;
    }
  }
}

function tooLarge(req: FetchRequest, url: URL, policy: FetchPolicy): VerificationError {
  return new VerificationError('RESPONSE_TOO_LARGE', `${req.purpose}: ${where(url, new URL(req.url))} sent more than ${policy.maxBytes} bytes`);
}

/**
 * Names where a request went, in our words only (issue 15: nothing a remote host says reaches the
 * caller). The first URL is ours (policy, settings, a DID document); a redirect target is the
 * remote's choice and is never named in a message.
 */
function where(url: URL, start: URL): string {
  return url.origin === start.origin ? url.host : `the redirect target of ${start.host} (another origin)`;
}

/** GET with every guard applied; resolves with any HTTP status, rejects only with a VerificationError. */
export async function guardedFetch(req: FetchRequest, policy: FetchPolicy): Promise<FetchedResponse> {
  const start = checkUrl(req.url, policy, req.purpose);
  // One deadline for the whole exchange, redirects included, or the caller's cancellation. A
  // controller and a timer cleared on return, not AbortSignal.timeout and AbortSignal.any: that
  // timer outlives the request and fires a DOMException later, about 0.05 ms of CPU per request.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, policy.timeoutMs);
  const cancel = () => controller.abort();
  if (req.signal?.aborted) cancel();
  else req.signal?.addEventListener('abort', cancel); // removed in finally
  const signal = controller.signal;
  let url = start;
  const progress: Progress = {};
  try {
    for (let hop = 0; ; hop++) {
      const res = await requestOnceOnLiveConnection(url, req, policy, signal, progress);
      if (res.status < 300 || res.status >= 400) {
        return { status: res.status, url: url.toString(), contentType: res.contentType, body: res.body };
      }
      if (!res.location) {
        throw new VerificationError('NETWORK_ERROR', `${req.purpose}: ${where(url, start)} answered ${res.status} without a Location`);
      }
      if (hop >= MAX_REDIRECTS) {
        throw new VerificationError('NETWORK_DENIED', `${req.purpose}: more than ${MAX_REDIRECTS} redirects from ${start.host}`);
      }
      url = checkRedirect(res.location, url, start, req, policy);
    }
  } catch (err) {
    throw describeFailure(err, req, url, start, policy, timedOut, progress);
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener('abort', cancel);
  }
}

/** A redirect target re-checked like the first URL; a refusal says why without naming the target. */
function checkRedirect(location: string, from: URL, start: URL, req: FetchRequest, policy: FetchPolicy): URL {
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    throw new VerificationError('NETWORK_ERROR', `${req.purpose}: ${start.host} redirected to an invalid URL`);
  }
  try {
    return checkUrl(target.toString(), policy, req.purpose);
  } catch {
    // checkUrl refuses only with NETWORK_DENIED, in a message that names the target.
    throw new VerificationError(
      'NETWORK_DENIED',
      `${req.purpose}: ${start.host} redirected to another origin, refused (https only, no credentials in URLs, public addresses only)`,
    );
  }
}

/** A Node error code is our runtime's word; anything else in an error message may quote the remote. */
const ERRNO_CODE = /^[A-Z][A-Z0-9_]{1,40}$/;

function describeFailure(
  err: unknown,
  req: FetchRequest,
  url: URL,
  start: URL,
  policy: FetchPolicy,
  timedOut: boolean,
  progress: Progress,
): VerificationError {
  // The DNS guard names the host and its address: for a redirect target, the remote's choice.
  if (err instanceof NonPublicAnswer && url.origin !== start.origin) {
    return new VerificationError('NETWORK_DENIED', `${req.purpose}: ${start.host} redirected to another origin that resolves to a private, loopback or reserved address`);
  }
  if (err instanceof VerificationError) return err;
  if (timedOut) {
    const what = progress.connected
      ? `${where(url, start)} did not answer within ${policy.timeoutMs} ms`
      : url.origin === start.origin
        ? connectionTimedOut(url, policy.timeoutMs)
        : `no connection to ${where(url, start)} within ${policy.timeoutMs} ms`;
    return new VerificationError('NETWORK_TIMEOUT', `${req.purpose}: ${what}`);
  }
  if (req.signal?.aborted) {
    return new VerificationError('DEADLINE_EXCEEDED', `${req.purpose}: request to ${where(url, start)} was cancelled`);
  }
  // Everything thrown in guardedFetch is an Error (Node's, an AbortError, ours); one without a code reads "undefined".
  const code = String((err as NodeJS.ErrnoException).code);
  // TLS and parser errors quote certificate names and raw bytes the server sent: the code alone.
  const detail = ERRNO_CODE.test(code) ? code : 'connection error';
  // The raw error of a redirect target names that host (getaddrinfo ENOTFOUND <host>): not kept as cause.
  const cause = url.origin === start.origin ? { cause: err } : {};
  return new VerificationError('NETWORK_ERROR', `${req.purpose}: ${where(url, start)} failed (${detail})`, cause);
}

/** Parses a JSON body; on failure says so in our words (the final URL may be a redirect target). */
export function parseJsonBody(res: FetchedResponse, purpose: string, code: ErrorCode = 'NETWORK_ERROR'): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(res.body));
  } catch {
    throw new VerificationError(code, `${purpose}: the answer (HTTP ${res.status}) is not valid JSON`);
  }
}
