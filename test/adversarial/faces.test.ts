/**
 * The adversarial corpus through the two other faces of the verifier, as their callers meet them:
 * the plugin executable run exactly as Ratify runs it (dist/atproto-verifier, one process per
 * case), and the Gatekeeper provider over HTTPS with mTLS (in-process, many keys per
 * ProviderRequest). Every payload, car and manifest case is attached to an image in a real
 * docker-registry and must end in the code the engine gives it (corpus.test.ts): a hostile case
 * that passes through any face is the worst possible result and is reported first.
 *
 * These faces see the real registry host, so the corpus is generated in memory for
 * `127.0.0.1:<port>` (same cases and codes; records and policy scope name that host). Each case is
 * checked offline: keys pinned in the generated policy, proof embedded, PLC directory and handle
 * resolver `https://127.0.0.1:9` (refused by the fetch guard before any I/O), so no case needs
 * the network, and one that tries ends in NETWORK_DENIED.
 *
 * Every case signs the same subject digest for one repository, and a provider key is an image:
 * so the provider sees the corpus in LANES repositories (`adversarial/app`, `adversarial/app-1`,
 * ...; one generated corpus each), one key per lane per request, and before each request every
 * lane's referrers tag-schema index is rewritten to list that round's case alone. The result cache
 * is off, so each request lists the referrers afresh.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { attachSignature } from '../../src/publish/attach-signature.js';
import { digestOf, RegistryClient } from '../../src/registry/client.js';
import { OCI_INDEX_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, referrersTag, type Descriptor } from '../../src/registry/oci.js';
import { runLikeRatify } from '../harness/ratify-exec.js';
import { call, providerRequest } from '../provider/https-client.js';
import { caseId, generatedCorpus, listCases, verifyRequestFor, type CorpusCase, type CorpusSource, type Expectation } from './corpus.js';
import { generateCorpus } from './generate.js';
import { startMtlsProvider, type MtlsProvider } from '../harness/mtls-provider.js';

const EXECUTABLE = process.env.ATPROTO_VERIFIER_EXECUTABLE ?? resolve('dist/atproto-verifier');
/** Plugin processes at once: each is a Node SEA start plus one verification (~0.4 s of CPU) on a 2-core machine. */
const PLUGIN_CONCURRENCY = 4;
/** Images (repositories) per provider request. */
const LANES = 8;
/** Nothing here touches the network: a case that tries is refused before any I/O. */
const UNREACHABLE = 'https://127.0.0.1:9';

/** Every case that is one signature artifact in a registry (did, did-document and chain cases are not). */
const CASES = [...listCases('payload'), ...listCases('car'), ...listCases('manifest')];

interface Lane {
  repository: string;
  corpus: CorpusSource;
}

/** A case as attached in one lane: the image it is a referrer of, and the referrer. */
interface Attached {
  subject: string;
  referrer: Descriptor;
}

/** What a face said about a case: `OK`, an error code, or a description of a protocol failure. */
type Verdict = Expectation | `(${string})`;

let registry: RegistryServer;
let client: RegistryClient;
let dir: string;
let policyPath: string;
let lanes: Lane[];
/** attached[lane].get(case file) */
let attached: Map<string, Attached>[];

const expected = (c: CorpusCase): Expectation => c.today ?? c.expect;
const laneOf = (i: number) => i % LANES;
const attachedCase = (c: CorpusCase) => {
  const k = laneOf(CASES.indexOf(c));
  return { lane: lanes[k]!, ...attached[k]!.get(c.file)! };
};

/**
 * The cases run through the plugin. A process per case costs about 0.4 s of CPU, so by default
 * every payload and manifest case runs, and of the car cases (which differ only inside the
 * embedded proof, the engine's business) the controls and every CAR_SAMPLE-th one in manifest
 * order; FACES_ALL=1 runs all 208 (about 80 s on two busy cores). The provider always runs all.
 */
const CAR_SAMPLE = 8;
const PLUGIN_CASES =
  process.env.FACES_ALL === '1'
    ? CASES
    : CASES.filter((c) => c.kind !== 'car' || c.expect === 'OK' || listCases('car').indexOf(c) % CAR_SAMPLE === 0);

