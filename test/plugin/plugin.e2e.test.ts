import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { freePort, startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage, type PushedImage } from '../../src/devnet/sample-image.js';
import { attachSignature } from '../../src/publish/attach-signature.js';
import { RegistryClient } from '../../src/registry/client.js';
import type { RegistryCredentials } from '../../src/registry/docker-config.js';
import { OCI_MANIFEST_MEDIA_TYPE, type Descriptor } from '../../src/registry/oci.js';
import { launchFor } from '../harness/emulation.js';
import { runLikeRatify, type RatifyRun } from '../harness/ratify-exec.js';

// The built executable, run exactly as Ratify v1.4.0's executor runs an external verifier, against
// a real registry (Debian's docker-registry, distribution 2.8: no referrers API, so signatures are
// found through the tag-schema index) and a real PDS + PLC (@atproto/dev-env).

const EXECUTABLE = process.env.ATPROTO_VERIFIER_EXECUTABLE ?? resolve('dist/atproto-verifier');
/** The other architecture's build, run under QEMU user-mode emulation (test/harness/emulation.ts). */
const ARM64_EXECUTABLE = resolve('dist/atproto-verifier-linux-arm64');
const AUTH = { username: 'ci-user', password: 'ci-secret-pw' };

let net: AtprotoNetwork;
let registry: RegistryServer;
let privateRegistry: RegistryServer;
let alice: Publisher;
let mallory: Publisher;
let dir: string;
let policyPath: string;
let dockerConfigPath: string;

interface SignedImage {
  image: PushedImage;
  repository: string;
  referrer: Descriptor;
}
let trusted: SignedImage;
let untrusted: SignedImage;
let wrongDigest: SignedImage;
let privateImage: SignedImage;
let unsigned: PushedImage;

function clientFor(server: RegistryServer, credentials?: RegistryCredentials): RegistryClient {
  return new RegistryClient({ registry: server.host, allowPrivateNetwork: true, useHttp: true, ...(credentials ? { credentials } : {}) });
}

async function pushAndSign(server: RegistryServer, publisher: Publisher, repository: string, content: string, credentials?: RegistryCredentials): Promise<SignedImage> {
  const client = clientFor(server, credentials);
  const image = await pushSampleImage(client, server.host, repository, 'v1', content);
  const signed = await publisher.sign(`${server.host}/${repository}@${image.digest}`, client);
  const referrer = (await client.listReferrers(repository, image.digest, SIGNATURE_ARTIFACT_TYPE)).find((d) => d.digest === signed.referrer);
  client.close();
  return { image, repository, referrer: referrer! };
}

beforeAll(async () => {
  expect(existsSync(EXECUTABLE), `${EXECUTABLE} is missing: run npm run build`).toBe(true);
  [net, registry, privateRegistry] = await Promise.all([startAtprotoNetwork(), startRegistry(), startRegistry({ htpasswd: AUTH })]);
  [alice, mallory] = await Promise.all([net.createPublisher('alice'), net.createPublisher('mallory')]);
  dir = mkdtempSync(join(tmpdir(), 'plugin-e2e-'));
  policyPath = join(dir, 'trust-policy.yaml');
  writeFileSync(
    policyPath,
    `version: "1.0"\ntrustedDIDs:\n  ${alice.did}: {name: "Alice", validFrom: "2024-01-01T00:00:00Z"}\npolicies:\n  - name: everything\n    scope: "**"\n    trustedDIDs: [${alice.did}]\n    action: enforce\n`,
  );
  dockerConfigPath = join(dir, 'config.json');
  writeFileSync(
    dockerConfigPath,
    JSON.stringify({ auths: { [privateRegistry.host]: { auth: Buffer.from(`${AUTH.username}:${AUTH.password}`).toString('base64') } } }),
  );
  trusted = await pushAndSign(registry, alice, 'alice/app', 'trusted app');
  untrusted = await pushAndSign(registry, mallory, 'mallory/app', 'untrusted app');
  privateImage = await pushAndSign(privateRegistry, alice, 'alice/private', 'private app', { kind: 'basic', ...AUTH });

  // A record that signs another digest, attached to this image: the record must name this image.
  const client = clientFor(registry);
  const image = await pushSampleImage(client, registry.host, 'alice/tampered', 'v1', 'tampered app');
  const other = await pushSampleImage(client, registry.host, 'alice/tampered', 'v2', 'something else');
  const record = await alice.putManifestRecord({ repository: `${registry.host}/alice/tampered`, digest: other.digest });
  const payload = buildSignaturePayload({ subjectDigest: image.digest, did: alice.did, recordUri: record.uri, recordCid: record.cid, commitCid: record.commitCid });
  const subject = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: image.digest, size: image.size };
  const referrer = await attachSignature(client, 'alice/tampered', subject, new TextEncoder().encode(JSON.stringify(payload)));
  wrongDigest = { image, repository: 'alice/tampered', referrer };
  unsigned = await pushSampleImage(client, registry.host, 'alice/unsigned', 'v1', 'unsigned app');
  client.close();
}, 120_000);

