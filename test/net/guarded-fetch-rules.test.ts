/**
 * Rules of src/net/guarded-fetch.ts at their edges, against an in-process server on loopback:
 * a URL carrying any credential is refused, a bracketed IPv6 literal is judged as the address,
 * allowPrivateNetwork lets a name that resolves to loopback through, the declared size cap is
 * inclusive, a 300 is a redirect like any 3xx, and the request says who and what it asks for.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { checkUrl, guardedFetch } from '../../src/net/guarded-fetch.js';
import { errorOf } from '../harness/error-code.js';

let server: http.Server;
let port = 0;
let seen: http.IncomingHttpHeaders = {};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen = req.headers;
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/sized') {
      const n = Number(url.searchParams.get('n'));
      res.writeHead(200, { 'content-length': String(n) }).end(Buffer.alloc(n, 0x61));
    } else if (url.pathname === '/300') {
      res.writeHead(300, { location: '/sized?n=1' }).end('choices');
    } else res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const PRIVATE = { allowPrivateNetwork: true, timeoutMs: 5000, maxBytes: 100 };
const fetchText = async (path: string, policy = PRIVATE, host = '127.0.0.1') => {
  const res = await guardedFetch({ url: `http://${host}:${port}${path}`, purpose: 'test' }, policy);
  return { status: res.status, text: Buffer.from(res.body).toString() };
};

describe('checkUrl: refused before any I/O', () => {
  it.each([
    ['https://user@pds.example/', 'test: URLs with credentials are refused (pds.example)'],
    ['https://:secret@pds.example/', 'test: URLs with credentials are refused (pds.example)'],
    ['https://user:secret@pds.example/', 'test: URLs with credentials are refused (pds.example)'],
    ['http://pds.example/', 'test: http:// is not allowed for http://pds.example (https only)'],
    ['not a url', 'test: "not a url" is not a valid URL'],
    ['https://[::1]/', 'test: ::1 is a private, loopback or reserved address'],
    ['https://[fe80::1]:8443/', 'test: fe80::1 is a private, loopback or reserved address'],
    ['https://[::ffff:7f00:1]/', 'test: ::ffff:7f00:1 is a private, loopback or reserved address'],
    ['https://10.1.2.3/', 'test: 10.1.2.3 is a private, loopback or reserved address'],
  ])('%s', (url, message) => {
    const err = errorOf(() => checkUrl(url, { allowPrivateNetwork: false }, 'test'));
    expect(err.code).toBe('NETWORK_DENIED');
    expect(err.message).toBe(message);
  });

  it('a public IPv6 literal and a name pass the check (names are judged when they resolve)', () => {
    expect(checkUrl('https://[2606:4700::1111]/', { allowPrivateNetwork: false }, 'test').hostname).toBe('[2606:4700::1111]');
    expect(checkUrl('https://pds.example/', { allowPrivateNetwork: false }, 'test').hostname).toBe('pds.example');
  });
});

describe('fetching', () => {
  it('with allowPrivateNetwork a name that resolves to loopback is fetched', async () => {
    expect(await fetchText('/', PRIVATE, 'localhost')).toEqual({ status: 200, text: 'ok' });
  });

  it('without it the same name is refused when it resolves, naming the address', async () => {
    try {
      await guardedFetch({ url: `https://localhost:${port}/`, purpose: 'test' }, { ...PRIVATE, allowPrivateNetwork: false });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(VerificationError);
      expect((err as VerificationError).code).toBe('NETWORK_DENIED');
    }
  });

  it('a declared length equal to the cap is read; one more is refused', async () => {
    expect((await fetchText('/sized?n=100')).text).toHaveLength(100);
    try {
      await fetchText('/sized?n=101');
      expect.unreachable();
    } catch (err) {
      expect((err as VerificationError).code).toBe('RESPONSE_TOO_LARGE');
    }
  });

  it('a 300 is a redirect: followed, its body never read', async () => {
    expect(await fetchText('/300')).toEqual({ status: 200, text: 'a' });
  });

  it('the request asks for what the caller accepts, and names the verifier', async () => {
    await guardedFetch({ url: `http://127.0.0.1:${port}/`, purpose: 'test', accept: 'application/did+json' }, PRIVATE);
    expect([seen.accept, seen['user-agent']]).toEqual(['application/did+json', 'atproto-verifier']);
    await guardedFetch({ url: `http://127.0.0.1:${port}/`, purpose: 'test' }, PRIVATE);
    expect(seen.accept).toBe('*/*');
  });
});
