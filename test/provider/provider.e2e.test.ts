import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage, type PushedImage } from '../../src/devnet/sample-image.js';
import { createLogger } from '../../src/provider/log.js';
import type { ProviderServer } from '../../src/provider/server.js';
import { RegistryClient } from '../../src/registry/client.js';
import { makeTestCa, type TestCa } from '../harness/certs.js';
import { call, eventually, metricValue, providerRequest, type CallOptions } from './https-client.js';
import { imageSignedBySilentPds, pushAndSign, startSilentPds, type SilentPds } from '../harness/silent-pds.js';
import { startMtlsProvider, type MtlsProvider } from '../harness/mtls-provider.js';

// The provider as Gatekeeper meets it: HTTPS with mTLS (certificates made with openssl for this
// run), in front of a real PDS + PLC (@atproto/dev-env) and a real registry (Debian's
// docker-registry). One PDS never answers: a DID in the real PLC directory points at a TCP
// server that accepts connections and stays silent.

const BUDGET_MS = 2500;

let net: AtprotoNetwork;
let registry: RegistryServer;
let alice: Publisher;
let mallory: Publisher;
let mtls: MtlsProvider;
let provider: ProviderServer;
let serverCa: TestCa;
let otherCa: TestCa;
let gatekeeperCert: { cert: string; key: string };
let strangerCert: { cert: string; key: string };
let dir: string;
let policyPath: string;
const logs: { level: string; entry: Record<string, any> }[] = [];

// A PDS that accepts and never answers.
let silentPds: SilentPds;

let trusted: PushedImage[] = [];
let untrusted: PushedImage[] = [];
let unsigned: PushedImage[] = [];
let hanging: PushedImage & { did: string };

const policyFor = (dids: string[]) =>
  `version: "1.0"\ntrustedDIDs:\n${dids.map((d) => `  ${d}: {name: "${d === alice.did ? 'Alice' : 'Other'}", validFrom: "2024-01-01T00:00:00Z"}`).join('\n')}\n` +
  `policies:\n  - name: everything\n    scope: "**"\n    trustedDIDs: [${dids.join(', ')}]\n    action: enforce\n`;



beforeAll(async () => {
  [net, registry] = await Promise.all([startAtprotoNetwork(), startRegistry()]);
  [alice, mallory] = await Promise.all([net.createPublisher('alice'), net.createPublisher('mallory')]);

  silentPds = await startSilentPds();

  const client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true });
  const signAll = (publisher: Publisher, prefix: string, n: number) =>
    Promise.all(Array.from({ length: n }, (_, i) => pushAndSign(client, publisher, `${prefix}/app${i}`, `${prefix} app ${i}`)));
  let warmup: PushedImage[];
  [trusted, untrusted, unsigned, hanging, warmup] = await Promise.all([
    signAll(alice, 'alice', 7),
    signAll(mallory, 'mallory', 5),
    Promise.all([0, 1].map((i) => pushSampleImage(client, registry.host, `alice/unsigned${i}`, 'v1', `unsigned ${i}`))),
    imageSignedBySilentPds(net, client, silentPds, 'silent/app'),
    Promise.all([pushAndSign(client, alice, 'alice/warmup', 'warm a'), pushAndSign(client, mallory, 'mallory/warmup', 'warm m')]),
  ]);
  client.close();

  otherCa = makeTestCa('some other CA');
  strangerCert = otherCa.issue({ cn: 'gatekeeper-webhook-service.gatekeeper-system.svc', clientAuth: true });

  dir = mkdtempSync(join(tmpdir(), 'provider-e2e-'));
  policyPath = join(dir, 'trust-policy.yaml');
  writeFileSync(policyPath, policyFor([alice.did, hanging.did]));

  const log = createLogger('debug', (level, line) => logs.push({ level, entry: JSON.parse(line) }));
  mtls = await startMtlsProvider({
    env: {
      HEALTH_PORT: '0',
      TRUST_POLICY_PATH: policyPath,
      PLC_DIRECTORY: net.plcUrl,
      HANDLE_RESOLVER: net.pdsUrl,
      ALLOW_PRIVATE_NETWORK: 'true',
      REGISTRY_PLAIN_HTTP: 'true',
      REQUEST_BUDGET: `${BUDGET_MS}ms`,
      VERIFY_TIMEOUT: '3s',
      POLICY_POLL_INTERVAL: '250ms',
      LOG_LEVEL: 'debug',
    },
    version: '9.9.9-test',
    log,
    tlsReloadMs: 200,
  });
  ({ server: provider, serverCa } = mtls);
  const { ca: _, ...clientCert } = mtls.asGatekeeper;
  gatekeeperCert = clientCert;
  // A provider that has run for a while knows the signers' DID documents and handles: warm
  // those caches (with other images), so the timing below does not hang on a loaded machine.
  const warm = await call(`${provider.url}/provide`, { ca: serverCa.cert, ...gatekeeperCert, body: providerRequest(warmup.map((i) => i.reference)) });
  expect(warm.json.response.items.map((i: { value: { did: string } }) => i.value.did)).toEqual([alice.did, mallory.did]);
}, 120_000);

