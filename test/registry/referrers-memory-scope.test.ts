import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage } from '../../src/devnet/sample-image.js';
import { attachSignature } from '../../src/publish/attach-signature.js';
import { digestOf, RegistryClient } from '../../src/registry/client.js';
import { OCI_INDEX_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, referrersTag } from '../../src/registry/oci.js';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { Verifier } from '../../src/verify/verifier.js';
import { verifyImage } from '../../src/verify/verify-image.js';
import { startRegistryRelay, type RegistryRelay } from '../harness/registry-relay.js';

// Review finding: the "referrers API absent" memory must not be poisoned by one repository's 404.
// A registry that HAS the referrers API (zot, Harbor, ACR...) answers 404 NAME_UNKNOWN for a
// repository that does not exist. Anyone who can make the provider read such a name (a Pod with
// image `registry/ghost/x@sha256:...`) must not make every other repository of that registry be
// read through its tag schema alone for 5 minutes: a repository whose tag holds an older subset
// of its referrers (one signature pushed by `sign`, which writes the tag, one by a tool that used
// the API only) would lose the API's signatures, so a 2-of quorum is refused (TOO_FEW_SIGNERS).
// The real docker-registry keeps the manifests and the tag schema; a relay in front of it plays
// the registry's referrers API.

let registry: RegistryServer;
let relay: RegistryRelay;
let relayHost: string;
/** The referrers API index per repository; a repository not listed gets 404 NAME_UNKNOWN. */
const referrersApi = new Map<string, object>();
let asked: string[];

beforeAll(async () => {
  registry = await startRegistry();
  relay = await startRegistryRelay(registry, (path) => {
    const api = /^\/v2\/(.+)\/referrers\//.exec(path);
    if (!api) return undefined;
    const index = referrersApi.get(api[1]!);
    return index
      ? { status: 200, contentType: OCI_INDEX_MEDIA_TYPE, body: JSON.stringify(index) }
      : { status: 404, contentType: 'application/json', body: JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] }) };
  });
  ({ host: relayHost, asked } = relay);
}, 60_000);

afterAll(async () => {
  await relay?.close();
  await registry?.close();
});

describe('a 404 from the referrers API of one repository', () => {
  it('does not make another repository of the same registry be read through its tag schema alone', async () => {
    const client = new RegistryClient({ registry: relayHost, allowPrivateNetwork: true, useHttp: true });
    // victim/app: one signature in the tag schema (pushed by `sign`), a second one only in the API.
    const image = await pushSampleImage(client, relayHost, 'victim/app', 'v1', 'victim');
    const subject = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: image.digest, size: image.size };
    const viaTag = await attachSignature(client, 'victim/app', subject, new TextEncoder().encode('{"by":"alice"}'));
    const viaApiOnly = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: digestOf(new Uint8Array([42])), size: 1, artifactType: SIGNATURE_ARTIFACT_TYPE };
    referrersApi.set('victim/app', {
      schemaVersion: 2,
      mediaType: OCI_INDEX_MEDIA_TYPE,
      manifests: [{ mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: viaTag.digest, size: viaTag.size, artifactType: SIGNATURE_ARTIFACT_TYPE }, viaApiOnly],
    });

    const both = [viaTag.digest, viaApiOnly.digest];
    expect((await client.listReferrers('victim/app', image.digest, SIGNATURE_ARTIFACT_TYPE)).map((d) => d.digest)).toEqual(both);

    // The attacker's name: a repository the registry does not have.
    expect(await client.listReferrers('ghost/none', image.digest, SIGNATURE_ARTIFACT_TYPE)).toEqual([]);

    asked.length = 0;
    expect((await client.listReferrers('victim/app', image.digest, SIGNATURE_ARTIFACT_TYPE)).map((d) => d.digest)).toEqual(both);
    expect(asked[0]).toBe('GET /v2/victim/app/referrers/<digest>');
    client.close();
  });
});

describe('the same poisoning, as verifyImage decides (a 2-of policy)', () => {
  const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
  const B = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';

  it('an image signed by both trusted signers stays admitted after a Pod names a repository the registry lacks', async () => {
    const client = new RegistryClient({ registry: relayHost, allowPrivateNetwork: true, useHttp: true });
    const image = await pushSampleImage(client, relayHost, 'team/app', 'v1', 'team');
    const subject = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: image.digest, size: image.size };
    const sign = (did: string) =>
      attachSignature(client, 'team/app', subject, new TextEncoder().encode(JSON.stringify(buildSignaturePayload({ subjectDigest: image.digest, did, recordUri: `at://${did}/io.atcr.manifest/3kabcdefghijk` }))));
    const byB = await sign(B);
    const byA = await sign(A);
    // B's signature was pushed by a tool that used the referrers API only: the tag lists A alone.
    const tagIndex = { schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests: [byA] };
    await client.pushManifest('team/app', referrersTag(image.digest), new TextEncoder().encode(JSON.stringify(tagIndex)), OCI_INDEX_MEDIA_TYPE);
    referrersApi.set('team/app', { schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests: [byA, byB] });

    const policy = parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${A}: {}\n  ${B}: {}\npolicies:\n  - {name: p, scope: "${relayHost}/**", require: {signers: 2}, trustedDIDs: [${A}, ${B}]}\n`,
      'policy.yaml',
    );
    const verifier = new Verifier({ ...DEFAULT_SETTINGS, cacheEnabled: false }, { policy });
    // The proof chain is pinned elsewhere: here a signature by A or B passes.
    verifier.verify = async ({ payload }) => {
      const did = (payload as { atproto: { did: string } }).atproto.did;
      return { isSuccess: did === A || did === B, audit: false, message: did, did, steps: [] };
    };
    const deps = { verifier, registryFor: () => client };
    expect((await verifyImage(`${relayHost}/team/app@${image.digest}`, deps)).isSuccess).toBe(true);
    // Anybody who can create a Pod: an image in a repository the registry does not have.
    await verifyImage(`${relayHost}/ghost/x@${image.digest}`, deps);
    const after = await verifyImage(`${relayHost}/team/app@${image.digest}`, deps);
    expect([after.isSuccess, after.decisive.error?.code]).toEqual([true, undefined]);
    client.close();
  });
});
