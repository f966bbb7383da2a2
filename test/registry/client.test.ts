import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage } from '../../src/devnet/sample-image.js';
import { VerificationError } from '../../src/errors.js';
import { digestOf, RegistryClient } from '../../src/registry/client.js';
import { loadRegistryCredentials } from '../../src/registry/docker-config.js';
import { OCI_MANIFEST_MEDIA_TYPE, referrersTag } from '../../src/registry/oci.js';
import { parseImageReference } from '../../src/registry/reference.js';
import { attachSignature, MAX_DESCRIPTOR_DATA_BYTES } from '../../src/publish/attach-signature.js';
import { makeTestCa, type TestCa } from '../harness/certs.js';
import { codeOfAsync } from '../harness/error-code.js';
import { startTokenServer, type TokenServer } from '../harness/token-server.js';

// The OCI client against the real docker-registry (distribution 2.8): plain HTTP, HTTPS with a CA
// made for the test, Basic auth (htpasswd) and bearer token auth with a token service whose JWTs
// the registry itself verifies.

let ca: TestCa;
let plain: RegistryServer;
let tls: RegistryServer;
let tokenAuth: RegistryServer;
let tokens: TokenServer;
let dir: string;

beforeAll(async () => {
  ca = makeTestCa();
  const server = ca.issue({ cn: '127.0.0.1', ips: ['127.0.0.1'] });
  const signer = ca.issue({ cn: 'token signer' });
  tokens = await startTokenServer({ ...signer, users: { alice: 'alice-pw' }, refreshTokens: { 'refresh-abc': 'alice' } });
  [plain, tls, tokenAuth] = await Promise.all([
    startRegistry(),
    startRegistry({ tls: { ...server, ca: ca.cert } }),
    startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCert: signer.cert } }),
  ]);
  dir = mkdtempSync(join(tmpdir(), 'registry-client-'));
}, 60_000);

afterAll(async () => {
  await Promise.all([plain?.close(), tls?.close(), tokenAuth?.close(), tokens?.close()]);
  ca?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});