afterAll(async () => {
  await mtls?.close();
  silentPds?.close();
  await Promise.all([net?.close(), registry?.close()]);
  otherCa?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A call as Gatekeeper makes it: its client certificate, our CA. */
const asGatekeeper = (path: string, opts: CallOptions = {}) => call(`${provider.url}${path}`, { ca: serverCa.cert, ...gatekeeperCert, ...opts });
const provide = (keys: unknown[]) => asGatekeeper('/provide', { body: providerRequest(keys) });
const metrics = async () => (await call(`${provider.healthUrl}/metrics`)).text;
const tagRef = (img: PushedImage) => img.reference;
const digestRef = (img: PushedImage) => img.reference.replace(/:v1$/, `@${img.digest}`);

describe('TLS and mTLS', () => {
  it('answers Gatekeeper, which presents a certificate from the configured client CA, over TLS 1.3', async () => {
    const r = await asGatekeeper('/health');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: 'ok', version: '9.9.9-test' });
  });

  it('refuses a client without a certificate, in the handshake', async () => {
    await expect(call(`${provider.url}/provide`, { ca: serverCa.cert, body: providerRequest([tagRef(trusted[0]!)]) })).rejects.toThrow(
      /certificate required|ECONNRESET|socket hang up|alert/i,
    );
  });

  it('refuses a client certificate issued by another CA', async () => {
    await expect(call(`${provider.url}/provide`, { ca: serverCa.cert, ...strangerCert, body: providerRequest([tagRef(trusted[0]!)]) })).rejects.toThrow(
      /unknown ca|certificate|ECONNRESET|socket hang up|alert/i,
    );
  });

  it('refuses TLS 1.2, as Gatekeeper itself never uses it', async () => {
    await expect(asGatekeeper('/health', { maxVersion: 'TLSv1.2' })).rejects.toThrow(/protocol|version|alert/i);
  });
});

