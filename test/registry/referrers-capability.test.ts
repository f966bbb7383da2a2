import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage } from '../../src/devnet/sample-image.js';
import { attachSignature } from '../../src/publish/attach-signature.js';
import { digestOf, REFERRERS_API_ABSENT_TTL_MS, RegistryClient } from '../../src/registry/client.js';
import { OCI_INDEX_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE } from '../../src/registry/oci.js';
import { startRegistryRelay, type RegistryRelay } from '../harness/registry-relay.js';

// Issue 12, item 3: a registry that answered the referrers API with 404 (distribution 2.8, here
// the real docker-registry) is read through the tag schema alone for a while: one request per
// image instead of two. A recording relay in front of the registry counts what is asked. The
// relay answers the referrers API itself only in the "registry upgraded" case, which the real
// distribution 2.8 cannot produce.

let registry: RegistryServer;
let relay: RegistryRelay;
let relayHost: string;
let asked: string[];
/** When set, the relay serves the referrers API with this index (an upgraded registry). */
let referrersApi: object | undefined;

beforeAll(async () => {
  registry = await startRegistry();
  relay = await startRegistryRelay(registry, (path) =>
    referrersApi && path.includes('/referrers/') ? { status: 200, contentType: OCI_INDEX_MEDIA_TYPE, body: JSON.stringify(referrersApi) } : undefined,
  );
  ({ host: relayHost, asked } = relay);
}, 60_000);

afterAll(async () => {
  await relay?.close();
  await registry?.close();
});

async function signedImage(client: RegistryClient, repository: string): Promise<{ digest: string; referrer: string }> {
  const image = await pushSampleImage(client, relayHost, repository, 'v1', repository);
  const subject = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: image.digest, size: image.size };
  const referrer = await attachSignature(client, repository, subject, new TextEncoder().encode(`{"r":"${repository}"}`));
  return { digest: image.digest, referrer: referrer.digest };
}

describe('the referrers API, once a registry answered it with 404', () => {
  it('is not asked again: the next image costs one request (the tag schema), with the same answer', async () => {
    const client = new RegistryClient({ registry: relayHost, allowPrivateNetwork: true, useHttp: true });
    const a = await signedImage(client, 'memo/a');
    const b = await signedImage(client, 'memo/b');
    asked.length = 0;
    expect((await client.listReferrers('memo/a', a.digest, SIGNATURE_ARTIFACT_TYPE)).map((d) => d.digest)).toEqual([a.referrer]);
    expect(asked).toEqual(['GET /v2/memo/a/referrers/<digest>', 'GET /v2/memo/a/manifests/<digest>']);
    asked.length = 0;
    expect((await client.listReferrers('memo/b', b.digest, SIGNATURE_ARTIFACT_TYPE)).map((d) => d.digest)).toEqual([b.referrer]);
    expect(asked).toEqual(['GET /v2/memo/b/manifests/<digest>']);
    client.close();
  });

  it('is asked again when the tag schema holds nothing, so a stale memory never hides referrers the API would list', async () => {
    const client = new RegistryClient({ registry: relayHost, allowPrivateNetwork: true, useHttp: true });
    const a = await signedImage(client, 'stale/a');
    await client.listReferrers('stale/a', a.digest, SIGNATURE_ARTIFACT_TYPE);
    const unsigned = await pushSampleImage(client, relayHost, 'stale/unsigned', 'v1', 'unsigned');
    asked.length = 0;
    // Still no API: the tag schema's answer (nothing) stands, fetched once.
    expect(await client.listReferrers('stale/unsigned', unsigned.digest, SIGNATURE_ARTIFACT_TYPE)).toEqual([]);
    expect(asked).toEqual(['GET /v2/stale/unsigned/manifests/<digest>', 'GET /v2/stale/unsigned/referrers/<digest>']);

    // The registry gains the API, and a referrer pushed through it is under no tag.
    const pushedThroughApi = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: digestOf(new Uint8Array([7])), size: 1, artifactType: SIGNATURE_ARTIFACT_TYPE };
    referrersApi = { schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests: [pushedThroughApi] };
    try {
      asked.length = 0;
      expect((await client.listReferrers('stale/unsigned', unsigned.digest, SIGNATURE_ARTIFACT_TYPE)).map((d) => d.digest)).toEqual([pushedThroughApi.digest]);
      expect(asked).toEqual(['GET /v2/stale/unsigned/manifests/<digest>', 'GET /v2/stale/unsigned/referrers/<digest>']);
      // The API answered: it is asked first again from now on.
      asked.length = 0;
      await client.listReferrers('stale/a', a.digest, SIGNATURE_ARTIFACT_TYPE);
      expect(asked).toEqual(['GET /v2/stale/a/referrers/<digest>']);
    } finally {
      referrersApi = undefined;
    }
    client.close();
  });

  it(`is asked again after ${REFERRERS_API_ABSENT_TTL_MS / 60_000} minutes`, async () => {
    const client = new RegistryClient({ registry: relayHost, allowPrivateNetwork: true, useHttp: true });
    const a = await signedImage(client, 'ttl/a');
    await client.listReferrers('ttl/a', a.digest, SIGNATURE_ARTIFACT_TYPE);
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now');
    try {
      clock.mockReturnValue(now + REFERRERS_API_ABSENT_TTL_MS - 1_000);
      asked.length = 0;
      await client.listReferrers('ttl/a', a.digest, SIGNATURE_ARTIFACT_TYPE);
      expect(asked).toEqual(['GET /v2/ttl/a/manifests/<digest>']);
      clock.mockReturnValue(now + REFERRERS_API_ABSENT_TTL_MS + 1_000);
      asked.length = 0;
      await client.listReferrers('ttl/a', a.digest, SIGNATURE_ARTIFACT_TYPE);
      expect(asked).toEqual(['GET /v2/ttl/a/referrers/<digest>', 'GET /v2/ttl/a/manifests/<digest>']);
    } finally {
      clock.mockRestore();
    }
    client.close();
  });

  it('is a memory of one registry: another client (another registry) still asks', async () => {
    const first = new RegistryClient({ registry: relayHost, allowPrivateNetwork: true, useHttp: true });
    const a = await signedImage(first, 'own/a');
    await first.listReferrers('own/a', a.digest, SIGNATURE_ARTIFACT_TYPE);
    const second = new RegistryClient({ registry: relayHost, allowPrivateNetwork: true, useHttp: true });
    asked.length = 0;
    await second.listReferrers('own/a', a.digest, SIGNATURE_ARTIFACT_TYPE);
    expect(asked[0]).toBe('GET /v2/own/a/referrers/<digest>');
    first.close();
    second.close();
  });
});
