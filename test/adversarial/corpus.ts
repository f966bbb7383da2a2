/**
 * Reads the adversarial corpus (manifest.json + cases/) and turns a case into what each face of
 * the verifier takes, so the same files can be run through the engine (corpus.test.ts), and later
 * through the plugin executable and the provider:
 *
 *   - payload and car cases become a VerifyRequest (`verifyRequestFor`): subject digest, image
 *     reference and payload bytes. A car case is embedded as the payload's `proof.car`, so with
 *     the corpus trust policy (cases/policy.yaml pins both signers' keys) it verifies offline:
 *     no PLC, no PDS. A plugin run attaches those payload bytes as a referrer (attachSignature)
 *     and passes trustPolicyPath = policyPath(); a provider run does the same and asks for
 *     `world.reference`. Both should then report `expect` as their error code. The committed
 *     corpus signs for `registry.example`; since those faces see the real registry host, such a
 *     run generates its own corpus in memory with generateCorpus({ registryName: '127.0.0.1:<port>' })
 *     (same cases and codes, records and policy scope naming that host) and reads it through
 *     generatedCorpus(); faces.test.ts does this for both faces.
 *   - manifest cases need a registry (see corpus.test.ts); chain cases a PDS and PLC
 *     (corpus.chain.test.ts).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { VerificationError, type ErrorCode } from '../../src/errors.js';
import { parseTrustPolicy, type TrustPolicy } from '../../src/policy/trust-policy.js';
import { DEFAULT_SETTINGS, type VerifierSettings } from '../../src/verify/settings.js';
import { Verifier, type VerificationOutcome } from '../../src/verify/verifier.js';
import type { CaseKind, CorpusCase, CorpusManifest, Expectation, SignerName } from './generate.js';

export type { CaseKind, CorpusCase, CorpusManifest, Expectation } from './generate.js';

export const CORPUS_DIR = dirname(fileURLToPath(import.meta.url));

let cached: CorpusManifest | undefined;

export function loadCorpus(): CorpusManifest {
  cached ??= JSON.parse(readFileSync(join(CORPUS_DIR, 'manifest.json'), 'utf8')) as CorpusManifest;
  return cached;
}

/** Every case of the corpus (or of one kind), in manifest order. */
export function listCases(kind?: CaseKind): CorpusCase[] {
  return loadCorpus().cases.filter((c) => kind === undefined || c.kind === kind);
}

/** A short stable id for a case: `car/sig-high-s`. */
export function caseId(c: CorpusCase): string {
  return c.file.replace(/^cases\//, '').replace(/\.(json\.gz|json|car|bin|txt)$/, '');
}

/** The bytes of a corpus file, gunzipped when it is stored as `.gz`. */
export function corpusBytes(file: string): Uint8Array {
  return unpacked(file, readFileSync(join(CORPUS_DIR, file)));
}

function unpacked(file: string, raw: Uint8Array): Uint8Array {
  return new Uint8Array(file.endsWith('.gz') ? gunzipSync(raw, { maxOutputLength: 64 * 1024 * 1024 }) : raw);
}

/** A corpus to read cases from: the committed one, or one generateCorpus() built in memory. */
export interface CorpusSource {
  manifest: CorpusManifest;
  /** A file's bytes (gunzipped), by its manifest path. */
  bytes(file: string): Uint8Array;
}

export function committedCorpus(): CorpusSource {
  return { manifest: loadCorpus(), bytes: corpusBytes };
}

/** A corpus generated for another registry or repository (plugin and provider runs), read from memory. */
export function generatedCorpus(generated: { manifest: CorpusManifest; files: { path: string; bytes: Uint8Array }[] }): CorpusSource {
  const files = new Map(generated.files.map((f) => [f.path, f.bytes]));
  return {
    manifest: generated.manifest,
    bytes: (file) => {
      const raw = files.get(file);
      if (!raw) throw new Error(`corpus: no file ${file}`);
      return unpacked(file, raw);
    },
  };
}

export function policyPath(): string {
  return join(CORPUS_DIR, loadCorpus().world.policy);
}

export function corpusPolicy(): TrustPolicy {
  return parseTrustPolicy(readFileSync(policyPath(), 'utf8'), policyPath());
}

/**
 * The settings every offline case runs with: the PLC directory is an https URL on a loopback IP,
 * which the fetch guard refuses before any I/O. A case that needs the network therefore fails
 * with NETWORK_DENIED, deterministically, instead of reaching anything.
 */
export const OFFLINE_SETTINGS: VerifierSettings = {
  ...DEFAULT_SETTINGS,
  plcDirectory: 'https://127.0.0.1:9',
  allowPrivateNetwork: false,
  cacheEnabled: false,
  // The operator's choice (the policy marks both signers offline: allowed): embedded proofs decide.
  offline: true,
};

export function corpusVerifier(): Verifier {
  return new Verifier(OFFLINE_SETTINGS, { policy: corpusPolicy(), handleResolver: async () => undefined });
}

export interface CorpusRequest {
  subjectDigest: string;
  reference: string;
  payload: Uint8Array;
}

/** The verification request a payload or car case stands for (see the header comment). */
export function verifyRequestFor(c: CorpusCase, source: CorpusSource = committedCorpus()): CorpusRequest {
  const world = source.manifest.world;
  const corpusBytes = source.bytes;
  const signer = world.signers[c.signer ?? ('k256' satisfies SignerName)];
  const bytes = corpusBytes(c.file);
  const base = { subjectDigest: c.subjectDigest ?? world.subjectDigest, reference: world.reference };
  if (c.kind === 'payload') return { ...base, payload: bytes };
  if (c.kind === 'car') {
    // The signer's valid payload with this CAR as its proof; the CID hints are dropped so the
    // case fails (or passes) on the proof alone.
    const payload = JSON.parse(Buffer.from(corpusBytes(signer.validPayload)).toString('utf8')) as {
      atproto: Record<string, unknown>;
      proof: { car: string };
    };
    delete payload.atproto.recordCid;
    delete payload.atproto.commitCid;
    payload.proof.car = Buffer.from(bytes).toString('base64');
    return { ...base, payload: new TextEncoder().encode(JSON.stringify(payload)) };
  }
  throw new Error(`corpus: ${c.kind} cases are not a single verification request`);
}

/** The code an outcome ended with: `OK` for a pass, else its error code. */
export function outcomeCode(outcome: VerificationOutcome): Expectation {
  return outcome.isSuccess ? 'OK' : (outcome.error?.code ?? 'INTERNAL');
}

/**
 * Runs `fn` and returns `OK` or the VerificationError's code. Anything else thrown is a bug in
 * the verifier (an untyped failure), so it is rethrown to fail the test loudly.
 */
export async function codeOf(fn: () => unknown): Promise<Expectation> {
  try {
    await fn();
    return 'OK';
  } catch (err) {
    if (err instanceof VerificationError) return err.code as ErrorCode;
    throw new Error(`untyped exception escaped the verifier: ${err instanceof Error ? err.stack : String(err)}`, { cause: err });
  }
}
