import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { freePort, startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage, type PushedImage } from '../../src/devnet/sample-image.js';
import { RegistryClient } from '../../src/registry/client.js';
import { cliIsBuilt, runCli, type CliRun } from './run-cli.js';

// The CLI as a user runs it (node dist/cli.js, output piped), against a real registry (Debian's
// docker-registry, distribution 2.8: signatures are found through the tag-schema index) and a
// real PDS + PLC (@atproto/dev-env).

let net: AtprotoNetwork;
let registry: RegistryServer;
let client: RegistryClient;
let alice: Publisher;
let mallory: Publisher;
let carol: Publisher;
let dir: string;
let untrustingPolicy: string;
let signed: PushedImage;
let embedded: PushedImage;
let unsigned: PushedImage;
let victim: PushedImage;

/** Flags that point the engine at the local network (plain HTTP, private addresses, .test handles). */
function devnetFlags(): string[] {
  return ['--plc-directory', net.plcUrl, '--allow-private-network', '--plain-http'];
}

function verifyArgs(image: string, ...more: string[]): string[] {
  return ['verify', image, ...devnetFlags(), '--handle-resolver', net.pdsUrl, '--no-cache', ...more];
}

function signArgs(image: string, identity: string, ...more: string[]): string[] {
  return ['sign', image, '--identity', identity, '--pds', net.pdsUrl, '--handle-resolver', net.pdsUrl, ...devnetFlags(), ...more];
}

const pinned = (image: PushedImage) => image.reference.replace(/:[^:/]+$/, `@${image.digest}`);

beforeAll(async () => {
  expect(cliIsBuilt(), 'dist/cli.js is missing: run node scripts/build.mjs --bundle-only').toBe(true);
  [net, registry] = await Promise.all([startAtprotoNetwork(), startRegistry()]);
  [alice, mallory, carol] = await Promise.all([net.createPublisher('alice'), net.createPublisher('mallory'), net.createPublisher('carol')]);
  client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true });
  [signed, embedded, unsigned, victim] = await Promise.all([
    pushSampleImage(client, registry.host, 'team/app', '1.0', 'signed'),
    pushSampleImage(client, registry.host, 'team/app', '1.1', 'embedded proof'),
    pushSampleImage(client, registry.host, 'team/app', '2.0-unsigned', 'unsigned'),
    pushSampleImage(client, registry.host, 'team/victim', '1.0', 'wrong password'),
  ]);
  dir = mkdtempSync(join(tmpdir(), 'cli-e2e-'));
  untrustingPolicy = join(dir, 'trusts-mallory-only.yaml');
  writeFileSync(
    untrustingPolicy,
    `version: "1.0"\ntrustedDIDs:\n  ${mallory.did}: {name: "Mallory"}\npolicies:\n  - name: team\n    scope: "${registry.host}/team/**"\n    trustedDIDs: [${mallory.did}]\n`,
  );
}, 120_000);

