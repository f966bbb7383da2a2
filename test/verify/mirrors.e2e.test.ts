import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage, type PushedImage } from '../../src/devnet/sample-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import type { Descriptor } from '../../src/registry/oci.js';
import { OCI_MANIFEST_MEDIA_TYPE } from '../../src/registry/oci.js';
import { cliIsBuilt, runCli } from '../cli/run-cli.js';
import { startMtlsProvider, type MtlsProvider } from '../harness/mtls-provider.js';
import { runLikeRatify } from '../harness/ratify-exec.js';
import { call, eventually, providerRequest } from '../provider/https-client.js';

// Registries as clusters use them (issue 11), with two real registries (Debian's docker-registry):
// an origin where alice publishes and signs, and a mirror that images are copied to with skopeo
// (digests preserved), their signature referrers copied by digest or not at all. Every case runs
// through `verify`, the Ratify plugin (the built executable) and the Gatekeeper provider; and
// `sign` writes what they accept under both repository layouts (issue 20 item 5).

const EXECUTABLE = process.env.ATPROTO_VERIFIER_EXECUTABLE ?? resolve('dist/atproto-verifier');
/** Generous deadlines: this machine is shared; the budgets themselves are tested elsewhere. */
const DEADLINE = '20s';

let net: AtprotoNetwork;
let origin: RegistryServer;
let mirror: RegistryServer;
let originClient: RegistryClient;
let mirrorClient: RegistryClient;
let alice: Publisher;
let dir: string;
let mtls: MtlsProvider;
let providerPolicy: string;

/** An image on a registry, with the referrers it carries there (empty when none were copied). */
interface Placed {
  registry: RegistryServer;
  repository: string;
  digest: string;
  referrers: Descriptor[];
}
const ref = (p: Placed) => `${p.registry.host}/${p.repository}@${p.digest}`;

let atcrOnOrigin: Placed; // origin/alice.test/app: ATCR layout, record names "app"
let teamOnOrigin: Placed; // origin/team/tool: full-name layout, record names "origin/team/tool"
let keptAtcr: Placed; // mirror/alice.test/app, with referrers
let keptTeam: Placed; // mirror/team/tool, with referrers
let prefixed: Placed; // mirror/proxy/team/tool, with referrers
let bare: Placed; // mirror/cache/team/tool, no referrers
let otherBytes: Placed; // mirror/cache/team/tool:v2, bytes the origin never had
let otherIdentity: Placed; // mirror/mallory.test/app: alice's bytes and referrers under mallory's path
let otherIdentityPrefixed: Placed; // mirror/proxy/mallory.test/app, the same through the prefix mirror