describe('RegistryClient against docker-registry', () => {
  it('pushes an image, resolves its tag to the digest of the served bytes, and reads it back verified', async () => {
    const client = new RegistryClient({ registry: plain.host, allowPrivateNetwork: true, useHttp: true });
    const image = await pushSampleImage(client, plain.host, 'team/app', 'v1', 'hello');
    expect(await client.resolveDigest('team/app', 'v1')).toBe(image.digest);
    const manifest = await client.getManifest('team/app', image.digest);
    expect(digestOf(manifest.bytes)).toBe(image.digest);
    expect(manifest.mediaType).toBe(OCI_MANIFEST_MEDIA_TYPE);
    expect(await codeOfAsync(client.getManifest('team/app', 'absent'))).toBe('REGISTRY_ERROR');
    expect(await codeOfAsync(client.getManifest('team/app', 'absent', { notFound: 'ARTIFACT_NOT_FOUND' }))).toBe('ARTIFACT_NOT_FOUND');
    client.close();
  });

  it('finds referrers through the tag schema (no referrers API here), filtered by artifactType', async () => {
    const client = new RegistryClient({ registry: plain.host, allowPrivateNetwork: true, useHttp: true });
    const image = await pushSampleImage(client, plain.host, 'team/signed', 'v1', 'signed');
    const subject = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: image.digest, size: image.size };
    const first = await attachSignature(client, 'team/signed', subject, new TextEncoder().encode('{"a":1}'));
    const second = await attachSignature(client, 'team/signed', subject, new TextEncoder().encode('{"a":2}'));
    const found = await client.listReferrers('team/signed', image.digest, SIGNATURE_ARTIFACT_TYPE);
    expect(found.map((d) => d.digest).sort()).toEqual([first.digest, second.digest].sort());
    expect(await client.listReferrers('team/signed', image.digest, 'application/other')).toEqual([]);
    expect(await client.listReferrers('team/signed', digestOf(new Uint8Array([1])), SIGNATURE_ARTIFACT_TYPE)).toEqual([]);
    // Small payloads also travel in the layer descriptor (OCI `data`); large ones only as a blob.
    const layerOf = async (digest: string) => JSON.parse(Buffer.from((await client.getManifest('team/signed', digest)).bytes).toString()).layers[0];
    expect(Buffer.from((await layerOf(first.digest)).data, 'base64').toString()).toBe('{"a":1}');
    const big = await attachSignature(client, 'team/signed', subject, new Uint8Array(MAX_DESCRIPTOR_DATA_BYTES + 1).fill(32));
    expect((await layerOf(big.digest)).data).toBeUndefined();
    // The index really is under the tag-schema tag.
    expect((await client.getManifest('team/signed', referrersTag(image.digest))).bytes.length).toBeGreaterThan(0);
    client.close();
  });

  it('caps what it reads: a blob larger than allowed is refused while streaming', async () => {
    const client = new RegistryClient({ registry: plain.host, allowPrivateNetwork: true, useHttp: true });
    const blob = await client.pushBlob('team/big', new Uint8Array(200_000).fill(7));
    expect(await codeOfAsync(client.getBlob('team/big', blob.digest, { maxBytes: 1000 }))).toBe('RESPONSE_TOO_LARGE');
    expect((await client.getBlob('team/big', blob.digest, { maxBytes: 200_000 })).length).toBe(200_000);
    client.close();
  });

  it('speaks HTTPS with a private CA, and refuses an untrusted certificate or plain HTTP to a TLS port', async () => {
    const trusted = new RegistryClient({ registry: tls.host, allowPrivateNetwork: true, ca: ca.cert });
    const image = await pushSampleImage(trusted, tls.host, 'secure/app', 'v1', 'tls');
    expect(await trusted.resolveDigest('secure/app', 'v1')).toBe(image.digest);
    trusted.close();
    expect(await codeOfAsync(new RegistryClient({ registry: tls.host, allowPrivateNetwork: true }).resolveDigest('secure/app', 'v1'))).toBe('REGISTRY_UNREACHABLE');
    expect(await codeOfAsync(new RegistryClient({ registry: tls.host, allowPrivateNetwork: true, useHttp: true }).resolveDigest('secure/app', 'v1'))).toMatch(/REGISTRY_/);
  });

  it('gets bearer tokens with a password (GET) and with an identity token (refresh-token POST)', async () => {
    const withPassword = new RegistryClient({ registry: tokenAuth.host, allowPrivateNetwork: true, useHttp: true, credentials: { kind: 'basic', username: 'alice', password: 'alice-pw' } });
    const image = await pushSampleImage(withPassword, tokenAuth.host, 'alice/app', 'v1', 'token');
    expect(tokens.grants).toContain('GET Basic');
    const withRefresh = new RegistryClient({ registry: tokenAuth.host, allowPrivateNetwork: true, useHttp: true, credentials: { kind: 'identityToken', username: '<token>', token: 'refresh-abc' } });
    expect(await withRefresh.resolveDigest('alice/app', 'v1')).toBe(image.digest);
    expect(tokens.grants).toContain('POST refresh_token');
    const wrong = new RegistryClient({ registry: tokenAuth.host, allowPrivateNetwork: true, useHttp: true, credentials: { kind: 'basic', username: 'alice', password: 'nope' } });
    expect(await codeOfAsync(wrong.resolveDigest('alice/app', 'v1'))).toBe('REGISTRY_AUTH_FAILED');
    const anonymous = new RegistryClient({ registry: tokenAuth.host, allowPrivateNetwork: true, useHttp: true });
    expect(await codeOfAsync(anonymous.resolveDigest('alice/app', 'v1'))).toBe('REGISTRY_AUTH_FAILED');
    for (const c of [withPassword, withRefresh, wrong, anonymous]) c.close();
  });
});

