import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { buildSignaturePayload } from '../artifact/build-payload.js';
import { SIGNATURE_ARTIFACT_TYPE } from '../artifact/signature-payload.js';
import type { AtprotoNetwork, Publisher } from '../devnet/atproto-network.js';
import type { RegistryServer } from '../devnet/registry-server.js';
import type { PushedImage } from '../devnet/sample-image.js';
import { asVerificationError } from '../errors.js';
import { closeIdleConnections } from '../net/guarded-fetch.js';
import { attachSignature } from '../publish/attach-signature.js';
import { RegistryClient } from '../registry/client.js';
import { OCI_MANIFEST_MEDIA_TYPE } from '../registry/oci.js';
import { EXIT_NOT_VERIFIED, EXIT_VERIFIED } from './exit-codes.js';
import { formatVerification } from './report.js';
import { verifyImageWithFlags } from './verify-command.js';

/**
 * `demo`: the README's first command. Starts the embedded default network on loopback (a real
 * PLC directory and PDS from @atproto/dev-env, a real docker-registry), signs three images, and
 * verifies them through both faces a newcomer will use: the Ratify plugin protocol (the built
 * executable, run as Ratify runs it) and `verify`. One image must pass, the untrusted and the
 * tampered ones must be refused for the expected reason; anything else is a failed demo (exit 1).
 * Everything it starts is stopped again, on failure and Ctrl-C too.
 */

const REPOSITORY = 'demo/web';

/** What each image must come to, and why. */
interface Case {
  tag: string;
  story: string;
  /** undefined: must pass; otherwise the error code the refusal must carry. */
  refusedWith?: string;
  image?: PushedImage;
}

interface PluginVerdict {
  isSuccess: boolean;
  message: string;
  extensions?: Record<string, unknown>;
}

/** Things to stop, newest first. */
class Teardown {
  private readonly steps: (() => Promise<void> | void)[] = [];
  private running: Promise<void> | undefined;

  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) await Promise.resolve().then(step).catch(() => undefined);
    })();
    return this.running;
  }
}

