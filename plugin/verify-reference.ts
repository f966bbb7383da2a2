import { fetchSignatureArtifact } from '../src/artifact/fetch-signature-artifact.js';
import { SIGNATURE_ARTIFACT_TYPE } from '../src/artifact/signature-payload.js';
import { asVerificationError, VerificationError } from '../src/errors.js';
import type { TrustPolicy } from '../src/policy/trust-policy.js';
import { settingsFromParameters, type VerifierSettings } from '../src/verify/settings.js';
import { registryGate } from '../src/verify/registry-admission.js';
import { signerRequirement } from '../src/policy/claims.js';
import { countSigners, decideWithQuorum } from '../src/verify/signer-quorum.js';
import { failedOutcome, Verifier, type VerificationOutcome } from '../src/verify/verifier.js';
import { verifySignatureReferrers } from '../src/verify/verify-referrers.js';
import { PluginError, PluginErrorCode, type PluginRequest, type VerifierResult } from './protocol.js';
import { loadTrustPolicyCached } from './policy-cache.js';
import { toVerifierResult } from './result.js';
import type { ReferrerStore } from './store.js';

/** Keys of the verifier config that belong to Ratify itself, not to our parameters. */
// Ratify writes name (the CR's metadata.name), type, artifactTypes and source over the parameters,
// and reads version and nestedReferences itself (pkg/controllers/utils/verifier.go, v1.4.0).
const RATIFY_CONFIG_KEYS = new Set(['name', 'type', 'artifactTypes', 'source', 'version', 'nestedReferences']);

export interface PluginContext {
  log: (level: 'info' | 'warn' | 'debug', message: string) => void;
}

/** Reads the verifier parameters; configuration mistakes are Ratify's "invalid config" (code 2). */
export function readSettings(request: PluginRequest, ctx: PluginContext): { settings: VerifierSettings; warnings: string[] } {
  const params = Object.fromEntries(Object.entries(request.config).filter(([k]) => !RATIFY_CONFIG_KEYS.has(k)));
  try {
    const { settings, unknown } = settingsFromParameters(params);
    const warnings = unknown.map((k) => `unknown verifier parameter "${k}" ignored (check spelling in the Verifier CR's spec.parameters)`);
    for (const w of warnings) ctx.log('warn', w);
    if (!settings.trustPolicyPath) {
      throw new VerificationError('INPUT_INVALID', 'parameter trustPolicyPath is required: the plugin never admits an image without a trust policy');
    }
    return { settings, warnings };
  } catch (err) {
    throw new PluginError(PluginErrorCode.InvalidVerifierConfig, asVerificationError(err).message);
  }
}

/**
 * One Ratify VERIFY call: fetch the referrer through the store, then run the engine on it. Every
 * verification failure is a VerifierResult with isSuccess false (exit 0), so Ratify reports our
 * reason; only protocol and configuration errors end the process with Ratify's error JSON.
 */
export async function verifyReference(
  request: PluginRequest,
  settings: VerifierSettings,
  store: ReferrerStore,
  ctx: PluginContext & { warnings?: string[]; signal?: AbortSignal },
): Promise<VerifierResult> {
  const id = { name: request.config.name, type: typeof request.config.type === 'string' ? request.config.type : request.config.name };
  const policy = await loadPolicy(settings);
  let outcome: VerificationOutcome;
  try {
    outcome = await verifyWithStore(request, settings, store, policy, ctx);
  } catch (err) {
    outcome = failedOutcome(err);
  }
  ctx.log(outcome.isSuccess ? 'info' : 'warn', outcome.message);
  return toVerifierResult(outcome, id, ctx.warnings ?? []);
}

async function loadPolicy(settings: VerifierSettings): Promise<TrustPolicy> {
  try {
    return await loadTrustPolicyCached(settings.trustPolicyPath!, settings.cacheEnabled ? settings.cacheDir : undefined);
  } catch (err) {
    throw new PluginError(PluginErrorCode.InvalidVerifierConfig, `trust policy ${settings.trustPolicyPath}: ${asVerificationError(err).message}`);
  }
}

async function verifyWithStore(
  request: PluginRequest,
  settings: VerifierSettings,
  store: ReferrerStore,
  policy: TrustPolicy,
  ctx: PluginContext & { signal?: AbortSignal },
): Promise<VerificationOutcome> {
  const desc = request.referenceDesc;
  if (!/^sha(256|512):[a-f0-9]+$/.test(desc.digest)) {
    throw new VerificationError('INPUT_INVALID', `referenceDesc.digest "${String(desc.digest).slice(0, 80)}" is not a digest`);
  }
  if (desc.artifactType !== undefined && desc.artifactType !== SIGNATURE_ARTIFACT_TYPE) {
    throw new VerificationError(
      'ARTIFACT_INVALID',
      `reference ${desc.digest} has artifactType ${desc.artifactType}, not ${SIGNATURE_ARTIFACT_TYPE}: list only ${SIGNATURE_ARTIFACT_TYPE} in the Verifier CR's artifactTypes`,
    );
  }
  const subject = request.subjectRef;
  // Policy before network, and the registry's network rules (issue 15): see registryGate.
  const gate = registryGate(policy, settings, subject);
  if ('decided' in gate) return gate.decided;
  const client = store.clientFor(subject.registry, { timeoutMs: settings.pdsTimeoutMs, network: gate.network, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  const verifier = new Verifier(settings, { policy });
  // The signer is known only once the artifact arrives; the DIDs the policy trusts for this image
  // are known now, so their documents are fetched while the registry is (SPEC section 3 step 2).
  verifier.prefetchIdentities(`${subject.registry}/${subject.repository}`, ctx.signal);
  try {
    // Ratify may pass a tag: pin it to the digest of the bytes the registry serves now, and the
    // referrer must name exactly that digest as its subject.
    const subjectDigest = subject.digest ?? (await client.resolveDigest(subject.repository, subject.tag ?? 'latest'));
    ctx.log('debug', `fetching referrer ${desc.digest} of ${subject.registry}/${subject.repository}@${subjectDigest}`);
    const artifact = await fetchSignatureArtifact(client, subject.repository, desc.digest, subjectDigest);
    const reference = `${subject.registry}/${subject.repository}@${subjectDigest}`;
    const outcome = await verifier.verify({ subjectDigest, reference, payload: artifact.payload, ...(ctx.signal ? { signal: ctx.signal } : {}) });
    const asked = { referrer: desc.digest, outcome };
    const requirement = signerRequirement(policy, reference);
    // Ratify asks about one referrer at a time and admits on any pass: with require.signers > 1
    // this one may pass only once the other signers are proven too (issue 17). A referrer that
    // fails on its own needs nothing more read.
    if (!outcome.isSuccess || (requirement.required <= 1 && requirement.auditRequired <= 1)) {
      return decideWithQuorum(outcome, countSigners(requirement, [asked]), [asked]);
    }
    ctx.log('debug', `policy needs ${requirement.required} distinct signers: reading the other signature referrers of ${reference}`);
    const referrers = await client.listReferrers(subject.repository, subjectDigest, SIGNATURE_ARTIFACT_TYPE);
    const { signatures, quorum, unread } = await verifySignatureReferrers({
      client,
      repository: subject.repository,
      subjectDigest,
      reference,
      referrers,
      verifier,
      requirement,
      known: [asked],
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    return decideWithQuorum(outcome, quorum, signatures, unread);
  } finally {
    client.close();
  }
}