describe('pooled connections the registry closed meanwhile', () => {
  it('are retried once on a fresh connection for reads, not reported as an unreachable registry', async () => {
    // A TCP relay in front of the real registry, so its connections can be cut on demand, as a
    // load balancer or the registry's idle timeout does, here racing the next request.
    const sockets = new Set<Socket>();
    const relay = createServer((inbound) => {
      const outbound = connect(Number(plain.host.split(':')[1]), '127.0.0.1');
      for (const s of [inbound, outbound]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => sockets.delete(s));
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(relay.address() as { port: number }).port}`;
    const client = new RegistryClient({ registry: host, allowPrivateNetwork: true, useHttp: true });
    const image = await pushSampleImage(client, host, 'team/relayed', 'v1', 'relayed');
    for (let round = 0; round < 3; round++) {
      for (const s of sockets) s.destroy();
      expect(await client.resolveDigest('team/relayed', 'v1')).toBe(image.digest);
    }
    client.close();
    await new Promise((resolve) => relay.close(resolve));
  });
});

describe('docker config.json', () => {
  it('reads auth, username/password and identitytoken entries for the exact host and port', () => {
    const path = join(dir, 'config.json');
    writeFileSync(
      path,
      JSON.stringify({
        auths: {
          '127.0.0.1:5000': { auth: Buffer.from('u:p:with:colons').toString('base64') },
          'https://reg.example': { username: 'x', password: 'y' },
          'tok.example': { auth: Buffer.from('<token>:').toString('base64'), identitytoken: 'rt' },
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
        },
      }),
    );
    expect(loadRegistryCredentials('127.0.0.1:5000', { configPath: path })).toEqual({ kind: 'basic', username: 'u', password: 'p:with:colons' });
    expect(loadRegistryCredentials('127.0.0.1:5001', { configPath: path })).toBeUndefined();
    expect(loadRegistryCredentials('reg.example', { configPath: path })).toEqual({ kind: 'basic', username: 'x', password: 'y' });
    expect(loadRegistryCredentials('tok.example', { configPath: path })).toEqual({ kind: 'identityToken', username: '<token>', token: 'rt' });
    expect(loadRegistryCredentials('docker.io', { configPath: path })).toEqual({ kind: 'basic', username: 'hub', password: 'pw' });
  });

  it('fails clearly on a named file that is missing or not JSON', () => {
    expect(() => loadRegistryCredentials('x', { configPath: join(dir, 'absent.json') })).toThrow(/cannot read docker config/);
    writeFileSync(join(dir, 'bad.json'), '{auths');
    expect(() => loadRegistryCredentials('x', { configPath: join(dir, 'bad.json') })).toThrow(/not valid JSON/);
  });
});

describe('parseImageReference', () => {
  const d = `sha256:${'b'.repeat(64)}`;
  it('reads references as Docker does', () => {
    expect(parseImageReference('alpine')).toEqual({ registry: 'docker.io', repository: 'library/alpine' });
    expect(parseImageReference('alice/app:1.0')).toEqual({ registry: 'docker.io', repository: 'alice/app', tag: '1.0' });
    expect(parseImageReference(`localhost:5000/a/b:t@${d}`)).toEqual({ registry: 'localhost:5000', repository: 'a/b', tag: 't', digest: d });
    expect(parseImageReference('atcr.io/alice.bsky.social/app')).toEqual({ registry: 'atcr.io', repository: 'alice.bsky.social/app' });
  });

  it('refuses what is not a reference', () => {
    for (const bad of ['', 'reg.io/Upper/case', 'a/b@sha256:short', 'a/b:bad tag', 'x/' + 'a'.repeat(300), 'atcr.io/did:plc:abc/app', 'a//b']) {
      expect(() => parseImageReference(bad), bad).toThrow(VerificationError);
    }
  });
});
