import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage, type PushedImage } from '../../src/devnet/sample-image.js';
import type { ProviderServer } from '../../src/provider/server.js';
import { RegistryClient } from '../../src/registry/client.js';
import { startMtlsProvider, type MtlsProvider } from '../harness/mtls-provider.js';
import { pushAndSign } from '../harness/silent-pds.js';
import { call, metricValue, providerRequest, type CallOptions } from './https-client.js';

// POST /mutate, the tag-to-digest face for Gatekeeper's Assign mutators, as Gatekeeper calls it
// (HTTPS, mTLS), in front of a real PDS + PLC (@atproto/dev-env) and a real registry (Debian's
// docker-registry): the tag is answered with the digest that verified, never with one that did
// not, and the validating call that follows is a cache hit.

let net: AtprotoNetwork;
let registry: RegistryServer;
let alice: Publisher;
let mallory: Publisher;
let client: RegistryClient;
let mtls: MtlsProvider;
let provider: ProviderServer;
let dir: string;
let signed: PushedImage;
let movable: PushedImage;
let untrusted: PushedImage;
let unsigned: PushedImage;

beforeAll(async () => {
  [net, registry] = await Promise.all([startAtprotoNetwork(), startRegistry()]);
  [alice, mallory] = await Promise.all([net.createPublisher('alice'), net.createPublisher('mallory')]);
  client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true });
  [signed, movable, untrusted, unsigned] = await Promise.all([
    pushAndSign(client, alice, 'alice/web', 'web 1'),
    pushAndSign(client, alice, 'alice/moving', 'moving 1'),
    pushAndSign(client, mallory, 'mallory/app', 'mallory 1'),
    pushSampleImage(client, registry.host, 'alice/unsigned', 'v1', 'never signed'),
  ]);
  dir = mkdtempSync(join(tmpdir(), 'mutate-e2e-'));
  writeFileSync(
    join(dir, 'trust-policy.yaml'),
    `version: "1.0"\ntrustedDIDs:\n  ${alice.did}: {name: "Alice", validFrom: "2024-01-01T00:00:00Z"}\n` +
      `policies:\n  - name: everything\n    scope: "**"\n    trustedDIDs: [${alice.did}]\n    action: enforce\n`,
  );
  mtls = await startMtlsProvider({
    env: {
      HEALTH_PORT: '0',
      TRUST_POLICY_PATH: join(dir, 'trust-policy.yaml'),
      PLC_DIRECTORY: net.plcUrl,
      HANDLE_RESOLVER: net.pdsUrl,
      ALLOW_PRIVATE_NETWORK: 'true',
      REGISTRY_PLAIN_HTTP: 'true',
      // Generous: a first verification on a loaded 2-CPU machine must not hit the budget here.
      REQUEST_BUDGET: '20s',
      VERIFY_TIMEOUT: '20s',
    },
    version: '9.9.9-test',
  });
  provider = mtls.server;
}, 120_000);

