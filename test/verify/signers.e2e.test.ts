import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage } from '../../src/devnet/sample-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import type { Descriptor } from '../../src/registry/oci.js';
import { facesAreBuilt, threeFaces, type Faces, type ProviderFace } from '../harness/three-faces.js';

// Issue 17: `require.signers: 2` admits an image only when two DISTINCT identities the policy
// trusts for its scope each signed it (a verified chain, inside their window). Through the three
// faces: verify and the provider decide on the image; the plugin, asked by Ratify about each
// referrer in turn, answers for each one by the same rule. Real PDS + PLC, real registry.

let net: AtprotoNetwork;
let registry: RegistryServer;
let client: RegistryClient;
let alice: Publisher;
let bob: Publisher;
let mallory: Publisher;
let faces: Faces;
let release: string;
let bobExpired: string;
const providers = new Map<string, ProviderFace>();

interface Signed {
  image: string;
  referrers: Descriptor[];
}
const images: Record<string, Signed> = {};

async function signedBy(repository: string, signers: Publisher[]): Promise<Signed> {
  const pushed = await pushSampleImage(client, registry.host, repository, 'v1', `${repository} for ${signers.map((s) => s.handle).join('+')}`);
  const image = `${registry.host}/${repository}@${pushed.digest}`;
  for (const signer of signers) await signer.sign(image, client);
  const referrers = await client.listReferrers(repository, pushed.digest, SIGNATURE_ARTIFACT_TYPE);
  expect(referrers).toHaveLength(signers.length);
  return { image, referrers };
}

const policy = (bobEntry: string) => `version: "1.0"
trustedDIDs:
  ${alice.did}: {name: "Alice (publisher)", validFrom: "2024-01-01T00:00:00Z"}
  ${bob.did}: {name: "Bob (security)"${bobEntry}}
  ${mallory.did}: {name: "Mallory (other team)"}
policies:
  - name: two-person-release
    scope: "**"
    require: {signature: true, signers: 2}
    trustedDIDs: [${alice.did}, ${bob.did}]
    action: enforce
`;

beforeAll(async () => {
  expect(facesAreBuilt(), 'run node scripts/build.mjs first').toBe(true);
  [net, registry] = await Promise.all([startAtprotoNetwork(), startRegistry()]);
  client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true });
  [alice, bob, mallory] = await Promise.all([net.createPublisher('alice'), net.createPublisher('bob'), net.createPublisher('mallory')]);
  faces = threeFaces(net);
  release = faces.policy('release', policy(''));
  bobExpired = faces.policy('bob-expired', policy(', expiresAt: "2025-01-01T00:00:00Z"'));
  images.aliceAndBob = await signedBy('team/app-ab', [alice, bob]);
  images.aliceAlone = await signedBy('team/app-a', [alice]);
  images.aliceTwice = await signedBy('team/app-aa', [alice, alice]);
  images.aliceAndMallory = await signedBy('team/app-am', [alice, mallory]);
}, 120_000);

afterAll(async () => {
  await Promise.all([...providers.values()].map((p) => p.close()));
  client?.close();
  faces?.close();
  await Promise.all([net?.close(), registry?.close()]);
});

async function providerFor(policyPath: string): Promise<ProviderFace> {
  let p = providers.get(policyPath);
  if (!p) {
    p = await faces.provider(policyPath);
    providers.set(policyPath, p);
  }
  return p;
}

describe('require.signers: 2 through the plugin, verify and the provider', () => {
  it('admits alice + bob, listing both signers', async () => {
    const { image, referrers } = images.aliceAndBob!;
    const cli = await faces.verify(image, release);
    expect(cli.code, cli.stdout).toBe(0);
    expect(cli.json.quorum.signers.map((s: { did: string }) => s.did).sort()).toEqual([alice.did, bob.did].sort());
    expect(cli.json.decisive.message).toMatch(/2 distinct trusted signers \(2 required\)/);

    const item = await (await providerFor(release)).answer(image);
    expect(item.value.isSuccess).toBe(true);
    expect(item.value.signersRequired).toBe(2);
    expect(item.value.signers.map((s: { did: string }) => s.did).sort()).toEqual([alice.did, bob.did].sort());

    for (const referrer of referrers) {
      const r = await faces.plugin(image, referrer, release);
      expect(r.result?.isSuccess, r.result?.message).toBe(true);
      const ext = r.result!.extensions as Record<string, any>;
      expect(ext.signers.map((s: { did: string }) => s.did).sort()).toEqual([alice.did, bob.did].sort());
      expect(ext.signers.every((s: { handle: string; commitCid: string }) => s.handle && /^bafyrei/.test(s.commitCid))).toBe(true);
      // The referrer asked about keeps its own evidence.
      expect([alice.did, bob.did]).toContain(ext.did);
      expect(ext.pdsEndpoint).toBe(net.pdsUrl);
      expect(ext.commitCid).toMatch(/^bafyrei/);
    }
  }, 60_000);

  it.each([
    ['alice alone', 'aliceAlone', () => release, [] as string[]],
    ['alice twice (one DID counts once)', 'aliceTwice', () => release, []],
    ['alice and an untrusted account', 'aliceAndMallory', () => release, ['UNTRUSTED_DID']],
    ["alice and bob, bob's trust expired", 'aliceAndBob', () => bobExpired, ['DID_EXPIRED']],
  ])('refuses %s, naming who is missing, and so does the plugin for every referrer', async (_name, key, policyPath, others) => {
    const { image, referrers } = images[key]!;
    const cli = await faces.verify(image, policyPath());
    expect(cli.code).not.toBe(0);
    expect(cli.json.decisive.error.code).toBe('TOO_FEW_SIGNERS');
    expect(cli.json.quorum.signers.map((s: { did: string }) => s.did)).toEqual([alice.did]);
    expect(cli.json.quorum.missing).toEqual([bob.did]);
    expect(cli.json.decisive.error.message).toContain(bob.did);
    for (const code of others) expect(cli.json.decisive.error.message).toContain(code);

    const item = await (await providerFor(policyPath())).answer(image);
    expect(item.value.isSuccess).toBe(false);
    expect(item.value.error.code).toBe('TOO_FEW_SIGNERS');
    expect(item.value.signersMissing).toEqual([bob.did]);
    expect(item.error).toContain('TOO_FEW_SIGNERS');

    for (const referrer of referrers) {
      const r = await faces.plugin(image, referrer, policyPath());
      expect(r.result?.isSuccess, r.result?.message).toBe(false);
      const ext = r.result!.extensions as Record<string, any>;
      expect(['TOO_FEW_SIGNERS', ...others]).toContain(ext.errorCode);
    }
  }, 60_000);
});
