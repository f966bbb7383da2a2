/**
 * Rules of one guarded exchange (src/net/guarded-fetch.ts), against real node:http and node:https
 * servers on loopback (allowPrivateNetwork on, as on a test network):
 *   - a body the guard stops reading (a redirect's, one over the cap) is dropped with its
 *     connection at once, not drained in the background until the deadline;
 *   - a body cut short is an error, never a short answer;
 *   - a pooled socket the server closed is retried (ECONNRESET, EPIPE), at most three sends in
 *     all; any other failure, and any failure on a fresh socket, is not;
 *   - messages name the first URL's host (ours) and never a redirect target (the remote's choice),
 *     and say which side stalled: no connection, or connected and silent (also on a reused socket);
 *   - the caller's cancellation is DEADLINE_EXCEEDED, not a network error;
 *   - pools keep sockets alive, 64 per host, and every request is counted.
 */
import { getEventListeners } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { agentFor, closeIdleConnections, guardedFetch, networkStats, parseJsonBody, shareSignal, type FetchPolicy } from '../../src/net/guarded-fetch.js';
import { makeTestCa, type TestCa } from '../harness/certs.js';

const OPEN: FetchPolicy = { allowPrivateNetwork: true, timeoutMs: 5000, maxBytes: 1000 };
const QUICK: FetchPolicy = { ...OPEN, timeoutMs: 300 };

/** Per path, whether the server saw the response it was writing close (the client dropped it). */
const closed = new Map<string, boolean>();
const requestsPerConnection = new Map<Socket, number>();
const methods: string[] = [];
let connections = 0;
const held = new Set<Socket>();

function endless(res: http.ServerResponse): void {
  const chunk = Buffer.alloc(16 * 1024, 0x61);
  const pump = () => {
    while (res.write(chunk)) {
      /* fill the socket */
    }
  };
  res.on('drain', pump);
  pump();
}

let server: http.Server;
let P = 0; // its port
let base = '';
let other = ''; // the same server under another origin (localhost instead of 127.0.0.1)

let ca: TestCa;
let tlsHang: https.Server; // completes the handshake, never answers
let tlsSilent: net.Server; // accepts TCP, never completes the handshake
let refusedPort = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    methods.push(req.method!);
    const n = (requestsPerConnection.get(req.socket) ?? 0) + 1;
    requestsPerConnection.set(req.socket, n);
    const path = url.pathname;
    closed.set(path, false);
    res.on('close', () => closed.set(path, true));
    switch (path) {
      case '/ok':
        res.writeHead(200, { 'content-type': 'application/did+json' }).end('{"ok":true}');
        break;
      case '/to': // redirect to ?url=
        res.writeHead(302, { location: url.searchParams.get('url')! }).end();
        break;
      case '/hops': {
        // ?n= redirects, alternating origins, then /ok
        const left = Number(url.searchParams.get('n'));
        const next = req.headers.host!.startsWith('localhost') ? base : other;
        res.writeHead(302, { location: left > 0 ? `${next}/hops?n=${left - 1}` : '/ok' }).end();
        break;
      }
      case '/no-location':
        res.writeHead(302).end();
        break;
      case '/bad-location':
        res.writeHead(302, { location: 'http://[oops/' }).end();
        break;
      case '/redirect-endless':
        res.writeHead(302, { location: '/ok' });
        endless(res);
        break;
      case '/declared-huge':
        res.writeHead(200, { 'content-length': String(1024 * 1024 * 1024) });
        res.write('x');
        break;
      case '/endless':
        res.writeHead(200);
        endless(res);
        break;
      case '/big':
        res.end(Buffer.alloc(1001, 0x61));
        break;
      case '/truncated':
        res.writeHead(200, { 'content-length': '100' });
        res.write(Buffer.alloc(10, 0x61));
        setTimeout(() => req.socket.destroy(), 20);
        break;
      case '/hang':
        break;
      case '/first-only': // answers the first request of a connection; a later one hangs
        if (n === 1) res.end('first');
        break;
      case '/reset-on-reuse': // answers the first request of a connection; a later one closes it
        if (n === 1) res.end('first');
        else req.socket.destroy();
        break;
      case '/garbage-on-reuse': // answers the first request of a connection; a later one gets no HTTP
        if (n === 1) res.end('first');
        else req.socket.end('NOT HTTP\r\n\r\n');
        break;
      default:
        res.writeHead(404).end();
    }
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s) => {
    connections++;
    held.add(s);
    s.on('close', () => held.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  P = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${P}`;
  other = `http://localhost:${P}`;

  ca = makeTestCa();
  const leaf = ca.issue({ cn: '127.0.0.1', ips: ['127.0.0.1'], dns: ['localhost'] });
  tlsHang = https.createServer({ cert: leaf.cert, key: leaf.key }, () => {});
  tlsHang.on('secureConnection', (s) => held.add(s));
  tlsSilent = net.createServer((s) => held.add(s));
  const refused = net.createServer();
  await Promise.all([tlsHang, tlsSilent, refused].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  refusedPort = (refused.address() as AddressInfo).port;
  await new Promise((r) => refused.close(r));
});

afterAll(async () => {
  closeIdleConnections();
  for (const s of held) s.destroy();
  await Promise.all([server, tlsHang, tlsSilent].map((s) => new Promise((r) => s.close(r))));
  ca.dispose();
});

beforeEach(() => closeIdleConnections());

async function failure(p: Promise<unknown>): Promise<VerificationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VerificationError);
  return err as VerificationError;
}