afterAll(async () => {
  await Promise.all([net?.close(), registry?.close(), privateRegistry?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Call {
  subject: string;
  referenceDesc: Partial<Descriptor> & { digest: string };
  config?: Record<string, unknown>;
  store?: Record<string, unknown>;
  env?: Record<string, string | undefined>;
  omit?: string[];
  version?: string;
  command?: string;
  stdin?: string;
}

function stdinFor(call: Call): string {
  return JSON.stringify({
    config: {
      name: 'atproto-verifier',
      type: 'atproto-verifier',
      artifactTypes: SIGNATURE_ARTIFACT_TYPE,
      trustPolicyPath: policyPath,
      plcDirectory: net.plcUrl,
      handleResolver: net.pdsUrl,
      allowPrivateNetwork: true,
      cacheEnabled: false,
      ...call.config,
    },
    storeConfig: { version: '1.0.0', pluginBinDirs: null, store: { name: 'oras', useHttp: true, ...call.store } },
    referenceDesc: { mediaType: OCI_MANIFEST_MEDIA_TYPE, size: 0, artifactType: SIGNATURE_ARTIFACT_TYPE, ...call.referenceDesc },
  });
}

function run(call: Call, executable = EXECUTABLE): Promise<RatifyRun> {
  const { emulator } = launchFor(executable);
  return runLikeRatify({
    executable,
    ...(emulator ? { emulator, timeoutMs: 120_000 } : {}),
    subject: call.subject,
    stdin: call.stdin ?? stdinFor(call),
    env: { DOCKER_CONFIG: join(dir, 'no-docker-config'), ...call.env },
    ...(call.omit ? { omit: call.omit } : {}),
    ...(call.version ? { version: call.version } : {}),
    ...(call.command ? { command: call.command } : {}),
  });
}

const pinned = (s: SignedImage | PushedImage, server = registry) =>
  'referrer' in s ? `${server.host}/${s.repository}@${s.image.digest}` : s.reference.replace(/:v1$/, `@${s.digest}`);

/** The error document a non-zero exit leaves on stdout. */
function protocolError(r: RatifyRun): { code: number; msg: string; details?: string } {
  expect(r.exitCode).toBe(1);
  return JSON.parse(r.stdout.trim());
}

describe('the plugin executable, run as Ratify runs it', () => {
  it('passes a signed, trusted image with every extension, and logs only plain lines', async () => {
    const r = await run({ subject: pinned(trusted), referenceDesc: trusted.referrer });
    expect(r.exitCode).toBe(0);
    expect(r.result).toMatchObject({ isSuccess: true, name: 'atproto-verifier', type: 'atproto-verifier' });
    const ext = r.result!.extensions;
    expect(ext).toMatchObject({ did: alice.did, handle: alice.handle, pdsEndpoint: net.pdsUrl, policy: 'everything' });
    expect(ext.recordUri).toMatch(new RegExp(`^at://${alice.did}/io\\.atcr\\.manifest/`));
    expect(ext.commitCid).toMatch(/^bafyrei/);
    expect(Date.parse(String(ext.signedAt))).toBeGreaterThan(Date.now() - 10 * 60_000);
    expect(ext.error).toBeUndefined();
    expect(r.result!.message).toContain(alice.did);
    // Exactly one JSON value reached Ratify; every log line is plain text with a level prefix.
    expect(JSON.parse(r.json).isSuccess).toBe(true);
    for (const line of r.logs) expect(line).toMatch(/^(info|warn|debug): /);
  });

  it('pins a tag subject to the digest the registry serves, as Ratify may pass tags', async () => {
    const r = await run({ subject: `${registry.host}/${trusted.repository}:v1`, referenceDesc: trusted.referrer });
    expect(r.result).toMatchObject({ isSuccess: true });
    const moved = await run({ subject: `${registry.host}/${untrusted.repository}:v1`, referenceDesc: trusted.referrer });
    expect(moved.result?.isSuccess).toBe(false);
  });

  it('refuses a signer the trust policy does not trust', async () => {
    const r = await run({ subject: pinned(untrusted), referenceDesc: untrusted.referrer });
    expect(r.exitCode).toBe(0);
    expect(r.result?.isSuccess).toBe(false);
    expect(r.result?.extensions).toMatchObject({ did: mallory.did, errorCode: 'UNTRUSTED_DID', failedStep: 'policy' });
    expect(String(r.result?.extensions.error)).toContain(mallory.did);
    expect(r.result?.extensions.remediation).toBeTruthy();
  });

  it('refuses a record that signs another digest than the image', async () => {
    const r = await run({ subject: pinned(wrongDigest), referenceDesc: wrongDigest.referrer });
    expect(r.result?.isSuccess).toBe(false);
    expect(r.result?.extensions).toMatchObject({ errorCode: 'DIGEST_MISMATCH', failedStep: 'record' });
  });

  it('refuses a signature referrer presented for another image', async () => {
    const r = await run({ subject: pinned(untrusted), referenceDesc: trusted.referrer });
    expect(r.result?.isSuccess).toBe(false);
    expect(r.result?.extensions.errorCode).toMatch(/ARTIFACT_INVALID|SUBJECT_MISMATCH|REGISTRY_ERROR/);
  });

  it('refuses a referenceDesc that is not an ATProto signature artifact', async () => {
    const declared = await run({ subject: pinned(trusted), referenceDesc: { ...trusted.referrer, artifactType: 'application/vnd.cncf.notary.signature' } });
    expect(declared.result?.isSuccess).toBe(false);
    expect(declared.result?.extensions.errorCode).toBe('ARTIFACT_INVALID');
    // Undeclared artifactType: the image manifest itself is fetched and found not to be one.
    const image = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: unsigned.digest, size: unsigned.size };
    const actual = await run({ subject: pinned(unsigned), referenceDesc: { ...image, artifactType: undefined } as never });
    expect(actual.result?.isSuccess).toBe(false);
    expect(actual.result?.extensions.errorCode).toBe('ARTIFACT_INVALID');
  });

  it('reads a registry that needs auth with the docker config.json credentials, and fails clearly without them', async () => {
    const desc = privateImage.referrer;
    const subject = pinned(privateImage, privateRegistry);
    const viaPath = await run({ subject, referenceDesc: desc, store: { authProvider: { name: 'dockerConfig', configPath: dockerConfigPath } } });
    expect(viaPath.result).toMatchObject({ isSuccess: true });
    const viaEnv = await run({ subject, referenceDesc: desc, env: { DOCKER_CONFIG: dir } });
    expect(viaEnv.result).toMatchObject({ isSuccess: true });
    const anonymous = await run({ subject, referenceDesc: desc });
    expect(anonymous.result?.isSuccess).toBe(false);
    expect(anonymous.result?.extensions.errorCode).toBe('REGISTRY_AUTH_FAILED');
  });

  it('fails clearly when the registry is down', async () => {
    const port = await freePort();
    const r = await run({ subject: `127.0.0.1:${port}/alice/app@${trusted.image.digest}`, referenceDesc: trusted.referrer });
    expect(r.exitCode).toBe(0);
    expect(r.result?.isSuccess).toBe(false);
    expect(r.result?.extensions).toMatchObject({ errorCode: 'REGISTRY_UNREACHABLE' });
    expect(String(r.result?.extensions.error)).toContain('connection refused');
  });

  it('answers within its own deadline, before Ratify gives up on it', async () => {
    const r = await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, config: { timeout: '1ms' } });
    expect(r.exitCode).toBe(0);
    expect(r.result?.isSuccess).toBe(false);
    expect(r.result?.extensions.errorCode).toBe('DEADLINE_EXCEEDED');
  });

  describe('protocol errors: Ratify error JSON and exit 1', () => {
    it('names every missing environment variable (code 4)', async () => {
      const e = protocolError(await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, omit: ['RATIFY_VERIFIER_COMMAND', 'RATIFY_VERIFIER_VERSION'] }));
      expect(e.code).toBe(4);
      expect(e.msg).toBe('missing env variables [RATIFY_VERIFIER_COMMAND,RATIFY_VERIFIER_VERSION]');
    });

    it('refuses stdin that is not JSON (code 1)', async () => {
      const e = protocolError(await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, stdin: '{"config": ' }));
      expect(e.code).toBe(1);
    });

    it('refuses an unsupported protocol version (code 6)', async () => {
      const e = protocolError(await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, version: '2.0.0' }));
      expect(e.code).toBe(6);
      expect(e.msg).toContain('2.0.0');
    });

    it('refuses an unknown command (code 3) and an unparseable subject (code 7)', async () => {
      expect(protocolError(await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, command: 'SIGN' })).code).toBe(3);
      expect(protocolError(await run({ subject: 'Not A Reference!', referenceDesc: trusted.referrer })).code).toBe(7);
    });

    it('refuses a store or auth provider it cannot honour, saying which (code 7)', async () => {
      const store = protocolError(await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, store: { name: 'cosign-store' } }));
      expect(store.code).toBe(7);
      expect(store.msg).toContain('cosign-store');
      const auth = protocolError(await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, store: { authProvider: { name: 'azureWorkloadIdentity' } } }));
      expect(auth.code).toBe(7);
      expect(auth.msg).toContain('azureWorkloadIdentity');
    });

    it('requires a trust policy and reports bad parameters (code 2)', async () => {
      const noPolicy = protocolError(await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, config: { trustPolicyPath: undefined } }));
      expect(noPolicy.code).toBe(2);
      expect(noPolicy.msg).toContain('trustPolicyPath');
      const badTimeout = protocolError(await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, config: { pdsTimeout: 'soon' } }));
      expect(badTimeout.code).toBe(2);
      const missingFile = protocolError(await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, config: { trustPolicyPath: join(dir, 'absent.yaml') } }));
      expect(missingFile.code).toBe(2);
    });

    it('reports unknown parameters instead of silently ignoring them', async () => {
      const r = await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, config: { trustPolicyPth: '/typo' } });
      expect(r.result?.isSuccess).toBe(true);
      expect(r.result?.extensions.warnings).toEqual([expect.stringContaining('trustPolicyPth')]);
      expect(r.logs.some((l) => l.startsWith('warn: ') && l.includes('trustPolicyPth'))).toBe(true);
    });
  });

  // The arm64 executable holds the same bundle on another runtime build: run it as Ratify on an
  // arm64 node would (here under emulation, which is slow, hence a generous plugin deadline).
  describe('the linux-arm64 executable, under emulation', () => {
    const slow = { timeout: '90s', didResolverTimeout: '60s', pdsTimeout: '60s' };

    it('is an arm64 build of the same version, on the pinned runtime', async () => {
      const launch = launchFor(ARM64_EXECUTABLE);
      expect(launch.arch).toBe('arm64');
      const [command, args] = launch.emulator ? [launch.emulator, [ARM64_EXECUTABLE, '--version']] : [ARM64_EXECUTABLE, ['--version']];
      const version = spawnSync(command, args, { env: {}, encoding: 'utf8' });
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+\S* \(node v24\.\d+\.\d+, linux-arm64\)$/);
      const e = protocolError(await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, omit: ['RATIFY_VERIFIER_VERSION'] }, ARM64_EXECUTABLE));
      expect(e).toEqual({ code: 4, msg: 'missing env variables [RATIFY_VERIFIER_VERSION]' });
    }, 120_000);

    it('passes a signed, trusted image', async () => {
      const r = await run({ subject: pinned(trusted), referenceDesc: trusted.referrer, config: slow }, ARM64_EXECUTABLE);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      expect(r.result).toMatchObject({ isSuccess: true, name: 'atproto-verifier' });
      expect(r.result!.extensions).toMatchObject({ did: alice.did, handle: alice.handle, policy: 'everything' });
      for (const line of r.logs) expect(line).toMatch(/^(info|warn|debug): /);
    }, 120_000);

    it('refuses a signer the trust policy does not trust, and a record that signs another digest', async () => {
      const untrustedRun = await run({ subject: pinned(untrusted), referenceDesc: untrusted.referrer, config: slow }, ARM64_EXECUTABLE);
      expect(untrustedRun.exitCode).toBe(0);
      expect(untrustedRun.result?.isSuccess).toBe(false);
      expect(untrustedRun.result?.extensions).toMatchObject({ did: mallory.did, errorCode: 'UNTRUSTED_DID', failedStep: 'policy' });
      const tampered = await run({ subject: pinned(wrongDigest), referenceDesc: wrongDigest.referrer, config: slow }, ARM64_EXECUTABLE);
      expect(tampered.result?.isSuccess).toBe(false);
      expect(tampered.result?.extensions).toMatchObject({ errorCode: 'DIGEST_MISMATCH', failedStep: 'record' });
    }, 240_000);
  });

  // Last: stops the PDS for good.
  it('fails clearly when the PDS is down', async () => {
    await net.stopPds();
    const r = await run({ subject: pinned(trusted), referenceDesc: trusted.referrer });
    expect(r.exitCode).toBe(0);
    expect(r.result?.isSuccess).toBe(false);
    expect(r.result?.extensions).toMatchObject({ failedStep: expect.stringMatching(/proof|network/) });
    expect(String(r.result?.extensions.error)).toMatch(/refused|PDS|getRecord/i);
  });
});
