/**
 * guardedFetch with allowPrivateNetwork off, seen from a "public" host. There is none on a test
 * machine, so two seams stand in (as in test/faults/ssrf.test.ts): 127.0.0.2 counts as public, and
 * node:dns answers for a few invented names. Rules pinned:
 *   - a redirect target whose DNS answer is private is refused without naming the target or its
 *     address (the remote's choice); the first URL's own refusal names host and address (ours);
 *   - one private answer among public ones refuses the name;
 *   - an error without a Node error code is reported as "connection error", its text dropped.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FetchPolicy } from '../../src/net/guarded-fetch.js';
import { makeTestCa, type TestCa } from '../harness/certs.js';

vi.mock('../../src/net/address-policy.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/net/address-policy.js')>();
  return { ...real, isNonPublicAddress: (address: string) => (address === '127.0.0.2' ? false : real.isNonPublicAddress(address)) };
});

vi.mock('node:dns', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:dns')>();
  const answers: Record<string, { address: string; family: number }[] | Error> = {
    'public.example': [{ address: '127.0.0.2', family: 4 }],
    'private.example': [{ address: '10.0.0.5', family: 4 }],
    'rebind.example': [
      { address: '127.0.0.2', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ],
    'odd.example': new Error('resolver says: <remote text>'),
  };
  const lookup = (hostname: string, options: unknown, callback: (...args: unknown[]) => void) => {
    const answer = answers[hostname];
    if (!answer) return (real.lookup as (...args: unknown[]) => void)(hostname, options, callback);
    process.nextTick(() => (answer instanceof Error ? callback(answer, []) : callback(null, answer)));
  };
  return { ...real, default: { ...real, lookup }, lookup };
});

// The mutation run shares one module graph between test files (isolate: false), in which
// guarded-fetch was loaded with the real node:dns: load a fresh copy that sees the seams.
vi.resetModules();
const { guardedFetch, closeIdleConnections } = await import('../../src/net/guarded-fetch.js');
const { VerificationError } = await import('../../src/errors.js');
type VerificationError = InstanceType<typeof VerificationError>;

let ca: TestCa;
let server: https.Server;
let port = 0;
const sockets = new Set<Duplex>();

beforeAll(async () => {
  ca = makeTestCa();
  const leaf = ca.issue({ cn: 'public.example', dns: ['public.example', 'private.example', 'rebind.example', 'odd.example'] });
  server = https.createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    const url = new URL(req.url!, 'https://x');
    if (url.pathname === '/to') res.writeHead(302, { location: url.searchParams.get('url')! }).end();
    else res.end('public');
  });
  server.on('secureConnection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  closeIdleConnections();
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
  ca.dispose();
  // Leave no seam behind for the test files after this one in the shared module graph.
  vi.doUnmock('../../src/net/address-policy.js');
  vi.doUnmock('node:dns');
  vi.resetModules();
});

const PUBLIC_ONLY = (): FetchPolicy => ({ allowPrivateNetwork: false, timeoutMs: 3000, maxBytes: 1000, ca: ca.cert });

async function outcome(url: string): Promise<{ code: string; message: string } | string> {
  try {
    return Buffer.from((await guardedFetch({ url, purpose: 'test' }, PUBLIC_ONLY())).body).toString();
  } catch (err) {
    expect(err).toBeInstanceOf(VerificationError);
    return { code: (err as VerificationError).code, message: (err as VerificationError).message };
  }
}

describe('public only, from a public host', () => {
  it('the public host is fetched (the seams work)', async () => {
    expect(await outcome(`https://public.example:${port}/ok`)).toBe('public');
  });

  it('a redirect to a name that resolves privately is refused without naming it or its address', async () => {
    expect(await outcome(`https://public.example:${port}/to?url=https://private.example:${port}/ok`)).toEqual({
      code: 'NETWORK_DENIED',
      message: `test: public.example:${port} redirected to another origin that resolves to a private, loopback or reserved address`,
    });
  });

  it('our own URL resolving privately is refused naming the host and the address', async () => {
    expect(await outcome(`https://private.example:${port}/ok`)).toEqual({
      code: 'NETWORK_DENIED',
      message: 'private.example resolves to 10.0.0.5, a private, loopback or reserved address',
    });
  });

  it('one private answer among public ones refuses the name', async () => {
    expect(await outcome(`https://rebind.example:${port}/ok`)).toMatchObject({ code: 'NETWORK_DENIED' });
  });

  it('an error without a Node error code says "connection error", never its text', async () => {
    expect(await outcome(`https://odd.example:${port}/ok`)).toEqual({ code: 'NETWORK_ERROR', message: `test: odd.example:${port} failed (connection error)` });
  });
});
