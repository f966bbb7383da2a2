/**
 * Issue 20 item 4: `sign` proves the identity it claims. Against the real PDS and PLC
 * (@atproto/dev-env) and a real registry (docker-registry). The lying parts are a thin proxy in
 * front of the real PDS, since an honest PDS cannot be made to lie: it either swaps the login for
 * another account's (a `--pds` that is not the signer's), or answers handle resolution falsely.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchSignatureArtifact } from '../../src/artifact/fetch-signature-artifact.js';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage } from '../../src/devnet/sample-image.js';
import { signImage, type SignRequest } from '../../src/publish/sign-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import { codeOfAsync } from '../harness/error-code.js';

let net: AtprotoNetwork;
let registry: RegistryServer;
let client: RegistryClient;
let alice: Publisher;
let mallory: Publisher;
let proxy: http.Server;
let proxyUrl: string;
/** What the proxy does to the next requests. */
let mode: 'swap-login' | 'lying-resolver' | 'no-resolver' | 'honest' = 'honest';

beforeAll(async () => {
  [net, registry] = await Promise.all([startAtprotoNetwork(), startRegistry()]);
  [alice, mallory] = await Promise.all([net.createPublisher('alice'), net.createPublisher('mallory')]);
  client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true });
  const pds = new URL(net.pdsUrl);
  proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      if (path.startsWith('/xrpc/com.atproto.identity.resolveHandle')) {
        if (mode === 'lying-resolver') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ did: mallory.did }));
        if (mode === 'no-resolver') return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"InvalidRequest"}');
      }
      if (mode === 'swap-login' && path.startsWith('/xrpc/com.atproto.server.createSession')) {
        // A PDS that is not the signer's: whatever is sent, it opens a session for its own account.
        body = Buffer.from(JSON.stringify({ identifier: mallory.handle, password: mallory.password }));
      }
      const headers = { ...req.headers, host: pds.host, 'content-length': String(body.length) };
      const upstream = http.request({ host: pds.hostname, port: pds.port, method: req.method, path, headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  client?.close();
  await new Promise((resolve) => proxy?.close(resolve));
  await Promise.all([net?.close(), registry?.close()]);
});

function request(image: string, over: Partial<SignRequest>): SignRequest {
  return {
    image,
    identity: alice.handle,
    password: alice.password,
    pds: net.pdsUrl,
    plcDirectory: net.plcUrl,
    handleResolverUrl: net.pdsUrl,
    allowPrivateNetwork: true,
    embedProof: false,
    registryFor: () => client,
    ...over,
  };
}

function payloadOf(bytes: Uint8Array): { atproto: Record<string, unknown> } {
  return JSON.parse(Buffer.from(bytes).toString('utf8'));
}

/** io.atcr.manifest records in a repository, read from the real PDS. */
async function manifestRecords(did: string): Promise<number> {
  const url = `${net.pdsUrl}/xrpc/com.atproto.repo.listRecords?repo=${encodeURIComponent(did)}&collection=io.atcr.manifest&limit=100`;
  const res = await fetch(url);
  return ((await res.json()) as { records: unknown[] }).records.length;
}

describe('sign proves the identity it claims', () => {
  it('refuses a --pds whose session is for another DID than the handle names, before writing anything', async () => {
    const image = await pushSampleImage(client, registry.host, 'team/swap', '1', 'swap');
    const before = await manifestRecords(mallory.did);
    mode = 'swap-login';
    try {
      const err = await signImage(request(image.reference, { pds: proxyUrl })).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain(`is for ${mallory.did}, but ${alice.handle} is ${alice.did}`);
    } finally {
      mode = 'honest';
    }
    expect(await manifestRecords(mallory.did)).toBe(before);
    expect(await client.listReferrers('team/swap', image.digest, SIGNATURE_ARTIFACT_TYPE)).toEqual([]);
  });

  it('refuses the same swap when --identity is a DID', async () => {
    const image = await pushSampleImage(client, registry.host, 'team/swap-did', '1', 'swap did');
    mode = 'swap-login';
    try {
      expect(await codeOfAsync(signImage(request(image.reference, { identity: alice.did, pds: proxyUrl })))).toBe('INPUT_INVALID');
    } finally {
      mode = 'honest';
    }
    expect(await client.listReferrers('team/swap-did', image.digest, SIGNATURE_ARTIFACT_TYPE)).toEqual([]);
  });

  it('refuses a handle that is not verified both ways (it resolves to a DID whose document claims another handle), also with --pds', async () => {
    const image = await pushSampleImage(client, registry.host, 'team/lying', '1', 'lying');
    const before = await manifestRecords(alice.did);
    mode = 'lying-resolver';
    try {
      const err = await signImage(request(image.reference, { handleResolverUrl: proxyUrl })).catch((e: Error) => e);
      expect((err as Error).message).toContain(`handle ${alice.handle} resolves to ${mallory.did}, but that DID's document claims the handle ${mallory.handle}`);
    } finally {
      mode = 'honest';
    }
    expect(await manifestRecords(alice.did)).toBe(before);
  });

  it('refuses a handle that does not resolve at all', async () => {
    const image = await pushSampleImage(client, registry.host, 'team/unresolved', '1', 'unresolved');
    mode = 'no-resolver';
    try {
      expect(await codeOfAsync(signImage(request(image.reference, { handleResolverUrl: proxyUrl })))).toBe('DID_RESOLUTION_FAILED');
    } finally {
      mode = 'honest';
    }
  });

  it('signs as a DID whose handle cannot be verified, and writes no handle into the signature', async () => {
    const image = await pushSampleImage(client, registry.host, 'team/no-handle', '1', 'no handle');
    mode = 'no-resolver';
    let signed;
    try {
      signed = await signImage(request(image.reference, { identity: alice.did, handleResolverUrl: proxyUrl }));
    } finally {
      mode = 'honest';
    }
    expect(signed.handle).toBeUndefined();
    expect(signed.handleUnverified).toContain(`handle ${alice.handle} does not resolve`);
    const artifact = await fetchSignatureArtifact(client, 'team/no-handle', signed.referrer, image.digest);
    expect(payloadOf(artifact.payload).atproto.handle).toBeUndefined();
  });

  it('writes the handle when it is verified both ways', async () => {
    const image = await pushSampleImage(client, registry.host, 'team/honest', '1', 'honest');
    const signed = await signImage(request(image.reference, {}));
    expect(signed).toMatchObject({ did: alice.did, handle: alice.handle });
    const artifact = await fetchSignatureArtifact(client, 'team/honest', signed.referrer, image.digest);
    expect(payloadOf(artifact.payload).atproto.handle).toBe(alice.handle);
  });
});