const get = (url: string, policy: FetchPolicy = OPEN, extra: { signal?: AbortSignal } = {}) => guardedFetch({ url, purpose: 'test', ...extra }, policy);

describe('a body the guard does not read is dropped with its connection at once', () => {
  it.each([
    ['a redirect with an endless body', '/redirect-endless', 200],
    ['a declared length over the cap', '/declared-huge', 'RESPONSE_TOO_LARGE'],
    ['an endless body over the cap', '/endless', 'RESPONSE_TOO_LARGE'],
  ])('%s', async (_, path, outcome) => {
    const result = await get(`${base}${path}`).then(
      (res) => res.status,
      (err: VerificationError) => err.code,
    );
    expect(result).toBe(outcome);
    // The deadline is 5 s away: only the client dropping the response closes it this soon.
    await expect.poll(() => closed.get(path), { timeout: 1500, interval: 20 }).toBe(true);
  });
});

describe('what an answer is', () => {
  it('carries the status, the final URL, the content type and the body (every hop a GET)', async () => {
    methods.length = 0;
    const res = await get(`${base}/to?url=/ok`);
    expect(methods).toEqual(['GET', 'GET']);
    expect({ ...res, body: Buffer.from(res.body).toString() }).toEqual({
      status: 200,
      url: `${base}/ok`,
      contentType: 'application/did+json',
      body: '{"ok":true}',
    });
  });

  it('a body cut short of its declared length is an error, not a short answer', async () => {
    const err = await failure(get(`${base}/truncated`));
    expect([err.code, err.message]).toEqual(['NETWORK_ERROR', `test: 127.0.0.1:${P} failed (ECONNRESET)`]);
  });

  it('a body of the cap is read, one byte more (sent without a declared length) is refused', async () => {
    expect((await get(`${base}/ok`, { ...OPEN, maxBytes: 11 })).body).toHaveLength(11);
    const err = await failure(get(`${base}/big`));
    expect([err.code, err.message]).toEqual(['RESPONSE_TOO_LARGE', `test: 127.0.0.1:${P} sent more than 1000 bytes`]);
  });
});

