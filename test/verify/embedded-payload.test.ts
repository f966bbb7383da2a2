import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchSignatureArtifact } from '../../src/artifact/fetch-signature-artifact.js';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage, type PushedImage } from '../../src/devnet/sample-image.js';
import { VerificationError } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import { OCI_EMPTY_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE } from '../../src/registry/oci.js';

// A signature referrer may carry its payload in the layer descriptor's `data` field (OCI image
// spec, descriptor.md), which saves the blob round trip. Against a real docker-registry: the
// embedded bytes are used without fetching the blob, and held to the descriptor's digest and size.

const REPOSITORY = 'alice/app';
const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

let registry: RegistryServer;
let client: RegistryClient;
let image: PushedImage;
const payload = new TextEncoder().encode(JSON.stringify({ $type: 'io.atcr.atprotoSignature', note: 'embedded' }));

beforeAll(async () => {
  registry = await startRegistry();
  client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true });
  image = await pushSampleImage(client, registry.host, REPOSITORY, 'v1', 'embedded payload test');
});
afterAll(async () => {
  client?.close();
  await registry?.close();
});

/** Pushes a referrer whose signature layer descriptor is `layer` (plus the usual fields). */
async function pushReferrer(layer: Record<string, unknown>): Promise<string> {
  const config = await client.pushBlob(REPOSITORY, new TextEncoder().encode('{}'));
  const blob = await client.pushBlob(REPOSITORY, payload);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    artifactType: SIGNATURE_ARTIFACT_TYPE,
    config: { mediaType: OCI_EMPTY_MEDIA_TYPE, digest: config.digest, size: config.size },
    layers: [{ mediaType: SIGNATURE_ARTIFACT_TYPE, digest: blob.digest, size: blob.size, ...layer }],
    subject: { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: image.digest, size: image.size },
  };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  return client.pushManifest(REPOSITORY, sha256(bytes), bytes, OCI_MANIFEST_MEDIA_TYPE);
}

async function deleteBlob(digest: string): Promise<void> {
  const res = await fetch(`${registry.url}/v2/${REPOSITORY}/blobs/${digest}`, { method: 'DELETE' });
  expect(res.status).toBe(202);
}

async function failureOf(referrer: string): Promise<string> {
  try {
    await fetchSignatureArtifact(client, REPOSITORY, referrer, image.digest);
  } catch (err) {
    if (err instanceof VerificationError) return err.code;
    throw err;
  }
  return 'OK';
}

describe('signature payload embedded in the layer descriptor', () => {
  it('is used without fetching the blob (the registry no longer has it)', async () => {
    const referrer = await pushReferrer({ data: Buffer.from(payload).toString('base64') });
    await deleteBlob(sha256(payload));
    const artifact = await fetchSignatureArtifact(client, REPOSITORY, referrer, image.digest);
    expect(Buffer.from(artifact.payload).equals(Buffer.from(payload))).toBe(true);
    expect(artifact.payloadDigest).toBe(sha256(payload));
  });

  it('is refused when it does not hash to the descriptor digest', async () => {
    const forged = new Uint8Array(payload);
    forged[forged.length - 3] = forged[forged.length - 3]! ^ 1;
    expect(await failureOf(await pushReferrer({ data: Buffer.from(forged).toString('base64') }))).toBe('ARTIFACT_DIGEST_MISMATCH');
  });

  it('is refused when its size is not the descriptor size', async () => {
    expect(await failureOf(await pushReferrer({ data: Buffer.from(payload.subarray(0, payload.length - 1)).toString('base64') }))).toBe('ARTIFACT_INVALID');
  });

  it('is refused when it is not base64', async () => {
    expect(await failureOf(await pushReferrer({ data: '!!not base64!!' }))).toBe('ARTIFACT_INVALID');
    expect(await failureOf(await pushReferrer({ data: 42 }))).toBe('ARTIFACT_INVALID');
  });
});
