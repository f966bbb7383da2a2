import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { networkStats } from '../../src/net/guarded-fetch.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { DEFAULT_SETTINGS, type VerifierSettings } from '../../src/verify/settings.js';
import { MAX_PREFETCHED_DIDS, Verifier } from '../../src/verify/verifier.js';

// Prefetching the DID documents the trust policy trusts for an image, so the plugin overlaps DID
// resolution with the registry fetches: against a real PDS + PLC, counting the requests made.

const REGISTRY = 'registry.example';
const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const otherDid = (i: number) => `did:plc:${String.fromCharCode(97 + i).repeat(24)}`;

let net: AtprotoNetwork;
let alice: Publisher;
let settings: VerifierSettings;

beforeAll(async () => {
  net = await startAtprotoNetwork();
  alice = await net.createPublisher('alice');
  settings = { ...DEFAULT_SETTINGS, plcDirectory: net.plcUrl, allowPrivateNetwork: true, cacheEnabled: true };
});
afterAll(async () => {
  await net?.close();
});

/** Alice trusted for her repositories, plus `extra` more DIDs in the same scope. */
function policy(extra = 0) {
  const others = Array.from({ length: extra }, (_, i) => otherDid(i));
  return parseTrustPolicy(`
version: "1.0"
trustedDIDs:
  ${[alice.did, ...others].map((did) => `${did}: {validFrom: "2024-01-01T00:00:00Z"}`).join('\n  ')}
policies:
  - name: alice
    scope: "${REGISTRY}/alice/**"
    trustedDIDs: [${[alice.did, ...others].join(', ')}]
`);
}

async function signedPayload(repository: string) {
  const digest = digestOf(`${repository} ${Math.random()}`);
  const rec = await alice.putManifestRecord({ repository: `${REGISTRY}/${repository}`, digest });
  const payload = buildSignaturePayload({ subjectDigest: digest, did: alice.did, recordUri: rec.uri, recordCid: rec.cid, commitCid: rec.commitCid });
  return { digest, reference: `${REGISTRY}/${repository}@${digest}`, payload };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('prefetching trusted identities', () => {
  it('resolves the signer while the artifact is fetched, and verify() reuses that resolution', async () => {
    const verifier = new Verifier(settings, { policy: policy(), handleResolver: net.handleResolver });
    const image = await signedPayload('alice/app');
    const before = networkStats.requests;
    verifier.prefetchIdentities(`${REGISTRY}/alice/app`);
    const out = await verifier.verify({ subjectDigest: image.digest, reference: image.reference, payload: image.payload });
    expect(out.error).toBeUndefined();
    expect(out.isSuccess).toBe(true);
    expect(out.handle).toBe(alice.handle);
    // One PLC request (shared by the prefetch and verify) and one getRecord.
    expect(networkStats.requests - before).toBe(2);
  });

  it('fetches nothing for an image no rule covers', async () => {
    const verifier = new Verifier(settings, { policy: policy() });
    const before = networkStats.requests;
    verifier.prefetchIdentities(`${REGISTRY}/bob/app`);
    await settle();
    expect(networkStats.requests - before).toBe(0);
  });

  it(`fetches nothing when the scope trusts more than ${MAX_PREFETCHED_DIDS} DIDs`, async () => {
    const verifier = new Verifier(settings, { policy: policy(MAX_PREFETCHED_DIDS) });
    const before = networkStats.requests;
    verifier.prefetchIdentities(`${REGISTRY}/alice/app`);
    await settle();
    expect(networkStats.requests - before).toBe(0);
  });

  it('never lets a prefetch under another signal decide a verification', async () => {
    const verifier = new Verifier(settings, { policy: policy(), handleResolver: net.handleResolver });
    const image = await signedPayload('alice/other');
    verifier.prefetchIdentities(`${REGISTRY}/alice/other`, AbortSignal.abort());
    const out = await verifier.verify({ subjectDigest: image.digest, reference: image.reference, payload: image.payload });
    expect(out.error).toBeUndefined();
    expect(out.isSuccess).toBe(true);
  });
});
