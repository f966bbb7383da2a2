/**
 * The SSRF guard seen from where it matters: a public host. There is no public host on a test
 * machine, so two seams stand in for one (and only these are not real):
 *   - 127.0.0.2 counts as a public address (address-policy is wrapped; every other address is
 *     judged by the real policy), and serves real HTTPS with a certificate from a test CA;
 *   - node:dns answers for a few invented names (public.example -> 127.0.0.2,
 *     private.example -> 10.0.0.5, rebind.example -> both, loopback.example -> 127.0.0.1).
 * With allowPrivateNetwork off, the guard must then refuse every private answer, redirect and
 * downgrade, while the "public" host works. test/net/guarded-fetch.test.ts covers the rest
 * (schemes, credentials, literal loopback, caps and timeouts on a test network).
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { VerificationError } from '../../src/errors.js';
import { guardedFetch, type FetchPolicy } from '../../src/net/guarded-fetch.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { Verifier } from '../../src/verify/verifier.js';
import { makeTestCa, type TestCa } from '../harness/certs.js';
import { loadCorpus } from '../adversarial/corpus.js';
import { genesisLog, newPlcKey, type PlcLogEntry } from '../identity/plc-log-builder.js';

vi.mock('../../src/net/address-policy.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/net/address-policy.js')>();
  return { ...real, isNonPublicAddress: (address: string) => (address === '127.0.0.2' ? false : real.isNonPublicAddress(address)) };
});

vi.mock('node:dns', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:dns')>();
  const answers: Record<string, { address: string; family: number }[]> = {
    'public.example': [{ address: '127.0.0.2', family: 4 }],
    'private.example': [{ address: '10.0.0.5', family: 4 }],
    'rebind.example': [
      { address: '127.0.0.2', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ],
    'loopback.example': [{ address: '127.0.0.1', family: 4 }],
  };
  const lookup = (hostname: string, options: unknown, callback: (...args: unknown[]) => void) => {
    const list = answers[hostname];
    if (!list) return (real.lookup as (...args: unknown[]) => void)(hostname, options, callback);
    const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all;
    process.nextTick(() => (all ? callback(null, list) : callback(null, list[0]!.address, list[0]!.family)));
  };
  return { ...real, default: { ...real, lookup }, lookup };
});

let ca: TestCa;
let server: https.Server;
let port: number;
const sockets = new Set<Duplex>();
const seen: string[] = [];
let redirectBodyBytes = 0;
let key: string;
/** The signed operation log the stand-in PLC directory serves for each DID (naming the PDS the test chose). */
const logFor = new Map<string, PlcLogEntry[]>();

beforeAll(async () => {
  ca = makeTestCa('ssrf test CA');
  const leaf = ca.issue({ cn: 'public.example', dns: ['public.example', 'rebind.example', 'private.example', 'loopback.example', 'localhost'], ips: ['127.0.0.2', '127.0.0.1'] });
  key = loadCorpus().world.signers.k256.publicKeyMultibase;
  server = https.createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    seen.push(`${req.headers.host}${req.url}`);
    const url = new URL(req.url ?? '/', 'https://public.example');
    const go = (location: string) => res.writeHead(302, { location }).end();
    switch (url.pathname) {
      case '/ok':
        return void res.end('{"ok":true}');
      case '/xrpc/com.atproto.sync.getRecord':
        return go('https://169.254.169.254/latest/meta-data/iam/security-credentials/');
      case '/to':
        return go(url.searchParams.get('u')!);
      case '/hops':
        return go(Number(url.searchParams.get('n')) > 0 ? `/hops?n=${Number(url.searchParams.get('n')) - 1}` : '/ok');
      case '/redirect-endless-body': {
        // A redirect whose body never ends: the guard must not keep reading it after moving on.
        res.writeHead(302, { location: '/ok' });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        const pump = () => {
          while (!res.destroyed) {
            redirectBodyBytes += chunk.length;
            if (!res.write(chunk)) return;
          }
        };
        res.on('drain', pump);
        return pump();
      }
      case '/endless': {
        res.writeHead(200);
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) {
            /* until the socket pushes back */
          }
        };
        res.on('drain', pump);
        return pump();
      }
      default: {
        // /plc/<did>/log/audit: a signed log whose PDS endpoint the test chose (logFor).
        const did = decodeURIComponent(url.pathname.slice('/plc/'.length).replace(/\/log\/audit$/, ''));
        const log = logFor.get(did);
        return void (log ? res.end(JSON.stringify(log)) : res.writeHead(404).end());
      }
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server?.close(r));
  ca?.dispose();
});

const strict = (): FetchPolicy => ({ allowPrivateNetwork: false, timeoutMs: 2000, maxBytes: 64 * 1024, ca: ca.cert });
const at = (host: string, path: string) => `https://${host}:${port}${path}`;

async function refusal(url: string, policy = strict()): Promise<VerificationError> {
  try {
    await guardedFetch({ url, purpose: 'ssrf test' }, policy);
  } catch (err) {
    expect(err).toBeInstanceOf(VerificationError);
    return err as VerificationError;
  }
  throw new Error(`${url} was fetched`);
}