describe('POST /provide against a real PDS, PLC and registry', () => {
  it('answers a 20-key request item by item, within the budget, though one PDS never answers', async () => {
    const invalid = 'Not A Valid Reference!';
    const unknown = [
      `${registry.host}/nobody/nothing:v1`,
      `${registry.host}/alice/app0:no-such-tag`,
      `${registry.host}/nobody/else@sha256:${'0'.repeat(64)}`,
    ];
    const keys = [
      ...trusted.slice(0, 4).map(tagRef),
      ...trusted.slice(4).map(digestRef),
      ...untrusted.map((img, i) => (i % 2 ? digestRef(img) : tagRef(img))),
      ...unknown,
      ...unsigned.map(tagRef),
      invalid,
      tagRef(hanging),
      tagRef(trusted[0]!), // a duplicate key: answered twice, verified once
    ];
    expect(keys).toHaveLength(20);
    const connectionsBefore = silentPds.connections;

    const r = await provide(keys);
    expect(r.status).toBe(200);
    expect(r.ms).toBeLessThan(BUDGET_MS + 500);
    expect(r.json).toMatchObject({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderResponse', response: { idempotent: true } });
    expect(r.json.response.systemError).toBeUndefined();
    const items: { key: string; value: any; error?: string }[] = r.json.response.items;
    expect(items.map((i) => i.key)).toEqual(keys);
    const byKey = (k: string) => items.find((i) => i.key === k)!;

    for (const img of trusted) {
      for (const key of [tagRef(img), digestRef(img)].filter((k) => keys.includes(k))) {
        const item = byKey(key);
        expect(item.error, key).toBeUndefined();
        expect(item.value).toMatchObject({
          isSuccess: true,
          audit: false,
          reference: key,
          pinned: digestRef(img),
          digest: img.digest,
          did: alice.did,
          handle: alice.handle,
          pdsEndpoint: net.pdsUrl,
          policy: { matched: ['everything'], trustedAs: 'Alice', source: policyPath },
        });
        expect(item.value.commitCid).toMatch(/^bafyrei/);
        expect(item.value.recordUri).toMatch(new RegExp(`^at://${alice.did}/io\\.atcr\\.manifest/`));
        expect(Date.parse(item.value.signedAt)).toBeGreaterThan(Date.now() - 10 * 60_000);
        expect(item.value.error).toBeUndefined();
      }
    }
    for (const img of untrusted) {
      const item = items.find((i) => i.key === tagRef(img) || i.key === digestRef(img))!;
      expect(item.value).toMatchObject({ isSuccess: false, did: mallory.did, error: { code: 'UNTRUSTED_DID', step: 'policy' } });
      expect(item.error).toMatch(/^\[UNTRUSTED_DID\] policy: /);
      expect(item.error).toContain(mallory.did);
      expect(item.value.error.remediation).toBeTruthy();
      // Refused on the signer it claims, before any DID, handle or PDS request (issue 12): no proof was fetched.
      expect(item.error).toContain('claimed, not verified');
      expect(item.value.commitCid).toBeUndefined();
    }
    for (const key of unknown) {
      const item = byKey(key);
      expect(item.value.isSuccess).toBe(false);
      expect(item.error).toMatch(/^\[(REGISTRY_ERROR|ARTIFACT_NOT_FOUND)\]/);
    }
    for (const img of unsigned) {
      expect(byKey(tagRef(img)).value.error.code).toBe('ARTIFACT_NOT_FOUND');
      expect(byKey(tagRef(img)).error).toContain('Sign the image');
    }
    expect(byKey(invalid).value.error).toMatchObject({ code: 'INPUT_INVALID', step: 'input' });
    const late = byKey(tagRef(hanging));
    expect(late.value).toMatchObject({ isSuccess: false, error: { code: 'DEADLINE_EXCEEDED' } });
    expect(late.error).toContain(`${BUDGET_MS} ms request budget`);
    expect(silentPds.connections).toBe(connectionsBefore + 1);

    // Structured logs name the image, the DID, the duration and the error.
    const verified = logs.find((l) => l.entry.msg === 'verified' && l.entry.did === mallory.did);
    expect(verified?.entry).toMatchObject({ isSuccess: false, error: 'UNTRUSTED_DID' });
    expect(verified?.entry.durationMs).toBeTypeOf('number');
    expect(logs.find((l) => l.entry.msg === 'provide' && l.entry.keys === 20)?.entry).toMatchObject({ shape: 'gatekeeper', refused: 12 });
  });

  it('verifies a slow image once for concurrent requests (coalescing), and never waits for it past the budget', async () => {
    await eventually(() => provider.batch.running === 0, 'the earlier verification of the silent image to end', 8000);
    const before = silentPds.connections;
    const key = tagRef(hanging);
    const [a, b] = await Promise.all([provide([key, tagRef(trusted[1]!)]), provide([key])]);
    for (const r of [a, b]) {
      expect(r.ms).toBeLessThan(BUDGET_MS + 500);
      expect(r.json.response.items[0]).toMatchObject({ key, value: { error: { code: 'DEADLINE_EXCEEDED' } } });
    }
    expect(a.json.response.items[1].value.isSuccess).toBe(true);
    expect(silentPds.connections).toBe(before + 1);
  });

  it('serves a verified digest from the cache, and counts hits and misses', async () => {
    const key = digestRef(trusted[2]!);
    const m0 = await metrics();
    const first = await provide([key]);
    const second = await provide([tagRef(trusted[2]!)]);
    expect(first.json.response.items[0].value).toMatchObject({ isSuccess: true });
    expect(second.json.response.items[0].value).toMatchObject({ isSuccess: true, cached: true, reference: tagRef(trusted[2]!) });
    const m1 = await metrics();
    expect(metricValue(m1, 'atcr_provider_cache_hits_total')).toBeGreaterThanOrEqual(metricValue(m0, 'atcr_provider_cache_hits_total') + 1);
  });

  it('moves the ATCR metrics for requests, verifications by result and durations', async () => {
    const m0 = await metrics();
    const r = await provide([digestRef(trusted[3]!), tagRef(untrusted[0]!), tagRef(unsigned[0]!), 'BAD REF']);
    expect(r.status).toBe(200);
    const m1 = await metrics();
    const delta = (name: string, labels: Record<string, string> = {}) => metricValue(m1, name, labels) - metricValue(m0, name, labels);
    expect(delta('atcr_provider_requests_total', { status: '200' })).toBe(1);
    expect(delta('atcr_provider_request_duration_seconds_count')).toBe(1);
    expect(delta('atcr_provider_verifications_total', { result: 'success' })).toBe(1);
    expect(delta('atcr_provider_verifications_total', { result: 'failure' })).toBe(3);
    expect(delta('atcr_provider_cache_hits_total') + delta('atcr_provider_cache_misses_total')).toBe(3);
    expect(metricValue(m1, 'atcr_provider_verification_duration_seconds_count')).toBeGreaterThan(0);
    expect(metricValue(m1, 'atcr_provider_verifications_total', { result: 'timeout' })).toBeGreaterThanOrEqual(1);
    expect(m1).toContain('process_cpu_user_seconds_total');
  });

  it('accepts the ATCR reference provider\'s simple {keys, values} shape, for curl', async () => {
    const r = await asGatekeeper('/provide', { body: { keys: [tagRef(trusted[5]!), tagRef(unsigned[1]!)], values: [] } });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(['responses']);
    expect(r.json.responses[0]).toMatchObject({ key: tagRef(trusted[5]!), value: { isSuccess: true, did: alice.did } });
    expect(r.json.responses[1]).toMatchObject({ key: tagRef(unsigned[1]!), value: { isSuccess: false }, error: expect.stringMatching(/^\[ARTIFACT_NOT_FOUND\]/) });
  });

  it('answers a malformed request as a whole with systemError (fail closed), never with items', async () => {
    const cases: [CallOptions['body'], number, RegExp][] = [
      ['{not json', 400, /not valid JSON/],
      [{ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderResponse', request: { keys: [] } }, 400, /kind must be ProviderRequest/],
      [{ apiVersion: 'example.com/v1', kind: 'ProviderRequest', request: { keys: [] } }, 400, /apiVersion must be/],
      [providerRequest([1, 2]), 400, /request\.keys\[0\] is number/],
      [providerRequest(Array.from({ length: 300 }, (_, i) => `r.example/a:${i}`)), 400, /300 keys, above the limit of 256/],
      [providerRequest(['x'.repeat(1024 * 1024)]), 413, /byte limit/],
    ];
    for (const [body, status, message] of cases) {
      const r = await asGatekeeper('/provide', { body });
      expect(r.status, String(message)).toBe(status);
      expect(r.json.response.items).toEqual([]);
      expect(r.json.response.systemError).toMatch(message);
    }
    const get = await asGatekeeper('/provide');
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    const m = await metrics();
    expect(metricValue(m, 'atcr_provider_requests_total', { status: '400' })).toBeGreaterThanOrEqual(5);
  });

  it('answers an empty key list with no items', async () => {
    const r = await asGatekeeper('/provide', { body: { apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: {} } });
    expect(r.json).toEqual({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderResponse', response: { idempotent: true, items: [] } });
  });
});

describe('health, readiness and metrics for kubelet and Prometheus (plain HTTP, no client certificate)', () => {
  it('serves /health, /ready and /metrics, and never /provide, on the health port', async () => {
    expect((await call(`${provider.healthUrl}/health`)).json).toEqual({ status: 'ok', version: '9.9.9-test' });
    const ready = await call(`${provider.healthUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ status: 'ready', policy: { path: policyPath, loaded: true } });
    expect(ready.json.policy.lastError).toBeUndefined();
    const m = await call(`${provider.healthUrl}/metrics`);
    expect(m.headers['content-type']).toMatch(/^text\/plain/);
    expect(m.text).toContain('# TYPE atcr_provider_requests_total counter');
    expect((await call(`${provider.healthUrl}/provide`, { body: providerRequest([]) })).status).toBe(404);
  });
});

describe('trust policy reload', () => {
  it('applies a valid new policy file, refuses an invalid one (keeping the old), and reports it on /ready', async () => {
    const key = digestRef(untrusted[1]!);
    expect((await provide([key])).json.response.items[0].value.error.code).toBe('UNTRUSTED_DID');
    const firstDigest = provider.policy.status.digest;

    writeFileSync(policyPath, policyFor([alice.did, mallory.did, hanging.did]));
    await eventually(() => provider.policy.status.digest !== firstDigest, 'the new policy to load');
    const now = await provide([key]);
    expect(now.json.response.items[0].value).toMatchObject({ isSuccess: true, did: mallory.did, cached: false });
    const reloadedDigest = provider.policy.status.digest;

    writeFileSync(policyPath, 'version: "1.0"\ntrustedDIDs: [this is not a map\n');
    await eventually(() => provider.policy.status.lastError !== undefined, 'the invalid policy to be noticed');
    expect(provider.policy.status.digest).toBe(reloadedDigest);
    const ready = await call(`${provider.healthUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.json.policy).toMatchObject({ loaded: true, digest: reloadedDigest, lastError: expect.stringMatching(/not valid YAML/) });
    expect(logs.some((l) => l.level === 'error' && /trust policy file rejected; keeping policy/.test(l.entry.msg))).toBe(true);
    expect(metricValue(await metrics(), 'atproto_verifier_policy_valid')).toBe(0);
    // Still the reloaded policy: mallory is trusted.
    expect((await provide([key])).json.response.items[0].value.isSuccess).toBe(true);

    writeFileSync(policyPath, policyFor([alice.did, hanging.did]));
    await eventually(() => provider.policy.status.digest === firstDigest && !provider.policy.status.lastError, 'the original policy to come back');
    expect((await provide([key])).json.response.items[0].value.error.code).toBe('UNTRUSTED_DID');
    const m = await metrics();
    expect(metricValue(m, 'atproto_verifier_policy_reloads_total', { result: 'invalid' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(m, 'atproto_verifier_policy_valid')).toBe(1);
  });
});

describe('certificate rotation', () => {
  it("follows a rotation of Gatekeeper's CA (cert-controller) without a restart", async () => {
    const rotated = makeTestCa('gatekeeper CA, rotated');
    try {
      const newCert = rotated.issue({ cn: 'gatekeeper-webhook-service.gatekeeper-system.svc', clientAuth: true });
      writeFileSync(mtls.clientCaPath, rotated.cert);
      await eventually(() => logs.some((l) => l.entry.msg === 'TLS certificate or client CA reloaded'), 'the new client CA to load');
      expect((await call(`${provider.url}/health`, { ca: serverCa.cert, ...newCert })).status).toBe(200);
      await expect(call(`${provider.url}/health`, { ca: serverCa.cert, ...gatekeeperCert })).rejects.toThrow();
    } finally {
      writeFileSync(mtls.clientCaPath, mtls.gatekeeperCa.cert);
      rotated.dispose();
    }
  });
});