afterAll(async () => {
  await mtls?.close();
  client?.close();
  await Promise.all([net?.close(), registry?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const asGatekeeper = (path: string, opts: CallOptions = {}) => call(`${provider.url}${path}`, { ...mtls.asGatekeeper, timeoutMs: 30_000, ...opts });
const mutate = (keys: unknown[]) => asGatekeeper('/mutate', { body: providerRequest(keys) });
const provide = (keys: unknown[]) => asGatekeeper('/provide', { body: providerRequest(keys) });
const metrics = async () => (await call(`${provider.healthUrl}/metrics`)).text;
const pinnedOf = (img: PushedImage) => img.reference.replace(/:[^:/]+$/, `@${img.digest}`);
type Item = { key: string; value?: unknown; error?: string };
const items = (r: { json: any }): Item[] => r.json.response.items;

describe('POST /mutate', () => {
  it('answers a signed, trusted tag with its canonical registry/repository@sha256 digest, as Gatekeeper requires (idempotent, string value)', async () => {
    const r = await mutate([signed.reference]);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderResponse', response: { idempotent: true } });
    expect(r.json.response.systemError).toBeUndefined();
    expect(items(r)).toEqual([{ key: signed.reference, value: `${registry.host}/alice/web@${signed.digest}` }]);
  });

  it('validation of the digest it returned is a cache hit: one verification per image, not two', async () => {
    const before = await metrics();
    const mutated = items(await mutate([`${registry.host}/alice/web:v1`]))[0]!.value as string;
    const validated = items(await provide([mutated]))[0]!;
    const after = await metrics();
    const delta = (name: string) => metricValue(after, name) - metricValue(before, name);
    expect(validated.error).toBeUndefined();
    expect(validated.value).toMatchObject({ isSuccess: true, reference: mutated, pinned: mutated, digest: signed.digest, did: alice.did, cached: true });
    expect(delta('atcr_provider_verification_duration_seconds_count')).toBe(0);
    expect(delta('atcr_provider_cache_misses_total')).toBe(0);
    expect(delta('atcr_provider_cache_hits_total')).toBe(2);
  });

  it('returns a reference that already carries a digest unchanged, verified at that digest', async () => {
    const digestOnly = pinnedOf(signed);
    const tagAndDigest = `${signed.reference}@${signed.digest}`;
    const r = await mutate([digestOnly, tagAndDigest]);
    expect(items(r)).toEqual([
      { key: digestOnly, value: digestOnly },
      { key: tagAndDigest, value: tagAndDigest },
    ]);
  });

  it('refuses a digest reference that does not verify, with an error item and no value', async () => {
    const r = await mutate([pinnedOf(unsigned)]);
    const [item] = items(r);
    expect(item).toEqual({ key: pinnedOf(unsigned), error: expect.stringMatching(/^\[ARTIFACT_NOT_FOUND\] artifact: /) });
  });

  it('answers an unsigned image and an untrusted signer with error items carrying code and remediation, never a digest', async () => {
    const r = await mutate([unsigned.reference, untrusted.reference]);
    const [u, m] = items(r);
    expect(u).toEqual({ key: unsigned.reference, error: expect.stringMatching(/^\[ARTIFACT_NOT_FOUND\] artifact: .+\. \S/) });
    expect(m).toEqual({ key: untrusted.reference, error: expect.stringMatching(/^\[UNTRUSTED_DID\] policy: /) });
    expect(m!.error).toContain(mallory.did);
    // No value at all on a refusal (toEqual above): Gatekeeper has nothing it could write.
    expect(items(r).every((i) => !('value' in i))).toBe(true);
  });

  it('when the tag moves to unsigned bytes: the earlier answer still names the verified digest, a new request for the tag is refused', async () => {
    const first = items(await mutate([movable.reference]))[0]!;
    expect(first).toEqual({ key: movable.reference, value: pinnedOf(movable) });

    // Whoever controls the registry moves the tag to other, unsigned bytes.
    const moved = await pushSampleImage(client, registry.host, 'alice/moving', 'v1', 'moving 2, never signed');
    expect(moved.digest).not.toBe(movable.digest);
    expect(await client.resolveDigest('alice/moving', 'v1')).toBe(moved.digest);

    // The Pod mutated earlier names the verified bytes, which still verify.
    const earlier = items(await provide([first.value]))[0]!;
    expect(earlier.value).toMatchObject({ isSuccess: true, digest: movable.digest });
    // The tag is resolved again on every request: now it names bytes nobody signed.
    const again = items(await mutate([movable.reference]))[0]!;
    expect(again).toEqual({ key: movable.reference, error: expect.stringMatching(/^\[ARTIFACT_NOT_FOUND\] /) });
    expect(again.error).toContain(moved.digest);
  });

  it('answers item by item, in order, with duplicates and an invalid reference in the same request', async () => {
    const keys = [signed.reference, 'Not A Valid Reference!', unsigned.reference, signed.reference];
    const r = await mutate(keys);
    expect(items(r).map((i) => i.key)).toEqual(keys);
    expect(items(r).map((i) => (i.error ? i.error.slice(0, i.error.indexOf(']') + 1) : i.value))).toEqual([
      pinnedOf(signed),
      '[INPUT_INVALID]',
      '[ARTIFACT_NOT_FOUND]',
      pinnedOf(signed),
    ]);
  });

  it('counts mutations by result, and /mutate requests apart from /provide', async () => {
    const before = await metrics();
    await mutate([signed.reference, pinnedOf(signed), unsigned.reference]);
    const after = await metrics();
    const delta = (name: string, labels: Record<string, string>) => metricValue(after, name, labels) - metricValue(before, name, labels);
    expect(delta('atproto_verifier_mutations_total', { result: 'pinned' })).toBe(1);
    expect(delta('atproto_verifier_mutations_total', { result: 'unchanged' })).toBe(1);
    expect(delta('atproto_verifier_mutations_total', { result: 'refused' })).toBe(1);
    expect(delta('atproto_verifier_mutate_requests_total', { status: '200' })).toBe(1);
    expect(delta('atcr_provider_requests_total', { status: '200' })).toBe(0);
  });

  it('fails the whole request closed on a bad body, a wrong method, or a client without Gatekeeper\'s certificate', async () => {
    const bad = await asGatekeeper('/mutate', { body: '{"kind": "ProviderRequest"' });
    expect(bad.status).toBe(400);
    expect(bad.json.response).toMatchObject({ items: [], systemError: expect.stringMatching(/not valid JSON/) });
    const get = await asGatekeeper('/mutate');
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    await expect(call(`${provider.url}/mutate`, { ca: mtls.asGatekeeper.ca, body: providerRequest([signed.reference]) })).rejects.toThrow(
      /certificate required|ECONNRESET|socket hang up|alert/i,
    );
    const unknown = await asGatekeeper('/constructor', { body: providerRequest([]) });
    expect(unknown.status).toBe(404);
  });
});