beforeAll(async () => {
  const t0 = performance.now();
  registry = await startRegistry();
  client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true, timeoutMs: 10_000 });
  dir = mkdtempSync(join(tmpdir(), 'corpus-faces-'));
  lanes = [];
  for (let k = 0; k < LANES; k++) {
    const repository = k === 0 ? 'adversarial/app' : `adversarial/app-${k}`;
    lanes.push({ repository, corpus: generatedCorpus(await generateCorpus({ registryName: registry.host, repository })) });
  }
  // Same cases, same codes as the committed corpus the engine is graded on.
  const shape = (cs: CorpusCase[]) => cs.map((c) => [c.file, c.kind, c.expect, c.today ?? null]);
  for (const lane of lanes) expect(shape(lane.corpus.manifest.cases)).toEqual(shape(listCases()));
  const policy = lanes[0]!.corpus.bytes(lanes[0]!.corpus.manifest.world.policy);
  for (const lane of lanes) expect(Buffer.compare(lane.corpus.bytes(lane.corpus.manifest.world.policy), policy)).toBe(0);
  policyPath = join(dir, 'policy.yaml');
  // The registry is on loopback: the policy allows that registry alone, while PLC, PDS and
  // did:web hosts stay under the address guard (the corpus expects NETWORK_DENIED from them).
  writeFileSync(policyPath, Buffer.concat([policy, Buffer.from(`\nregistries:\n  - host: "${registry.host}"\n    allowPrivateNetwork: true\n`)]));
  const t1 = performance.now();

  attached = lanes.map(() => new Map());
  await Promise.all(
    lanes.map(async (lane, k) => {
      const { world } = lane.corpus.manifest;
      for (const blob of world.registry.blobs) await client.pushBlob(lane.repository, lane.corpus.bytes(blob));
      const subjectBytes = lane.corpus.bytes(world.registry.subjectManifest);
      expect(await client.pushManifest(lane.repository, 'subject', subjectBytes, OCI_MANIFEST_MEDIA_TYPE)).toBe(world.subjectDigest);
      // Case i lives in lane i mod LANES, for both faces.
      for (const [i, c] of CASES.entries()) {
        if (laneOf(i) === k) attached[k]!.set(c.file, await attach(lane, c, subjectBytes.length));
      }
    }),
  );
  console.log(`setup: ${LANES} corpora generated in ${Math.round(t1 - t0)} ms, pushed in ${Math.round(performance.now() - t1)} ms`);
}, 120_000);

afterAll(async () => {
  client?.close();
  await registry?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Pushes a case into a lane: a payload or car case through attachSignature, a manifest case as its bytes. */
async function attach(lane: Lane, c: CorpusCase, subjectSize: number): Promise<Attached> {
  const { world } = lane.corpus.manifest;
  if (c.kind === 'manifest') {
    const bytes = lane.corpus.bytes(c.file);
    const mediaType = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType: string }).mediaType;
    const digest = await client.pushManifest(lane.repository, digestOf(bytes), bytes, mediaType);
    // The index claims the signature artifact type whatever the manifest says: the registry lies.
    return { subject: world.subjectDigest, referrer: { mediaType, digest, size: bytes.length, artifactType: SIGNATURE_ARTIFACT_TYPE } };
  }
  const request = verifyRequestFor(c, lane.corpus);
  const subject = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: request.subjectDigest, size: subjectSize };
  return { subject: request.subjectDigest, referrer: await attachSignature(client, lane.repository, subject, request.payload) };
}

/** Runs `fn` over `items`, `limit` at a time, in order of start. */
async function pool<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** Checks one face's verdicts: hostile cases let through first, then every other difference. */
function judge(face: string, cases: CorpusCase[], verdicts: Map<string, Verdict>): void {
  const letThrough = cases.filter((c) => expected(c) !== 'OK' && verdicts.get(c.file) === 'OK').map((c) => `${caseId(c)} (expected ${expected(c)})`);
  const differ = cases.filter((c) => verdicts.get(c.file) !== expected(c)).map((c) => `${caseId(c)}: expected ${expected(c)}, ${face} said ${verdicts.get(c.file)}`);
  const counts: Record<string, number> = {};
  for (const c of cases) counts[c.kind] = (counts[c.kind] ?? 0) + 1;
  console.log(`adversarial corpus through the ${face}: ${cases.length} cases`, counts, `${differ.length} mismatches, ${letThrough.length} hostile cases passed`);
  expect(letThrough, `hostile cases that PASSED through the ${face}`).toEqual([]);
  expect(differ, `cases the ${face} ended with another code than the engine`).toEqual([]);
}

