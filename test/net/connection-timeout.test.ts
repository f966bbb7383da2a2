/**
 * A connection that never comes up (a NetworkPolicy without the registry's port drops the SYNs)
 * must be refused with "connection timed out to host:port", so the operator knows which port to
 * open; a connection that is up but silent keeps saying "no answer". No real registry can be made
 * to drop packets, so two real sockets stand in: a listener whose accept queue is full (python3,
 * which, unlike Node, can listen without ever accepting: the kernel then drops further SYNs), and
 * a TCP server that accepts and never answers the TLS handshake.
 */
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { guardedFetch } from '../../src/net/guarded-fetch.js';
import { RegistryClient } from '../../src/registry/client.js';
import { startBlackhole, type Blackhole } from '../harness/blackhole.js';

const TIMEOUT_MS = 400;
let blackhole: Blackhole;
let fullPort: number;
let tlsSilent: net.Server;
let httpSilent: http.Server;
const held = new Set<Socket>();

beforeAll(async () => {
  blackhole = await startBlackhole();
  fullPort = blackhole.port;
  tlsSilent = net.createServer((s) => held.add(s));
  httpSilent = http.createServer(() => {}); // reads the request, never answers
  httpSilent.on('connection', (s) => held.add(s));
  await Promise.all([new Promise<void>((r) => tlsSilent.listen(0, '127.0.0.1', r)), new Promise<void>((r) => httpSilent.listen(0, '127.0.0.1', r))]);
});

afterAll(async () => {
  for (const s of held) s.destroy();
  blackhole?.close();
  tlsSilent?.close();
  httpSilent?.close();
});

async function failure(p: Promise<unknown>): Promise<VerificationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VerificationError);
  return err as VerificationError;
}

describe('registry requests', () => {
  it('say "connection timed out to host:port" when the TCP connection never comes up (packets dropped)', async () => {
    // Make sure the probe is really stuck in connect, not refused: the check is live.
    const probe = net.connect(fullPort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 200));
    expect(probe.connecting).toBe(true);
    probe.destroy();

    const client = new RegistryClient({ allowPrivateNetwork: true, registry: `127.0.0.1:${fullPort}`, useHttp: true, timeoutMs: TIMEOUT_MS });
    const started = Date.now();
    const err = await failure(client.resolveDigest('team/app', 'v1'));
    client.close();
    expect(err.code).toBe('REGISTRY_UNREACHABLE');
    expect(err.message).toContain(`connection timed out to 127.0.0.1:${fullPort}`);
    expect(err.message).toMatch(/is egress to this port allowed\?/);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1500);
  });

  it('say so too when TCP connects but the TLS handshake never completes', async () => {
    const port = (tlsSilent.address() as AddressInfo).port;
    const client = new RegistryClient({ allowPrivateNetwork: true, registry: `127.0.0.1:${port}`, useHttp: false, timeoutMs: TIMEOUT_MS });
    const err = await failure(client.resolveDigest('team/app', 'v1'));
    client.close();
    expect(err.code).toBe('REGISTRY_UNREACHABLE');
    expect(err.message).toContain(`connection timed out to 127.0.0.1:${port}`);
  });

  it('keep saying "no complete answer" when the connection is up and the server is silent', async () => {
    const port = (httpSilent.address() as AddressInfo).port;
    const client = new RegistryClient({ allowPrivateNetwork: true, registry: `127.0.0.1:${port}`, useHttp: true, timeoutMs: TIMEOUT_MS });
    const err = await failure(client.resolveDigest('team/app', 'v1'));
    client.close();
    expect(err.code).toBe('REGISTRY_UNREACHABLE');
    expect(err.message).toMatch(/no complete answer within 400 ms/);
    expect(err.message).not.toMatch(/connection timed out/);
  });
});

describe('guarded fetches (PLC, PDS, did:web)', () => {
  const policy = { allowPrivateNetwork: true, timeoutMs: TIMEOUT_MS, maxBytes: 1024 };

  it('say "connection timed out to host:port" when the connection never comes up', async () => {
    const err = await failure(guardedFetch({ url: `http://127.0.0.1:${fullPort}/did:plc:abc`, purpose: 'PLC directory' }, policy));
    expect(err.code).toBe('NETWORK_TIMEOUT');
    expect(err.message).toBe(`PLC directory: connection timed out to 127.0.0.1:${fullPort} (not connected after ${TIMEOUT_MS} ms; is egress to this port allowed?)`);
  });

  it('keep saying "did not answer" when the connection is up and the server is silent', async () => {
    const port = (httpSilent.address() as AddressInfo).port;
    const err = await failure(guardedFetch({ url: `http://127.0.0.1:${port}/xrpc/x`, purpose: 'PDS getRecord' }, policy));
    expect(err.code).toBe('NETWORK_TIMEOUT');
    expect(err.message).toBe(`PDS getRecord: 127.0.0.1:${port} did not answer within ${TIMEOUT_MS} ms`);
  });
});
