import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { agentFor, closeIdleConnections, guardedFetch, guardedLookup } from '../../src/net/guarded-fetch.js';
import { RegistryClient } from '../../src/registry/client.js';
import { sendHttp } from '../../src/registry/http.js';

// Rule: the address guard runs in the DNS lookup of a NEW connection, so a pooled keep-alive socket
// must only ever be reused by a caller with the same network allowance. A socket opened to an
// internal host by a caller allowed private addresses is never reused by one that is not.
// Real loopback servers; "localhost" is a name (not an IP literal), so only the lookup guards it.

let internal: http.Server;
let registry: http.Server;
const hits: string[] = [];
const open = new Set<Socket>();
let ip: number;
let rp: number;

beforeAll(async () => {
  internal = http.createServer((req, res) => {
    hits.push(req.url!);
    res.end('internal secret');
  });
  internal.keepAliveTimeout = 30_000;
  internal.on('connection', (s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
  ip = (internal.address() as AddressInfo).port;
  // A registry the operator allowed on private addresses, whose blob store is another internal host.
  registry = http.createServer((req, res) => {
    res.writeHead(307, { location: `http://localhost:${ip}/blob-store${req.url}` });
    res.end();
  });
  await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
  rp = (registry.address() as AddressInfo).port;
});
afterAll(() => {
  closeIdleConnections();
  http.globalAgent.destroy();
  internal.closeAllConnections();
  internal.close();
  registry.close();
});

async function outcome(p: Promise<{ status: number }>): Promise<unknown> {
  try {
    return (await p).status;
  } catch (err) {
    return err instanceof VerificationError ? err.code : String(err);
  }
}

describe('a pooled socket is reused only under the network allowance that opened it', () => {
  it('a private-allowed registry client keeps redirect-hop sockets in its own pool, not the process-wide one', async () => {
    const privileged = new RegistryClient({ registry: `localhost:${rp}`, useHttp: true, allowPrivateNetwork: true });
    await privileged.getBlob('team/app', `sha256:${'0'.repeat(64)}`, { maxBytes: 1024 }).catch(() => undefined); // digest mismatch, irrelevant
    expect(hits.some((h) => h.startsWith('/blob-store/'))).toBe(true);
    // Any other caller using Node's global agent (or a public-only client) must pass its own lookup.
    const hop = sendHttp({
      method: 'GET',
      url: new URL(`http://localhost:${ip}/latest/meta-data/iam`),
      maxBytes: 1024,
      timeoutMs: 2000,
      agent: http.globalAgent,
      lookup: guardedLookup(false),
      label: 'redirect hop',
    });
    expect({ outcome: await outcome(hop), hit: hits.includes('/latest/meta-data/iam') }).toEqual({ outcome: 'NETWORK_DENIED', hit: false });
    privileged.close();
  });

  it('closing a registry client closes its redirect-hop connections too (a short-lived process exits)', async () => {
    const privileged = new RegistryClient({ registry: `localhost:${rp}`, useHttp: true, allowPrivateNetwork: true });
    await privileged.getBlob('team/app', `sha256:${'1'.repeat(64)}`, { maxBytes: 1024 }).catch(() => undefined);
    expect(open.size).toBeGreaterThan(0);
    privileged.close();
    await expect.poll(() => open.size, { timeout: 2000 }).toBe(0);
  });

  it('guardedFetch: the pool is chosen by the network allowance; with extra CAs no pool, never the global agent', () => {
    // (A public-only fetch is https-only, so the pools are compared directly rather than by a loopback round trip.)
    for (const isHttps of [false, true]) {
      const pub = agentFor({ allowPrivateNetwork: false }, isHttps);
      const priv = agentFor({ allowPrivateNetwork: true }, isHttps);
      expect(pub).not.toBe(priv);
      expect(agentFor({ allowPrivateNetwork: false }, isHttps)).toBe(pub);
      expect([pub, priv]).not.toContain(http.globalAgent);
      expect(agentFor({ allowPrivateNetwork: false, ca: 'PEM' }, isHttps)).toBe(false);
    }
  });

  it('guardedFetch: closeIdleConnections closes every pool it made', async () => {
    await guardedFetch({ url: `http://localhost:${ip}/a`, purpose: 'test' }, { timeoutMs: 2000, maxBytes: 1024, allowPrivateNetwork: true });
    expect(open.size).toBeGreaterThan(0);
    closeIdleConnections();
    await expect.poll(() => open.size, { timeout: 2000 }).toBe(0);
  });
});