describe('the plugin executable, run as Ratify runs it', () => {
  const verdicts = new Map<string, Verdict>();

  beforeAll(async () => {
    const stdin = (referrer: Descriptor) =>
      JSON.stringify({
        config: {
          name: 'atproto-verifier',
          type: 'atproto-verifier',
          artifactTypes: SIGNATURE_ARTIFACT_TYPE,
          trustPolicyPath: policyPath,
          plcDirectory: UNREACHABLE,
          handleResolver: UNREACHABLE,
          cacheEnabled: false,
          offline: true,
        },
        storeConfig: { version: '1.0.0', pluginBinDirs: null, store: { name: 'oras', useHttp: true } },
        referenceDesc: { mediaType: referrer.mediaType, digest: referrer.digest, size: referrer.size, artifactType: SIGNATURE_ARTIFACT_TYPE },
      });
    const started = performance.now();
    const times: number[] = [];
    await pool(PLUGIN_CASES, PLUGIN_CONCURRENCY, async (c) => {
      const { lane, subject, referrer } = attachedCase(c);
      const t = performance.now();
      const r = await runLikeRatify({
        executable: EXECUTABLE,
        subject: `${registry.host}/${lane.repository}@${subject}`,
        stdin: stdin(referrer),
        env: { DOCKER_CONFIG: join(dir, 'no-docker-config') },
      });
      times.push(performance.now() - t);
      if (r.exitCode !== 0) verdicts.set(c.file, `(exit ${r.exitCode}: ${r.stdout.trim().slice(0, 200)})`);
      else if (!r.result) verdicts.set(c.file, `(no result: ${r.json.slice(0, 200)})`);
      else verdicts.set(c.file, r.result.isSuccess ? 'OK' : ((r.result.extensions?.errorCode as Expectation | undefined) ?? '(no errorCode)'));
    });
    const median = times.sort((a, b) => a - b)[times.length >> 1] ?? 0;
    console.log(`plugin: ${PLUGIN_CASES.length} processes, ${PLUGIN_CONCURRENCY} at a time, in ${Math.round(performance.now() - started)} ms (median ${Math.round(median)} ms each)`);
  }, 120_000);

  it('ends every case in its expected code, and passes none of the hostile ones', () => {
    judge('plugin', PLUGIN_CASES, verdicts);
  });
});

describe('the Gatekeeper provider, over HTTPS with mTLS', () => {
  const verdicts = new Map<string, Verdict>();
  let mtls: MtlsProvider;
  let requests = 0;

  beforeAll(async () => {
    mtls = await startMtlsProvider({
      env: {
        HEALTH_PORT: 'off',
        TRUST_POLICY_PATH: policyPath,
        PLC_DIRECTORY: UNREACHABLE,
        HANDLE_RESOLVER: UNREACHABLE,
        OFFLINE: 'true',
        REGISTRY_PLAIN_HTTP: 'true',
        // Each request is checked for its codes, not its speed: a loaded machine must not turn a
        // slow case (4 MiB payloads, 1,000,000 nested arrays) into DEADLINE_EXCEEDED.
        REQUEST_BUDGET: '30s',
        VERIFY_TIMEOUT: '30s',
        CACHE_ENABLED: 'false',
      },
      version: 'corpus',
    });

    const started = performance.now();
    const rounds = Math.ceil(CASES.length / LANES);
    for (let round = 0; round < rounds; round++) {
      const batch = CASES.map((c, i) => ({ c, i })).slice(round * LANES, (round + 1) * LANES);
      const keys = await Promise.all(
        batch.map(async ({ c }) => {
          const { lane, subject, referrer } = attachedCase(c);
          // This round's case is the image's only signature referrer.
          const index = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests: [referrer] }));
          await client.pushManifest(lane.repository, referrersTag(subject), index, OCI_INDEX_MEDIA_TYPE);
          return `${registry.host}/${lane.repository}@${subject}`;
        }),
      );
      const r = await call(`${mtls.server.url}/provide`, { ...mtls.asGatekeeper, body: providerRequest(keys), timeoutMs: 60_000 });
      requests++;
      const items: { key: string; value: { isSuccess: boolean; error?: { code: Expectation } }; error?: string }[] = r.json?.response?.items ?? [];
      for (const [j, { c }] of batch.entries()) {
        const item = items[j];
        if (r.status !== 200 || r.json.response.systemError) verdicts.set(c.file, `(HTTP ${r.status}: ${String(r.json?.response?.systemError ?? r.text).slice(0, 200)})`);
        else if (!item || item.key !== keys[j]) verdicts.set(c.file, `(item ${j} is for ${item?.key}, not ${keys[j]})`);
        else if (item.value.isSuccess) verdicts.set(c.file, item.error === undefined ? 'OK' : `(isSuccess with an error: ${item.error})`);
        else if (!item.error?.startsWith(`[${item.value.error?.code}]`)) verdicts.set(c.file, `(refused, but the item error does not carry its code: ${item.error})`);
        else verdicts.set(c.file, item.value.error!.code);
      }
    }
    console.log(`provider: ${requests} ProviderRequests of up to ${LANES} keys in ${Math.round(performance.now() - started)} ms`);
  }, 120_000);

  afterAll(async () => {
    await mtls?.close();
  });

  it('ends every case in its expected code, item by item, and passes none of the hostile ones', () => {
    judge('provider', CASES, verdicts);
  });
});