describe('DNS answers are checked', () => {
  it('control: a public name over https is fetched', async () => {
    const res = await guardedFetch({ url: at('public.example', '/ok'), purpose: 't' }, strict());
    expect(res.status).toBe(200);
  });

  it.each([
    ['private.example', 'a name resolving to 10.0.0.5'],
    ['loopback.example', 'a name resolving to 127.0.0.1'],
    ['rebind.example', 'a name resolving to a public and a private address'],
    ['localhost', 'localhost'],
  ])('%s (%s) is refused before connecting', async (host) => {
    seen.length = 0;
    const err = await refusal(at(host, '/ok'));
    expect(err.code).toBe('NETWORK_DENIED');
    expect(err.message).toMatch(/resolves to/);
    expect(seen).toEqual([]);
  });
});

describe('redirects are re-checked, and at most three are followed', () => {
  it.each([
    ['https://127.0.0.1:PORT/ok', 'loopback IP'],
    ['https://localhost:PORT/ok', 'localhost by name'],
    ['https://private.example:PORT/ok', 'a name resolving to a private address'],
    ['https://rebind.example:PORT/ok', 'a name with one private answer'],
    ['https://169.254.169.254/latest/meta-data/', 'the cloud metadata address'],
    ['https://[::ffff:7f00:1]:PORT/ok', 'IPv4-mapped loopback'],
    ['https://2130706433:PORT/ok', 'loopback as one decimal number'],
    ['http://public.example:PORT/ok', 'a downgrade to http'],
    ['https://user:pw@public.example:PORT/ok', 'credentials in the Location'],
    ['file:///etc/passwd', 'a file: URL'],
  ])('a redirect to %s (%s) is refused', async (target) => {
    seen.length = 0;
    const err = await refusal(at('public.example', `/to?u=${encodeURIComponent(target.replace('PORT', String(port)))}`));
    expect(err.code).toBe('NETWORK_DENIED');
    expect(seen).toHaveLength(1); // only the redirecting request reached a server
  });

  it('three redirects are followed, a fourth is refused', async () => {
    expect((await guardedFetch({ url: at('public.example', '/hops?n=2'), purpose: 't' }, strict())).status).toBe(200);
    const err = await refusal(at('public.example', '/hops?n=3'));
    expect(err.code).toBe('NETWORK_DENIED');
    expect(err.message).toMatch(/more than 3 redirects/);
  });
});

describe('bodies are capped while streaming', () => {
  it('an endless body over TLS stops at the cap', async () => {
    const started = Date.now();
    expect((await refusal(at('public.example', '/endless'))).code).toBe('RESPONSE_TOO_LARGE');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('the endless body of a redirect is not drained after the redirect is followed', async () => {
    redirectBodyBytes = 0;
    const res = await guardedFetch({ url: at('public.example', '/redirect-endless-body'), purpose: 't' }, strict());
    expect(res.status).toBe(200);
    const atAnswer = redirectBodyBytes;
    await new Promise((r) => setTimeout(r, 300));
    expect(redirectBodyBytes - atAnswer).toBeLessThan(1024 * 1024);
  });
});

describe('through the Verifier: addresses an attacker puts in a DID document or a did:web', () => {
  const SUBJECT = `sha256:${'ab'.repeat(32)}`;
  async function verifyAs(did: string): Promise<string | undefined> {
    const verifier = new Verifier(
      { ...DEFAULT_SETTINGS, plcDirectory: at('public.example', '/plc'), allowPrivateNetwork: false, cacheEnabled: false, didResolverTimeoutMs: 2000, pdsTimeoutMs: 2000 },
      { ca: ca.cert, handleResolver: async () => undefined },
    );
    const payload = buildSignaturePayload({ subjectDigest: SUBJECT, did, recordUri: `at://${did}/io.atcr.manifest/3lbk2ozq2dk2a` });
    return (await verifier.verify({ subjectDigest: SUBJECT, payload })).error?.code;
  }

  it.each([
    ['https://private.example:PORT', 'private name', 'NETWORK_DENIED', 'its name resolves to 10.0.0.5: refused at connect time'],
    ['https://loopback.example:PORT', 'loopback name', 'NETWORK_DENIED', 'its name resolves to 127.0.0.1'],
    ['https://10.0.0.1', 'private IP', 'DID_DOCUMENT_INVALID', 'a private IP: refused as soon as the log is read'],
    ['https://public.example:PORT', 'redirecting PDS', 'NETWORK_DENIED', 'public, but getRecord redirects to the metadata address'],
  ])('PDS endpoint %s (%s) is %s: %s', async (pds, _label, code) => {
    const { did, log } = genesisLog({ signingKey: `did:key:${key}`, pds: pds.replace('PORT', String(port)), rotationKeys: [newPlcKey()] });
    logFor.set(did, log);
    expect(await verifyAs(did)).toBe(code);
  });

  it.each([
    ['did:web:private.example', 'NETWORK_DENIED'],
    ['did:web:loopback.example', 'NETWORK_DENIED'],
    ['did:web:localhost', 'NETWORK_DENIED'],
  ])('%s, whose host resolves privately, is refused (%s)', async (did, code) => {
    expect(await verifyAs(did)).toBe(code);
  });
});
