import { fetchSignatureArtifact } from '../artifact/fetch-signature-artifact.js';
import { SIGNATURE_ARTIFACT_TYPE } from '../artifact/signature-payload.js';
import { VerificationError } from '../errors.js';
import type { RegistryClient } from '../registry/client.js';
import { referrerLocation, type RegistryMapping } from '../policy/registries.js';
import { formatImageReference, parseImageReference, type ImageReference } from '../registry/reference.js';
import { decisionBeforeRegistry } from './registry-admission.js';
import { failedOutcome, type VerificationOutcome, type Verifier } from './verifier.js';

/** A signature referrer found for an image, and what verifying it gave. */
export interface SignatureCheck {
  referrer: string;
  outcome: VerificationOutcome;
}

export interface ImageVerification {
  /** The reference as given, and pinned to the digest that was verified. */
  reference: string;
  pinned: string;
  digest: string;
  isSuccess: boolean;
  /** The outcome that decided: the first passing signature, else the first failure. */
  decisive: VerificationOutcome;
  signatures: SignatureCheck[];
}

/** At most this many signature referrers are tried per image: more is a denial-of-service. */
export const MAX_SIGNATURES_PER_IMAGE = 16;

/**
 * Verifies an image by reference, for the CLI and the Gatekeeper provider: resolve a tag to its
 * digest, discover ATProto signature referrers (referrers API, else the tag schema), and verify
 * each. Like `cosign verify`, the image passes when at least one signature passes.
 */
export async function verifyImage(
  reference: string,
  deps: { verifier: Verifier; registryFor: (registry: string) => RegistryClient; signal?: AbortSignal },
): Promise<ImageVerification> {
  const ref = parseImageReference(reference);
  // Policy before network: an image no scope covers is decided here, its registry never contacted.
  const unscoped = decisionBeforeRegistry(deps.verifier.policy, formatImageReference(ref));
  if (unscoped) return { reference, pinned: formatImageReference(ref), digest: ref.digest ?? '', isSuccess: unscoped.isSuccess, decisive: unscoped, signatures: [] };
  const client = deps.registryFor(ref.registry);
  const digest = ref.digest ?? (await client.resolveDigest(ref.repository, ref.tag ?? 'latest'));
  const pinned = `${ref.registry}/${ref.repository}@${digest}`;
  const source = referrerSource(ref, deps);
  const referrers = await source.client.listReferrers(source.repository, digest, SIGNATURE_ARTIFACT_TYPE);
  const result = (signatures: SignatureCheck[], decisive: VerificationOutcome): ImageVerification => ({
    reference,
    pinned,
    digest,
    isSuccess: decisive.isSuccess,
    decisive,
    signatures,
  });
  if (referrers.length === 0) {
    return result([], withMapping(failedOutcome(noReferrerError(pinned, digest, source)), source.mapping));
  }
  const signatures: SignatureCheck[] = [];
  for (const referrer of referrers.slice(0, MAX_SIGNATURES_PER_IMAGE)) {
    const outcome = withMapping(await verifyReferrer(source.repository, referrer.digest, digest, pinned, source.client, deps), source.mapping);
    signatures.push({ referrer: referrer.digest, outcome });
    if (outcome.isSuccess) return result(signatures, outcome);
  }
  return result(signatures, signatures[0]!.outcome);
}

/** Where an image's signature referrers (and their payloads) are read, and why. */
interface ReferrerSource {
  client: RegistryClient;
  repository: string;
  mapping: RegistryMapping | undefined;
}

/**
 * The registry and repository the signature referrers are read from: the image's own, or with
 * `referrersFrom: origin` on its registries entry, the origin's. Either way they are looked up by
 * the digest resolved on the registry the image is admitted from, and each referrer's subject must
 * be that digest: the signature binds the admitted bytes wherever it is stored.
 */
function referrerSource(ref: ImageReference, deps: { verifier: Verifier; registryFor: (registry: string) => RegistryClient }): ReferrerSource {
  const mapping = deps.verifier.registryMapping(formatImageReference(ref));
  if (mapping?.referrersFrom === 'origin') {
    const origin = referrerLocation(mapping);
    return { client: deps.registryFor(origin.registry), repository: origin.repository, mapping };
  }
  return { client: deps.registryFor(ref.registry), repository: ref.repository, mapping };
}

/** An outcome that failed before the engine ran still says how the name was read. */
function withMapping(outcome: VerificationOutcome, mapping: RegistryMapping | undefined): VerificationOutcome {
  return mapping && outcome.registryMapping === undefined ? { ...outcome, registryMapping: { applied: mapping.applied, description: mapping.description } } : outcome;
}

/** ARTIFACT_NOT_FOUND naming where referrers were looked for, the mapping, and what may be missing. */
function noReferrerError(pinned: string, digest: string, source: ReferrerSource): VerificationError {
  const mapping = source.mapping;
  const where = `${source.client.registry}/${source.repository}@${digest}`;
  // The mapping itself travels in the outcome (registryMapping), which every face shows beside this.
  const from = where === pinned ? '' : ` (referrers read from ${where})`;
  let remediation: string | undefined;
  if (mapping?.applied && mapping.referrersFrom === 'self') {
    remediation = `Sign the image; or, if it is signed on ${mapping.origin.registry} and this mirror does not copy referrers, copy them with the image (oras cp -r, regsync) or set referrersFrom: origin on registries[${mapping.index}] to read them from ${mapping.origin.registry}.`;
  } else if (mapping && !mapping.applied) {
    remediation = `Sign the image; or, if ${mapping.admitted.registry} is a mirror that does not copy referrers, add registries: [{host: "${mapping.admitted.registry}", mirrorOf: "<origin host>", referrersFrom: origin}] to the trust policy.`;
  }
  return new VerificationError('ARTIFACT_NOT_FOUND', `no ATProto signature referrer is attached to ${pinned}${from}`, remediation ? { remediation } : {});
}

async function verifyReferrer(
  repository: string,
  referrer: string,
  digest: string,
  pinned: string,
  client: RegistryClient,
  deps: { verifier: Verifier; signal?: AbortSignal },
): Promise<VerificationOutcome> {
  try {
    const artifact = await fetchSignatureArtifact(client, repository, referrer, digest);
    return await deps.verifier.verify({ subjectDigest: digest, reference: pinned, payload: artifact.payload, ...(deps.signal ? { signal: deps.signal } : {}) });
  } catch (err) {
    return failedOutcome(err);
  }
}