afterAll(async () => {
  client?.close();
  await Promise.all([net?.close(), registry?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function expectCleanFailure(r: CliRun, code: number, errorCode: string): void {
  expect(r.code, r.stdout + r.stderr).toBe(code);
  expect(r.stderr).toContain(`[${errorCode}]`);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('sign then verify, round trip', () => {
  it('signs by handle with the app password from the environment, then verifies the tag', async () => {
    // Handle -> DID (through the PDS's resolveHandle: .test has no DNS) -> DID document -> PDS.
    const s = await runCli(['sign', signed.reference, '--identity', alice.handle, '--handle-resolver', net.pdsUrl, ...devnetFlags()], {
      env: { ATPROTO_APP_PASSWORD: alice.password },
    });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain(`SIGNED  ${pinned(signed)}`);
    expect(s.stdout).toContain(`signer      ${alice.handle} (${alice.did}; handle verified both ways)`);
    expect(s.stderr).toBe(''); // piped: no progress spinner
    expect(await client.listReferrers('team/app', signed.digest, SIGNATURE_ARTIFACT_TYPE)).toHaveLength(1);

    const v = await runCli(verifyArgs(signed.reference, '--trusted-did', alice.did));
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stderr).toBe('');
    const text = v.stdout;
    expect(text).toContain(`VERIFIED  ${pinned(signed)}`);
    expect(text).toContain(`reference   ${signed.reference}`);
    expect(text).toContain(`signer      ${alice.handle} (${alice.did}; handle verified both ways)`);
    expect(text).toMatch(/signed at {3}\d{4}-\d\d-\d\dT[\d:.]+Z \(from commit rev [a-z2-7]{13}\)/);
    expect(text).toMatch(/commit {6}bafyrei[a-z2-7]+/);
    expect(text).toMatch(new RegExp(`record {6}at://${alice.did}/io\\.atcr\\.manifest/`));
    expect(text).toContain('policy      "command-line" (enforce)');
    expect(text).toContain('checks      artifact ok, claim ok, identity ok, proof ok, handle ok, record ok, policy ok');
  });

  it('signs by DID (PDS found in the DID document) with an embedded proof, and verifies by digest', async () => {
    const s = await runCli(['sign', embedded.reference, '--identity', alice.did, '--password-env', 'MY_PW', '--embed-proof', '--handle-resolver', net.pdsUrl, ...devnetFlags(), '--output', 'json'], {
      env: { MY_PW: alice.password },
    });
    expect(s.code, s.stderr).toBe(0);
    const out = JSON.parse(s.stdout);
    expect(out).toMatchObject({ pinned: pinned(embedded), did: alice.did, handle: alice.handle, embeddedProof: true });
    const v = await runCli(verifyArgs(pinned(embedded), '--trusted-did', alice.did));
    expect(v.code, v.stdout).toBe(0);
    expect(v.stdout).toContain(`VERIFIED  ${pinned(embedded)}`);
    expect(v.stdout).not.toContain('reference   ');
  });
});

describe.concurrent('verify refusals (exit 1)', () => {
  it('refuses an unsigned image: ARTIFACT_NOT_FOUND', async () => {
    const v = await runCli(verifyArgs(unsigned.reference, '--trusted-did', alice.did));
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(`NOT VERIFIED  ${pinned(unsigned)}`);
    expect(v.stdout).toContain('failed      artifact step [ARTIFACT_NOT_FOUND]: no ATProto signature referrer is attached');
    expect(v.stdout).toMatch(/remedy {6}Sign the image/);
  });

  it('refuses a signer the policy does not trust: UNTRUSTED_DID, naming the policy', async () => {
    const v = await runCli(verifyArgs(signed.reference, '--policy', untrustingPolicy));
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(`NOT VERIFIED  ${pinned(signed)}`);
    // Refused on the signer the artifact claims, before any DID, handle or PDS request (issue 12).
    expect(v.stdout).toContain(`signer      ${alice.did} (handle unverified`);
    expect(v.stdout).toContain('policy      "team" (enforce)');
    expect(v.stdout).toContain('checks      artifact ok, claim FAILED');
    expect(v.stdout).toContain(`failed      policy step [UNTRUSTED_DID]: the artifact claims signer ${alice.did} (claimed, not verified), which policy "team"`);
    expect(v.stdout).toMatch(/remedy {6}Add the signer's DID/);
  });

  it('refuses an image the registry does not have', async () => {
    const v = await runCli(verifyArgs(`${registry.host}/team/app:9.9`, '--trusted-did', alice.did));
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/NOT VERIFIED {2}.*team\/app:9\.9/);
    expect(v.stdout).toMatch(/failed {6}registry step \[REGISTRY_/);
  });

  it('refuses when the registry is down: REGISTRY_UNREACHABLE', async () => {
    const port = await freePort();
    const v = await runCli(verifyArgs(`127.0.0.1:${port}/team/app:1.0`, '--trusted-did', alice.did));
    expect(v.code).toBe(1);
    expect(v.stdout).toContain('[REGISTRY_UNREACHABLE]');
  });
});

describe('verify --output json', () => {
  it('prints the decision, the evidence and every step', async () => {
    const v = await runCli(verifyArgs(signed.reference, '--trusted-did', alice.did, '--output', 'json'));
    expect(v.code).toBe(0);
    const out = JSON.parse(v.stdout);
    expect(out).toMatchObject({ reference: signed.reference, pinned: pinned(signed), digest: signed.digest, isSuccess: true });
    expect(out.decisive).toMatchObject({ isSuccess: true, audit: false, did: alice.did, handle: alice.handle, pdsEndpoint: net.pdsUrl });
    expect(out.decisive.commitCid).toMatch(/^bafyrei/);
    expect(out.decisive.trust).toMatchObject({ allowed: true, action: 'enforce', policies: ['command-line'], failures: [] });
    expect(out.decisive.steps.map((s: { step: string; ok: boolean }) => [s.step, s.ok])).toEqual([
      ['artifact', true],
      ['claim', true],
      ['identity', true],
      ['proof', true],
      ['handle', true],
      ['record', true],
      ['policy', true],
    ]);
    expect(out.decisive.error).toBeUndefined();
    expect(out.signatures).toEqual([{ referrer: expect.stringMatching(/^sha256:[a-f0-9]{64}$/), isSuccess: true, message: out.decisive.message }]);
  });

  it('carries the error as {code, step, message, remediation}', async () => {
    const v = await runCli(verifyArgs(signed.reference, '--policy', untrustingPolicy, '-o', 'json'));
    expect(v.code).toBe(1);
    const out = JSON.parse(v.stdout);
    expect(out.isSuccess).toBe(false);
    expect(out.decisive.error).toEqual({ code: 'UNTRUSTED_DID', step: 'policy', message: expect.stringContaining(alice.did), remediation: expect.any(String) });
    expect(out.decisive.trust.failures[0]).toMatchObject({ code: 'UNTRUSTED_DID', step: 'policy' });
    expect(out.signatures[0]).toMatchObject({ isSuccess: false, error: { code: 'UNTRUSTED_DID' } });
  });
});

describe('sign with a wrong password', () => {
  it('fails cleanly and writes nothing to the registry or the PDS', async () => {
    const s = await runCli(signArgs(victim.reference, carol.handle), { env: { ATPROTO_APP_PASSWORD: 'not-the-password' } });
    expectCleanFailure(s, 2, 'INPUT_INVALID');
    expect(s.stderr).toContain('401');
    expect(s.stderr).toContain('Check the account identifier and the app password');
    expect(s.stdout).toBe('');

    // Registry: no referrer, no tag-schema index, no signature manifest.
    expect(await client.listReferrers('team/victim', victim.digest, SIGNATURE_ARTIFACT_TYPE)).toEqual([]);
    const index = await fetch(`${registry.url}/v2/team/victim/manifests/${victim.digest.replace(':', '-')}`);
    expect(index.status).toBe(404);
    const tags = (await (await fetch(`${registry.url}/v2/team/victim/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(['1.0']);
    // PDS: the account holds no io.atcr.manifest record.
    const records = await fetch(`${net.pdsUrl}/xrpc/com.atproto.repo.listRecords?repo=${carol.did}&collection=io.atcr.manifest`);
    expect(((await records.json()) as { records: unknown[] }).records).toEqual([]);
  });

  it('refuses to run without the password variable (never a flag)', async () => {
    const s = await runCli(signArgs(victim.reference, carol.handle, '--password-env', 'UNSET_PW_VAR'), { env: { UNSET_PW_VAR: undefined } });
    expectCleanFailure(s, 2, 'INPUT_INVALID');
    expect(s.stderr).toContain('UNSET_PW_VAR');
    const flag = await runCli([...signArgs(victim.reference, carol.handle), '--password', carol.password]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown option '--password'");
  });
});

/**
 * docker-registry on a storage directory the test chooses, so two registries can serve the same
 * images: a writable one to push, and one in read-only maintenance mode that serves reads and
 * refuses every push. That lets `sign` get past the PDS write and then fail on the registry, a
 * fault only a real registry in this mode produces faithfully.
 */
async function serveStorage(root: string, readonly: boolean): Promise<{ host: string; close: () => Promise<void> }> {
  const port = await freePort();
  const config = join(dir, `registry-${port}.yml`);
  const maintenance = readonly ? ', maintenance: {readonly: {enabled: true}}' : '';
  writeFileSync(
    config,
    `version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: "${root}"}${maintenance}}\nhttp: {addr: "127.0.0.1:${port}", secret: devnet}\n`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  for (let i = 0; i < 300; i++) {
    if (await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false)) return { host: `127.0.0.1:${port}`, close };
    await new Promise((r) => setTimeout(r, 50));
  }
  await close();
  throw new Error('docker-registry on the shared storage did not start');
}

describe('sign when the registry refuses the signature', () => {
  it('deletes the record it wrote to the PDS, so nothing is left half-written', async () => {
    const root = join(dir, 'shared-storage');
    mkdirSync(root);
    const [writable, readonly] = await Promise.all([serveStorage(root, false), serveStorage(root, true)]);
    try {
      const rw = new RegistryClient({ registry: writable.host, allowPrivateNetwork: true, useHttp: true });
      const image = await pushSampleImage(rw, writable.host, 'team/frozen', '1.0', 'frozen');
      const dave = await net.createPublisher('dave');
      const latestRev = async () =>
        ((await (await fetch(`${net.pdsUrl}/xrpc/com.atproto.sync.getLatestCommit?did=${dave.did}`)).json()) as { rev: string }).rev;
      const revBefore = await latestRev();
      const s = await runCli(signArgs(`${readonly.host}/team/frozen@${image.digest}`, dave.handle), { env: { ATPROTO_APP_PASSWORD: dave.password } });
      expect(s.code, s.stdout + s.stderr).toBe(1);
      expect(s.stderr).toMatch(/\[REGISTRY_ERROR\] start blob upload to team\/frozen: .* HTTP 405/);
      expect(s.stdout).toBe('');
      // The record was written (the repository moved on), then deleted again when the push failed.
      expect(await latestRev()).not.toBe(revBefore);
      const records = await fetch(`${net.pdsUrl}/xrpc/com.atproto.repo.listRecords?repo=${dave.did}&collection=io.atcr.manifest`);
      expect(((await records.json()) as { records: unknown[] }).records).toEqual([]);
      expect(await rw.listReferrers('team/frozen', image.digest, SIGNATURE_ARTIFACT_TYPE)).toEqual([]);
      rw.close();
    } finally {
      await Promise.all([writable.close(), readonly.close()]);
    }
  });
});

describe.concurrent('usage and configuration errors (exit 2)', () => {
  const cases: [string, () => string[], RegExp][] = [
    ['an unknown option', () => ['verify', 'x', '--frobnicate'], /unknown option '--frobnicate'/],
    ['an unknown command', () => ['verfiy', 'x'], /unknown command 'verfiy'/],
    ['verify without an image', () => ['verify'], /missing required argument 'image'/],
    ['verify without a trust policy', () => verifyArgs(signed.reference), /\[INPUT_INVALID\] a trust policy is required/],
    ['both --policy and --trusted-did', () => verifyArgs(signed.reference, '--policy', untrustingPolicy, '--trusted-did', alice.did), /either --policy FILE or --trusted-did/],
    ['a missing policy file', () => verifyArgs(signed.reference, '--policy', join(dir, 'nope.yaml')), /\[POLICY_INVALID\] trust policy file .*nope\.yaml does not exist/],
    ['a malformed --trusted-did', () => verifyArgs(signed.reference, '--trusted-did', 'alice'), /\[INPUT_INVALID\] --trusted-did alice: "alice" is not a did:plc or did:web/],
    ['an invalid image reference', () => verifyArgs('Not A Reference', '--trusted-did', alice.did), /\[INPUT_INVALID\] image reference/],
    ['an unknown output format', () => verifyArgs(signed.reference, '--trusted-did', alice.did, '--output', 'yaml'), /Allowed choices are text, json/],
    ['an invalid PLC directory URL', () => ['verify', signed.reference, '--trusted-did', alice.did, '--plc-directory', 'ftp://x'], /plcDirectory must be an http\(s\) URL/],
    ['sign without --identity', () => ['sign', signed.reference], /required option '--identity/],
  ];
  it.each(cases)('%s', async (_name, args, stderr) => {
    const r = await runCli(args());
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(stderr);
    expect(r.stdout).toBe('');
  });

  it('--help and --version exit 0', async () => {
    const help = await runCli(['verify', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--handle-resolver <url>');
    expect(help.stdout).toContain('--trusted-did <did>');
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