export async function demoCommand(): Promise<number> {
  const teardown = new Teardown();
  const interrupted = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping the demo network\n`);
    void teardown.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    return await runDemo(teardown);
  } catch (err) {
    const error = asVerificationError(err);
    process.stderr.write(`demo failed: ${error.message}\n`);
    return EXIT_NOT_VERIFIED;
  } finally {
    await teardown.run();
    closeIdleConnections();
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
  }
}

async function runDemo(teardown: Teardown): Promise<number> {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const plugin = locatePlugin();
  requireOnPath('docker-registry', 'the OCI registry the demo pushes to (Debian/Ubuntu: apt-get install docker-registry)');
  const { startAtprotoNetwork, startRegistry, pushSampleImage } = await loadDevnet();

  out('Starting a local PLC directory + PDS (@atproto/dev-env) and an OCI registry (docker-registry)');
  // Registered before they resolve, so Ctrl-C during start-up still stops whatever came up.
  const starting = { net: startAtprotoNetwork(), registry: startRegistry() };
  teardown.add(async () => (await starting.net.catch(() => undefined))?.close());
  teardown.add(async () => (await starting.registry.catch(() => undefined))?.close());
  const [net, registry]: [AtprotoNetwork, RegistryServer] = await Promise.all([starting.net, starting.registry]);
  const dir = mkdtempSync(join(tmpdir(), 'atproto-verifier-demo-'));
  teardown.add(() => rmSync(dir, { recursive: true, force: true }));
  const client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true });
  teardown.add(() => client.close());
  out(`  PLC ${net.plcUrl}   PDS ${net.pdsUrl}   registry ${registry.url}`);

  const [alice, mallory] = await Promise.all([net.createPublisher('alice'), net.createPublisher('mallory')]);
  const cases: Case[] = [
    { tag: '1.0', story: `signed by ${alice.handle} (trusted)` },
    { tag: '1.1', story: `signed by ${mallory.handle} (not in the trust policy)`, refusedWith: 'UNTRUSTED_DID' },
    { tag: '1.2', story: `carries ${alice.handle}'s signature of 1.0, edited to name 1.2`, refusedWith: 'DIGEST_MISMATCH' },
  ];
  for (const c of cases) c.image = await pushSampleImage(client, registry.host, REPOSITORY, c.tag, `demo image ${c.tag}`);
  const [trusted, untrusted, tampered] = cases as [Case, Case, Case];

  const sign = (publisher: Publisher, image: PushedImage) => publisher.sign(image.reference, client);
  const signedByAlice = await sign(alice, trusted.image!);
  await sign(mallory, untrusted.image!);
  // The attacker's edit: alice's valid record and commit, with the subject rewritten to 1.2.
  const forged = buildSignaturePayload({
    subjectDigest: tampered.image!.digest,
    did: signedByAlice.did,
    handle: signedByAlice.handle,
    pdsEndpoint: signedByAlice.pdsEndpoint,
    recordUri: signedByAlice.recordUri,
    recordCid: signedByAlice.recordCid,
    commitCid: signedByAlice.commitCid,
    commitRev: signedByAlice.commitRev,
  });
  await attachSignature(
    client,
    REPOSITORY,
    { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: tampered.image!.digest, size: tampered.image!.size },
    new TextEncoder().encode(JSON.stringify(forged)),
  );
  out(`  publishers  ${alice.handle} = ${alice.did}`);
  out(`              ${mallory.handle} = ${mallory.did}`);
  for (const c of cases) out(`  ${REPOSITORY}:${c.tag}  ${c.story}`);

  const policyPath = join(dir, 'trust-policy.yaml');
  writeFileSync(
    policyPath,
    [
      'version: "1.0"',
      'trustedDIDs:',
      `  ${alice.did}: {name: "Alice (demo publisher)", validFrom: "2024-01-01T00:00:00Z"}`,
      'policies:',
      '  - name: demo',
      `    scope: "${registry.host}/demo/**"`,
      `    trustedDIDs: [${alice.did}]`,
      '    action: enforce',
      '',
    ].join('\n'),
  );
  out(`  trust policy: scope ${registry.host}/demo/** trusts only ${alice.handle}`);

  out();
  out(`1. As Ratify runs the plugin: ${plugin.label} with RATIFY_VERIFIER_COMMAND=VERIFY, one referrer per call`);
  const pluginVerdicts: PluginVerdict[] = [];
  for (const c of cases) {
    const [referrer] = await client.listReferrers(REPOSITORY, c.image!.digest, SIGNATURE_ARTIFACT_TYPE);
    if (!referrer) throw new Error(`no signature referrer found for ${c.image!.reference}`);
    const verdict = await runPlugin(plugin, teardown, `${registry.host}/${REPOSITORY}@${c.image!.digest}`, {
      config: {
        name: 'atproto-verifier',
        type: 'atproto-verifier',
        trustPolicyPath: policyPath,
        plcDirectory: net.plcUrl,
        allowPrivateNetwork: true,
        handleResolver: net.pdsUrl,
        cacheEnabled: false,
      },
      storeConfig: { version: '1.0.0', pluginBinDirs: null, store: { name: 'oras', useHttp: true } },
      referenceDesc: { mediaType: referrer.mediaType, digest: referrer.digest, size: referrer.size, artifactType: referrer.artifactType ?? SIGNATURE_ARTIFACT_TYPE },
    });
    pluginVerdicts.push(verdict);
    out(`  ${REPOSITORY}:${c.tag}  ${describeVerdict(verdict)}`);
  }

  out();
  out(`2. As a person runs it: atproto-verifier verify ${registry.host}/${REPOSITORY}:TAG --policy trust-policy.yaml`);
  const verifyResults = [];
  for (const c of cases) {
    const result = await verifyImageWithFlags(c.image!.reference, {
      policy: policyPath,
      plcDirectory: net.plcUrl,
      handleResolver: net.pdsUrl,
      allowPrivateNetwork: true,
      plainHttp: true,
      cache: false,
    });
    verifyResults.push(result);
    process.stdout.write(indent(formatVerification(result), '  '));
  }

  const problems: string[] = [];
  for (const [i, c] of cases.entries()) {
    const pluginCode = pluginVerdicts[i]!.extensions?.errorCode;
    const verifyCode = verifyResults[i]!.decisive.error?.code;
    const name = `${REPOSITORY}:${c.tag}`;
    if (c.refusedWith === undefined) {
      if (!pluginVerdicts[i]!.isSuccess) problems.push(`${name} should pass through the plugin but was refused: ${pluginVerdicts[i]!.message}`);
      if (!verifyResults[i]!.isSuccess) problems.push(`${name} should pass verify but was refused: ${verifyResults[i]!.decisive.message}`);
    } else {
      if (pluginVerdicts[i]!.isSuccess || pluginCode !== c.refusedWith) problems.push(`${name} should be refused with ${c.refusedWith} by the plugin, got ${pluginVerdicts[i]!.isSuccess ? 'a pass' : String(pluginCode)}`);
      if (verifyResults[i]!.isSuccess || verifyCode !== c.refusedWith) problems.push(`${name} should be refused with ${c.refusedWith} by verify, got ${verifyResults[i]!.isSuccess ? 'a pass' : String(verifyCode)}`);
    }
  }
  out();
  if (problems.length > 0) {
    for (const p of problems) out(`DEMO FAILED: ${p}`);
    return EXIT_NOT_VERIFIED;
  }
  out(`Demo passed: ${REPOSITORY}:1.0 verified; 1.1 refused (UNTRUSTED_DID); 1.2 refused (DIGEST_MISMATCH). Stopping the PDS, PLC and registry.`);
  return EXIT_VERIFIED;
}

