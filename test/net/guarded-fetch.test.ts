import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { isNonPublicAddress } from '../../src/net/address-policy.js';
import { checkUrl, guardedFetch, type FetchPolicy } from '../../src/net/guarded-fetch.js';

// Real HTTP servers on loopback, each misbehaving in one way an attacker-chosen host could.
let server: http.Server;
let base: string;
const sockets = new Set<import('node:net').Socket>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    switch (url.pathname) {
      case '/ok':
        res.end('{"ok":true}');
        break;
      case '/redirect': {
        const n = Number(url.searchParams.get('n'));
        res.writeHead(302, { location: n > 0 ? `/redirect?n=${n - 1}` : '/ok' }).end();
        break;
      }
      case '/redirect-file':
        res.writeHead(302, { location: 'file:///etc/passwd' }).end();
        break;
      case '/declared-huge':
        res.writeHead(200, { 'content-length': String(1024 * 1024 * 1024) });
        res.write('x');
        break;
      case '/endless': {
        // Chunked, never-ending: the cap must stop reading while streaming.
        res.writeHead(200);
        const chunk = Buffer.alloc(16 * 1024, 0x61);
        const pump = () => {
          while (res.write(chunk)) {
            /* fill the socket */
          }
        };
        res.on('drain', pump);
        pump();
        break;
      }
      case '/hang':
        break; // never answers
      case '/drip': {
        res.writeHead(200);
        const timer = setInterval(() => res.write('x'), 50);
        res.on('close', () => clearInterval(timer));
        break;
      }
      default:
        res.writeHead(404).end();
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

const open: FetchPolicy = { allowPrivateNetwork: true, timeoutMs: 2000, maxBytes: 64 * 1024 };

async function failure(p: Promise<unknown>): Promise<VerificationError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(VerificationError);
    return err as VerificationError;
  }
  throw new Error('expected a failure');
}

describe('guarded fetch', () => {
  it('fetches from a test network when allowPrivateNetwork is set', async () => {
    const res = await guardedFetch({ url: `${base}/ok`, purpose: 'test' }, open);
    expect(res.status).toBe(200);
    expect(new TextDecoder().decode(res.body)).toBe('{"ok":true}');
  });

  it('refuses loopback IP literals, plain http, and names that resolve to loopback', async () => {
    const strict = { ...open, allowPrivateNetwork: false };
    expect((await failure(guardedFetch({ url: `${base}/ok`, purpose: 't' }, strict))).code).toBe('NETWORK_DENIED');
    expect((await failure(guardedFetch({ url: 'https://127.0.0.1/ok', purpose: 't' }, strict))).code).toBe('NETWORK_DENIED');
    expect((await failure(guardedFetch({ url: 'https://[::ffff:127.0.0.1]/', purpose: 't' }, strict))).code).toBe('NETWORK_DENIED');
    // localhost is a name: the DNS answer (127.0.0.1 / ::1) is what gets refused.
    const dns = await failure(guardedFetch({ url: 'https://localhost:1/', purpose: 't' }, strict));
    expect(dns.code).toBe('NETWORK_DENIED');
    expect(dns.message).toMatch(/resolves to/);
  });

  it('refuses URLs with credentials and non-http schemes', () => {
    expect(() => checkUrl('https://user:pw@example.com/', { allowPrivateNetwork: false }, 't')).toThrow(/credentials/);
    expect(() => checkUrl('file:///etc/passwd', { allowPrivateNetwork: true }, 't')).toThrow(VerificationError);
    expect(() => checkUrl('ftp://example.com/', { allowPrivateNetwork: true }, 't')).toThrow(VerificationError);
  });

  it('follows at most three redirects, each re-checked', async () => {
    expect((await guardedFetch({ url: `${base}/redirect?n=2`, purpose: 't' }, open)).status).toBe(200);
    const tooMany = await failure(guardedFetch({ url: `${base}/redirect?n=3`, purpose: 't' }, open));
    expect(tooMany.code).toBe('NETWORK_DENIED');
    expect(tooMany.message).toMatch(/more than 3 redirects/);
    expect((await failure(guardedFetch({ url: `${base}/redirect-file`, purpose: 't' }, open))).code).toBe('NETWORK_DENIED');
  });

  it('caps bodies: a declared huge length is refused up front, an endless body while streaming', async () => {
    expect((await failure(guardedFetch({ url: `${base}/declared-huge`, purpose: 't' }, open))).code).toBe('RESPONSE_TOO_LARGE');
    const started = Date.now();
    expect((await failure(guardedFetch({ url: `${base}/endless`, purpose: 't' }, open))).code).toBe('RESPONSE_TOO_LARGE');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('times out a host that never answers and one that drips bytes', async () => {
    const quick = { ...open, timeoutMs: 300 };
    expect((await failure(guardedFetch({ url: `${base}/hang`, purpose: 't' }, quick))).code).toBe('NETWORK_TIMEOUT');
    expect((await failure(guardedFetch({ url: `${base}/drip`, purpose: 't' }, quick))).code).toBe('NETWORK_TIMEOUT');
  });

  it('reports a refused connection as a network error naming the host', async () => {
    const err = await failure(guardedFetch({ url: 'http://127.0.0.1:9/', purpose: 'PLC directory' }, open));
    expect(err.code).toBe('NETWORK_ERROR');
    expect(err.message).toMatch(/PLC directory: 127\.0\.0\.1:9/);
  });
});

describe('address policy', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['224.0.0.1', true],
    ['8.8.8.8', false],
    ['::1', true],
    ['::', true],
    ['fe80::1', true],
    ['fd00::1', true],
    ['::ffff:10.0.0.1', true],
    ['::ffff:a00:1', true],
    ['64:ff9b::7f00:1', true],
    ['::ffff:8.8.8.8', false],
    ['2606:4700::1111', false],
    ['not-an-ip', true],
  ])('%s non-public: %s', (address, expected) => {
    expect(isNonPublicAddress(address)).toBe(expected);
  });
});