describe('messages name our host, never a redirect target', () => {
  it.each<[string, () => string, string, string]>([
    ['over the cap after a same-origin redirect', () => `${base}/to?url=/big`, 'RESPONSE_TOO_LARGE', 'test: 127.0.0.1:P sent more than 1000 bytes'],
    ['over the cap at another origin', () => `${base}/to?url=${other}/big`, 'RESPONSE_TOO_LARGE', 'test: the redirect target of 127.0.0.1:P (another origin) sent more than 1000 bytes'],
    ['a redirect without a Location', () => `${base}/no-location`, 'NETWORK_ERROR', 'test: 127.0.0.1:P answered 302 without a Location'],
    ['a redirect without a Location at another origin', () => `${base}/to?url=${other}/no-location`, 'NETWORK_ERROR', 'test: the redirect target of 127.0.0.1:P (another origin) answered 302 without a Location'],
    ['a Location that is no URL', () => `${base}/bad-location`, 'NETWORK_ERROR', 'test: 127.0.0.1:P redirected to an invalid URL'],
    ['a redirect to file:', () => `${base}/to?url=file:///etc/passwd`, 'NETWORK_DENIED', 'test: 127.0.0.1:P redirected to another origin, refused (https only, no credentials in URLs, public addresses only)'],
    ['a redirect to a URL with credentials', () => `${base}/to?url=http://secret-user:pw@127.0.0.1:${P}/ok`, 'NETWORK_DENIED', 'test: 127.0.0.1:P redirected to another origin, refused (https only, no credentials in URLs, public addresses only)'],
    ['four redirects ending at another origin are too many, not a private address', () => `${base}/hops?n=3`, 'NETWORK_DENIED', 'test: more than 3 redirects from 127.0.0.1:P'],
    ['a refused connection', () => `http://127.0.0.1:${refusedPort}/`, 'NETWORK_ERROR', 'test: 127.0.0.1:R failed (ECONNREFUSED)'],
    ['a refused connection at another origin', () => `${base}/to?url=http://localhost:${refusedPort}/`, 'NETWORK_ERROR', 'test: the redirect target of 127.0.0.1:P (another origin) failed (ECONNREFUSED)'],
  ])('%s', async (_, url, code, message) => {
    const err = await failure(get(url()));
    expect([err.code, err.message]).toEqual([code, message.replace(':P', `:${P}`).replace(':R', `:${refusedPort}`)]);
  });

  it('three redirects are followed, across origins', async () => {
    expect((await get(`${base}/hops?n=2`)).status).toBe(200);
  });

  it('the raw error is kept as the cause for our host only (for a redirect target it names that host)', async () => {
    const ours = await failure(get(`http://127.0.0.1:${refusedPort}/`));
    expect((ours.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    const theirs = await failure(get(`${base}/to?url=http://localhost:${refusedPort}/`));
    expect(theirs.cause).toBeUndefined();
  });
});

describe('a deadline says which side stalled', () => {
  const tls = (s: net.Server) => (s.address() as AddressInfo).port;

  it.each<[string, () => string, string]>([
    ['connected and silent', () => `${base}/hang`, 'test: 127.0.0.1:P did not answer within 300 ms'],
    ['connected and silent at another origin', () => `${base}/to?url=${other}/hang`, 'test: the redirect target of 127.0.0.1:P (another origin) did not answer within 300 ms'],
    ['TLS up and silent', () => `https://127.0.0.1:${tls(tlsHang)}/`, 'test: 127.0.0.1:T did not answer within 300 ms'],
    ['TCP up, TLS never: not connected', () => `https://127.0.0.1:${tls(tlsSilent)}/`, 'test: connection timed out to 127.0.0.1:S (not connected after 300 ms; is egress to this port allowed?)'],
    ['not connected at another origin', () => `${base}/to?url=https://localhost:${tls(tlsSilent)}/`, 'test: no connection to the redirect target of 127.0.0.1:P (another origin) within 300 ms'],
  ])('%s', async (_, url, message) => {
    const err = await failure(get(url(), { ...QUICK, ca: ca.cert }));
    expect([err.code, err.message]).toEqual([
      'NETWORK_TIMEOUT',
      message.replace(':P', `:${P}`).replace(':T', `:${tls(tlsHang)}`).replace(':S', `:${tls(tlsSilent)}`),
    ]);
  });

  it('a silent server on a reused keep-alive socket was connected', async () => {
    expect(Buffer.from((await get(`${base}/first-only`, QUICK)).body).toString()).toBe('first');
    const err = await failure(get(`${base}/first-only`, QUICK));
    expect(err.message).toBe(`test: 127.0.0.1:${P} did not answer within 300 ms`);
  });

  it("a caller's signal aborted before the call cancels it before any request", async () => {
    const controller = new AbortController();
    controller.abort();
    const before = networkStats.requests;
    const err = await failure(get(`${base}/ok`, OPEN, { signal: controller.signal }));
    expect([err.code, err.message]).toEqual(['DEADLINE_EXCEEDED', `test: request to 127.0.0.1:${P} was cancelled`]);
    expect(networkStats.requests - before).toBeLessThanOrEqual(1);
  });

  // The provider's per-key signal lives as long as the key's budget, and the long-running process
  // makes millions of exchanges: each must leave no listener on that signal and no pending timer.
  it.each([
    ['answered', '/ok', false],
    ['redirected, then answered', '/hops?n=2', false],
    ['failed', '/declared-huge', true],
  ])('an exchange %s leaves no listener on the caller\'s signal and no timer behind', async (_, path, fails) => {
    const controller = new AbortController();
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const outcome = get(`${base}${path}`, { ...OPEN, timeoutMs: 60_000 }, { signal: controller.signal });
    await (fails ? failure(outcome) : outcome);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(timers()).toBe(before);
  });

  // Node 20 warns of a possible leak past 10 listeners on one AbortSignal (Node 24 no longer does):
  // the provider's per-key signal and the plugin's deadline are shared by design (shareSignal).
  it('30 exchanges at once on a shared signal: no leak warning, and no listener left', async () => {
    const signal = shareSignal(new AbortController().signal);
    const seen: string[] = [];
    const onWarning = (w: Error) => seen.push(w.name);
    process.on('warning', onWarning);
    try {
      await Promise.all(Array.from({ length: 30 }, () => get(`${base}/ok`, OPEN, { signal })));
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(seen).not.toContain('MaxListenersExceededWarning');
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it("the caller's cancellation is not a network failure", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const err = await failure(get(`${base}/hang`, OPEN, { signal: controller.signal }));
    expect([err.code, err.message]).toEqual(['DEADLINE_EXCEEDED', `test: request to 127.0.0.1:${P} was cancelled`]);
  });
});

describe('a pooled socket the server closed is retried; nothing else is', () => {
  /** The idle pooled sockets to our server, each made to fail on its next write with `code`. */
  function breakIdleSockets(code: string): { used: number } {
    const agent = agentFor(OPEN, false) as http.Agent;
    const seen = { used: 0 };
    for (const list of Object.values(agent.freeSockets)) {
      for (const socket of list ?? []) {
        if (socket.remotePort !== P) continue;
        socket.write = (() => {
          seen.used++;
          socket.destroy(Object.assign(new Error(`write ${code}`), { code }));
          return false;
        }) as typeof socket.write;
      }
    }
    return seen;
  }

  /** Opens `n` keep-alive sockets to our server and leaves them idle in the pool. */
  async function idleSockets(n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => get(`${base}/ok`)));
    const agent = agentFor(OPEN, false) as http.Agent;
    expect(Object.values(agent.freeSockets).flat().filter((s) => s!.remotePort === P)).toHaveLength(n);
  }

  it('the server closing a reused socket on the next request: sent again on a new one', async () => {
    await get(`${base}/reset-on-reuse`);
    const before = { connections, requests: networkStats.requests };
    const res = await get(`${base}/reset-on-reuse`);
    expect(Buffer.from(res.body).toString()).toBe('first');
    expect({ connections: connections - before.connections, requests: networkStats.requests - before.requests }).toEqual({ connections: 1, requests: 2 });
  });

  it('a reused socket answering garbage is a failure, not sent again', async () => {
    await get(`${base}/garbage-on-reuse`);
    const before = connections;
    const err = await failure(get(`${base}/garbage-on-reuse`));
    expect([err.code, connections - before]).toEqual(['NETWORK_ERROR', 0]);
    expect(err.message).toMatch(/^test: 127\.0\.0\.1:\d+ failed \(HPE_[A-Z_]+\)$/);
  });

  it.each<[string, boolean]>([
    ['ECONNRESET', true],
    ['EPIPE', true],
    ['ETIMEDOUT', false],
    ['EHOSTUNREACH', false],
  ])('a reused socket failing with %s: sent again %s', async (code, retried) => {
    await idleSockets(1);
    const broken = breakIdleSockets(code);
    const outcome = await get(`${base}/ok`).then(
      (res) => res.status,
      (err: VerificationError) => err.message,
    );
    expect([broken.used, outcome]).toEqual([1, retried ? 200 : `test: 127.0.0.1:${P} failed (${code})`]);
  });

  it('three stale sockets in a row fail the request: it is sent at most three times', async () => {
    await idleSockets(4);
    const broken = breakIdleSockets('ECONNRESET');
    const err = await failure(get(`${base}/ok`));
    expect([broken.used, err.message]).toEqual([3, `test: 127.0.0.1:${P} failed (ECONNRESET)`]);
  });

  it('a failure on a fresh socket is sent once', async () => {
    const before = networkStats.requests;
    await failure(get(`http://127.0.0.1:${refusedPort}/`));
    expect(networkStats.requests - before).toBe(1);
  });
});

describe('pools', () => {
  it('every pool keeps its sockets alive, at most 64 per host', () => {
    for (const allowPrivateNetwork of [false, true]) {
      for (const isHttps of [false, true]) {
        const agent = agentFor({ allowPrivateNetwork }, isHttps) as http.Agent & { keepAlive: boolean };
        expect({ keepAlive: agent.keepAlive, maxSockets: agent.maxSockets }).toEqual({ keepAlive: true, maxSockets: 64 });
      }
    }
  });

  it('two fetches one after the other share one connection, and each is counted', async () => {
    const before = { connections, requests: networkStats.requests };
    await get(`${base}/ok`);
    await get(`${base}/ok`);
    expect({ connections: connections - before.connections, requests: networkStats.requests - before.requests }).toEqual({ connections: 1, requests: 2 });
  });

  it('a redirect hop is a request of its own, on a new connection (the redirect\'s is dropped)', async () => {
    const before = { connections, requests: networkStats.requests };
    await get(`${base}/to?url=/ok`);
    expect({ connections: connections - before.connections, requests: networkStats.requests - before.requests }).toEqual({ connections: 2, requests: 2 });
  });
});

describe('parseJsonBody', () => {
  const answer = (text: string | Uint8Array) => ({ status: 200, url: 'https://pds.example/', contentType: undefined, body: typeof text === 'string' ? new TextEncoder().encode(text) : text });

  it('reads JSON', () => {
    expect(parseJsonBody(answer('{"a":[1]}'), 'test')).toEqual({ a: [1] });
  });

  it.each<[string, Uint8Array | string]>([
    ['not JSON', '{"a":'],
    ['invalid UTF-8 (never replaced by U+FFFD)', new Uint8Array([0x22, 0xff, 0x22])],
  ])('%s is refused in our words, with the caller\'s code', (_, body) => {
    for (const [code, expected] of [[undefined, 'NETWORK_ERROR'], ['DID_RESOLUTION_FAILED', 'DID_RESOLUTION_FAILED']] as const) {
      let err: unknown;
      try {
        parseJsonBody(answer(body), 'test', code);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(VerificationError);
      expect([(err as VerificationError).code, (err as VerificationError).message]).toEqual([expected, 'test: the answer (HTTP 200) is not valid JSON']);
    }
  });
});