/** The dev network lives in development dependencies, external to the bundle: load it lazily. */
async function loadDevnet() {
  try {
    const [network, registry, sample] = await Promise.all([
      import('../devnet/atproto-network.js'),
      import('../devnet/registry-server.js'),
      import('../devnet/sample-image.js'),
    ]);
    // Touch the external packages now, so a missing install fails here with a clear message.
    await import('@atproto/dev-env');
    return { startAtprotoNetwork: network.startAtprotoNetwork, startRegistry: registry.startRegistry, pushSampleImage: sample.pushSampleImage };
  } catch (err) {
    throw new Error(
      `the demo needs the development dependencies (@atproto/dev-env): run it from a clone of the repository after npm install, with npm run demo (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`,
    );
  }
}

interface PluginLocation {
  command: string;
  args: string[];
  label: string;
}

/**
 * The plugin as Ratify would run it: the single executable beside the running bundle
 * (dist/atproto-verifier), else the bundle itself under this Node (dist/main.cjs).
 */
function locatePlugin(): PluginLocation {
  const override = process.env.ATPROTO_VERIFIER_EXECUTABLE;
  if (override) return { command: override, args: [], label: override };
  const entry = process.argv[1] ? realpathSync(process.argv[1]) : '';
  const dir = dirname(entry);
  const executable = join(dir, 'atproto-verifier');
  if (entry && isExecutable(executable)) return { command: executable, args: [], label: 'dist/atproto-verifier' };
  const bundle = join(dir, 'main.cjs');
  if (entry && existsSync(bundle)) return { command: process.execPath, args: [bundle], label: 'node dist/main.cjs' };
  throw new Error('the plugin executable was not found next to this program: run npm run build first (or npm run demo, which builds)');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function requireOnPath(binary: string, what: string): void {
  const found = (process.env.PATH ?? '').split(delimiter).some((d) => d && isExecutable(join(d, binary)));
  if (!found) throw new Error(`${binary} is not on PATH: the demo needs ${what}`);
}

/** One VERIFY call, exactly as Ratify's executor makes it: env + stdin in, one JSON line out. */
async function runPlugin(plugin: PluginLocation, teardown: Teardown, subject: string, request: unknown): Promise<PluginVerdict> {
  const child: ChildProcess = spawn(plugin.command, plugin.args, {
    env: { ...process.env, RATIFY_VERIFIER_COMMAND: 'VERIFY', RATIFY_VERIFIER_SUBJECT: subject, RATIFY_VERIFIER_VERSION: '1.0.0' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  teardown.add(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin!.end(JSON.stringify(request));
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c ?? -1));
  });
  // Ratify reads stderr then stdout and keeps the lines that are JSON: the result is on stdout.
  const line = stdout.split('\n').find((l) => l.trim().startsWith('{'));
  let parsed: unknown;
  try {
    parsed = line ? JSON.parse(line) : undefined;
  } catch {
    parsed = undefined;
  }
  if (code !== 0 || typeof parsed !== 'object' || parsed === null || typeof (parsed as PluginVerdict).isSuccess !== 'boolean') {
    throw new Error(`the plugin failed (exit ${code}): ${(stdout || stderr).trim().slice(0, 500)}`);
  }
  return parsed as PluginVerdict;
}

/** The VerifierResult fields an operator reads in Ratify's report, on one line. */
function describeVerdict(verdict: PluginVerdict): string {
  const ext = verdict.extensions ?? {};
  if (verdict.isSuccess) {
    const who = typeof ext.handle === 'string' && ext.handle ? ext.handle : String(ext.did ?? '');
    return `isSuccess: true   signed by ${who}, commit ${String(ext.commitCid ?? '').slice(0, 16)}…, policy "${String(ext.policy ?? '')}"`;
  }
  return `isSuccess: false  ${String(ext.failedStep ?? '?')} step [${String(ext.errorCode ?? '?')}]`;
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((l) => (l ? prefix + l : l))
    .join('\n');
}