function skopeo(...args: string[]): void {
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--preserve-digests', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Copies an origin image to the mirror as a mirror does (skopeo, digest preserved), and with
 * `referrers` its signature referrers by digest, then indexes them under the mirror's tag-schema
 * tag, as `oras cp -r` does for a registry without the referrers API.
 */
async function copyToMirror(from: Placed, repository: string, referrers: boolean): Promise<Placed> {
  skopeo(`docker://${ref(from)}`, `docker://${mirror.host}/${repository}:v1`);
  const copied: Descriptor[] = [];
  if (referrers) {
    for (const referrer of from.referrers) {
      skopeo(`docker://${from.registry.host}/${from.repository}@${referrer.digest}`, `docker://${mirror.host}/${repository}@${referrer.digest}`);
      await mirrorClient.addReferrerToTagSchemaIndex(repository, from.digest, referrer);
      copied.push(referrer);
    }
  }
  expect((await mirrorClient.getManifest(repository, 'v1')).digest).toBe(from.digest);
  return { registry: mirror, repository, digest: from.digest, referrers: copied };
}

async function signedOnOrigin(repository: string, content: string): Promise<Placed> {
  const image: PushedImage = await pushSampleImage(originClient, origin.host, repository, 'v1', content);
  const signed = await alice.sign(`${origin.host}/${repository}@${image.digest}`, originClient);
  const referrers = await originClient.listReferrers(repository, image.digest, SIGNATURE_ARTIFACT_TYPE);
  expect(referrers.map((r) => r.digest)).toEqual([signed.referrer]);
  return { registry: origin, repository, digest: image.digest, referrers };
}

// The trust policies of the cases: alice trusted for every image, and what is said of the mirror.
const policies = () => {
  const base = `version: "1.0"\ntrustedDIDs:\n  ${alice.did}: {name: "Alice"}\npolicies:\n  - {name: everything, scope: "**", trustedDIDs: [${alice.did}]}\n`;
  const entry = (fields: string) => `${base}registries:\n  - {host: "${mirror.host}", mirrorOf: "${origin.host}", allowPrivateNetwork: true, allowHttp: true${fields}}\n  - {host: "${origin.host}", allowPrivateNetwork: true, allowHttp: true}\n`;
  return {
    none: base,
    keepPath: entry(''),
    prefix: entry(', stripPrefix: proxy'),
    cacheSelf: entry(', stripPrefix: cache'),
    cacheOrigin: entry(', stripPrefix: cache, referrersFrom: origin'),
    keepPathAtcrOrigin: entry('').replace(`{host: "${origin.host}", `, `{host: "${origin.host}", atcr: true, `),
  };
};
type PolicyName = keyof ReturnType<typeof policies>;
const policyFiles = {} as Record<PolicyName, string>;

beforeAll(async () => {
  expect(existsSync(EXECUTABLE), `${EXECUTABLE} is missing: run node scripts/build.mjs`).toBe(true);
  expect(cliIsBuilt(), 'dist/cli.js is missing: run node scripts/build.mjs --bundle-only').toBe(true);
  expect(() => execFileSync('skopeo', ['--version'])).not.toThrow(); // apt-get install skopeo (scripts/install-system-deps.sh)
  [net, origin, mirror] = await Promise.all([startAtprotoNetwork(), startRegistry(), startRegistry()]);
  alice = await net.createPublisher('alice');
  originClient = new RegistryClient({ registry: origin.host, allowPrivateNetwork: true, useHttp: true });
  mirrorClient = new RegistryClient({ registry: mirror.host, allowPrivateNetwork: true, useHttp: true });

  [atcrOnOrigin, teamOnOrigin] = await Promise.all([signedOnOrigin(`${alice.handle}/app`, 'atcr layout app'), signedOnOrigin('team/tool', 'team tool')]);
  keptAtcr = await copyToMirror(atcrOnOrigin, `${alice.handle}/app`, true);
  keptTeam = await copyToMirror(teamOnOrigin, 'team/tool', true);
  prefixed = await copyToMirror(teamOnOrigin, 'proxy/team/tool', true);
  bare = await copyToMirror(teamOnOrigin, 'cache/team/tool', false);
  otherIdentity = await copyToMirror(atcrOnOrigin, 'mallory.test/app', true);
  otherIdentityPrefixed = await copyToMirror(atcrOnOrigin, 'proxy/mallory.test/app', true);
  const v2 = await pushSampleImage(mirrorClient, mirror.host, 'cache/team/tool', 'v2', 'bytes the origin never had');
  otherBytes = { registry: mirror, repository: 'cache/team/tool', digest: v2.digest, referrers: [] };

  dir = mkdtempSync(join(tmpdir(), 'mirrors-e2e-'));
  for (const [name, text] of Object.entries(policies())) {
    policyFiles[name as PolicyName] = join(dir, `${name}.yaml`);
    writeFileSync(policyFiles[name as PolicyName], text);
  }
  providerPolicy = join(dir, 'provider-policy.yaml');
  writeFileSync(providerPolicy, policies().none);
  mtls = await startMtlsProvider({
    env: {
      HEALTH_PORT: 'off',
      TRUST_POLICY_PATH: providerPolicy,
      PLC_DIRECTORY: net.plcUrl,
      HANDLE_RESOLVER: net.pdsUrl,
      ALLOW_PRIVATE_NETWORK: 'true',
      REGISTRY_PLAIN_HTTP: 'true',
      REQUEST_BUDGET: DEADLINE,
      VERIFY_TIMEOUT: DEADLINE,
      POLICY_POLL_INTERVAL: '100ms',
      CACHE_ENABLED: 'false',
    },
    version: 'mirrors-test',
  });
}, 180_000);

afterAll(async () => {
  await mtls?.close();
  originClient?.close();
  mirrorClient?.close();
  await Promise.all([net?.close(), origin?.close(), mirror?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A decision as each face reports it: pass/fail, the error code and the text an operator reads. */
interface Verdict {
  ok: boolean;
  code?: string;
  text: string;
}

async function viaCli(image: Placed | string, policy: PolicyName, ...more: string[]): Promise<Verdict> {
  const args = ['verify', typeof image === 'string' ? image : ref(image), '--policy', policyFiles[policy], '--plc-directory', net.plcUrl, '--allow-private-network', '--plain-http', '--handle-resolver', net.pdsUrl, '--no-cache', ...more];
  const r = await runCli([...args, '--output', 'json'], { timeoutMs: 60_000 });
  expect([0, 1], r.stderr).toContain(r.code);
  const json = JSON.parse(r.stdout);
  const text = (await runCli(args, { timeoutMs: 60_000 })).stdout;
  return { ok: r.code === 0, ...(json.decisive.error ? { code: json.decisive.error.code } : {}), text: `${text}\n${json.decisive.error?.remediation ?? ''}` };
}

async function viaPlugin(image: Placed, policy: PolicyName, referrer = image.referrers[0]!): Promise<Verdict> {
  const stdin = JSON.stringify({
    config: {
      name: 'atproto-verifier',
      type: 'atproto-verifier',
      artifactTypes: SIGNATURE_ARTIFACT_TYPE,
      trustPolicyPath: policyFiles[policy],
      plcDirectory: net.plcUrl,
      handleResolver: net.pdsUrl,
      allowPrivateNetwork: true,
      cacheEnabled: false,
      timeout: DEADLINE,
    },
    storeConfig: { version: '1.0.0', pluginBinDirs: null, store: { name: 'oras', useHttp: true } },
    referenceDesc: { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: referrer.digest, size: referrer.size, artifactType: SIGNATURE_ARTIFACT_TYPE },
  });
  const r = await runLikeRatify({ executable: EXECUTABLE, subject: ref(image), stdin, env: { DOCKER_CONFIG: join(dir, 'no-docker-config') }, timeoutMs: 60_000 });
  expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  const ext = r.result!.extensions;
  return { ok: r.result!.isSuccess, ...(ext.errorCode ? { code: String(ext.errorCode) } : {}), text: `${r.result!.message}\n${String(ext.registryMapping ?? '')}\n${String(ext.remediation ?? '')}` };
}

async function viaProvider(image: Placed, policy: PolicyName): Promise<Verdict> {
  const text = policies()[policy];
  writeFileSync(providerPolicy, text);
  const { policyDigest } = await import('../../src/policy/trust-policy.js');
  await eventually(() => mtls.server.policy.status.digest === policyDigest(text), `the provider to load policy ${policy}`, 10_000);
  const r = await call(`${mtls.server.url}/provide`, { ...mtls.asGatekeeper, body: providerRequest([ref(image)]), timeoutMs: 60_000 });
  expect(r.status).toBe(200);
  const item = r.json.response.items[0];
  return { ok: item.value.isSuccess === true && item.error === undefined, ...(item.value.error ? { code: item.value.error.code } : {}), text: item.error ?? item.value.registryMapping ?? '' };
}

const faces = { cli: viaCli, plugin: viaPlugin, provider: viaProvider } as const;

describe.each(Object.keys(faces) as (keyof typeof faces)[])('through %s', (face) => {
  const verify = (image: Placed, policy: PolicyName) => faces[face](image, policy);

  it('passes a path-keeping mirror of an ATCR-layout image with its referrers, with no registries entry', async () => {
    expect(await verify(keptAtcr, 'none')).toMatchObject({ ok: true });
  });

  it('passes a path-keeping mirror of a full-name image with its mirrorOf entry, and says which entry lacks without it', async () => {
    expect(await verify(keptTeam, 'keepPath')).toMatchObject({ ok: true });
    const refused = await verify(keptTeam, 'none');
    expect(refused).toMatchObject({ ok: false, code: 'REPOSITORY_MISMATCH' });
    expect(refused.text).toContain(`no registries entry matches ${mirror.host}`);
    expect(refused.text).toContain(`registries: [{host: "${mirror.host}", mirrorOf: "${origin.host}"}]`);
  });

  it('passes a prefix mirror with its registries entry, and refuses it without, naming the entry to add', async () => {
    const passed = await verify(prefixed, 'prefix');
    expect(passed.ok).toBe(true);
    if (face === 'cli') expect(passed.text).toContain(`mapping     ${mirror.host}/proxy/team/tool is read as ${origin.host}/team/tool (registries[0]`);
    const refused = await verify(prefixed, 'none');
    expect(refused).toMatchObject({ ok: false, code: 'REPOSITORY_MISMATCH' });
    expect(refused.text).toContain(`stripPrefix: "proxy/"`);
  });

  it("refuses the same bytes and signature under another identity's path, mapped or not", async () => {
    const direct = await verify(otherIdentity, 'none');
    expect(direct).toMatchObject({ ok: false, code: 'REPOSITORY_MISMATCH' });
    const mapped = await verify(otherIdentityPrefixed, 'prefix');
    expect(mapped).toMatchObject({ ok: false, code: 'REPOSITORY_MISMATCH' });
    expect(mapped.text).toContain(`read as ${origin.host}/mallory.test/app`);
  });

  if (face === 'plugin') return; // Ratify lists referrers from its own store: a mirror without them never reaches the plugin.

  it('passes a mirror without referrers with referrersFrom: origin, and refuses it otherwise saying why', async () => {
    expect(await verify(bare, 'cacheOrigin')).toMatchObject({ ok: true });
    const refused = await verify(bare, 'cacheSelf');
    expect(refused).toMatchObject({ ok: false, code: 'ARTIFACT_NOT_FOUND' });
    expect(refused.text).toContain(`${mirror.host}/cache/team/tool is read as ${origin.host}/team/tool (registries[0]`);
    expect(refused.text).toMatch(/referrersFrom: origin/);
    const unmapped = await verify(bare, 'none');
    expect(unmapped).toMatchObject({ ok: false, code: 'ARTIFACT_NOT_FOUND' });
    expect(unmapped.text).toContain(`no registries entry matches ${mirror.host}`);
  });

  it('reads origin referrers by the digest the mirror serves: other bytes under the same name find none', async () => {
    const r = await verify(otherBytes, 'cacheOrigin');
    expect(r).toMatchObject({ ok: false, code: 'ARTIFACT_NOT_FOUND' });
    expect(r.text).toContain(`${origin.host}/team/tool@${otherBytes.digest}`);
  });
});

describe('ATCR layout as an explicit override: every path must start with the signer', () => {
  it('refuses a full-name record under a path that does not, by --atcr-registry or registries[].atcr, through the mirror too', async () => {
    expect(await viaCli(teamOnOrigin, 'none')).toMatchObject({ ok: true });
    for (const [image, policy, more] of [
      [teamOnOrigin, 'none', ['--atcr-registry', origin.host]],
      [keptTeam, 'keepPath', ['--atcr-registry', origin.host]],
      [keptTeam, 'keepPathAtcrOrigin', []],
    ] as const) {
      const r = await viaCli(image, policy, ...more);
      expect(r).toMatchObject({ ok: false, code: 'REPOSITORY_MISMATCH' });
      expect(r.text).toContain(`${origin.host} paths are <handle-or-did>/<repository>`);
    }
    expect(await viaCli(keptAtcr, 'keepPathAtcrOrigin')).toMatchObject({ ok: true });
  });
});

describe('sign writes what verify accepts, under both layouts (issue 20 item 5)', () => {
  const layouts = [
    ['ATCR layout (<handle>/<repository>)', () => `${alice.handle}/signed-by-cli`, () => 'signed-by-cli'],
    ['full-name layout', () => 'team/signed-by-cli', () => `${origin.host}/team/signed-by-cli`],
  ] as const;
  it.each(layouts)('%s: the record names what the verifier expects; the CLI and the plugin verify it', async (_, repositoryOf, recordRepository) => {
    const repository = repositoryOf();
    const image = await pushSampleImage(originClient, origin.host, repository, 'v1', `signed by the CLI: ${repository}`);
    const s = await runCli(
      ['sign', image.reference, '--identity', alice.handle, '--handle-resolver', net.pdsUrl, '--plc-directory', net.plcUrl, '--allow-private-network', '--plain-http', '--output', 'json'],
      { env: { ATPROTO_APP_PASSWORD: alice.password }, timeoutMs: 60_000 },
    );
    expect(s.code, s.stderr).toBe(0);
    const signed = JSON.parse(s.stdout);
    expect(signed.repository).toBe(recordRepository());
    const placed: Placed = { registry: origin, repository, digest: image.digest, referrers: await originClient.listReferrers(repository, image.digest, SIGNATURE_ARTIFACT_TYPE) };
    expect(await viaCli(image.reference, 'none')).toMatchObject({ ok: true });
    expect(await viaPlugin(placed, 'none')).toMatchObject({ ok: true });
  });

  it('refuses to sign a path on an ATCR registry that does not start with the signer, before writing anything', async () => {
    const image = await pushSampleImage(originClient, origin.host, 'bob.test/app', 'v1', 'not alice');
    const s = await runCli(
      ['sign', image.reference, '--identity', alice.handle, '--handle-resolver', net.pdsUrl, '--plc-directory', net.plcUrl, '--allow-private-network', '--plain-http', '--atcr-registry', origin.host],
      { env: { ATPROTO_APP_PASSWORD: alice.password }, timeoutMs: 60_000 },
    );
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('[INPUT_INVALID]');
    expect(s.stderr).toContain('"bob.test", which is not you');
    expect(await originClient.listReferrers('bob.test/app', image.digest, SIGNATURE_ARTIFACT_TYPE)).toEqual([]);
  });
});
