import { SIGNATURE_ARTIFACT_TYPE } from '../artifact/signature-payload.js';
import { VerificationError } from '../errors.js';
import { signerRequirement } from '../policy/claims.js';
import { referrerLocation, type RegistryMapping } from '../policy/registries.js';
import type { TrustPolicy } from '../policy/trust-policy.js';
import type { RegistryClient } from '../registry/client.js';
import type { Descriptor } from '../registry/oci.js';
import { formatImageReference, parseImageReference, type ImageReference } from '../registry/reference.js';
import { decisionBeforeRegistry } from './registry-admission.js';
import { decideWithQuorum, type SignatureCheck, type SignerQuorum } from './signer-quorum.js';
import { failedOutcome, type VerificationOutcome, type Verifier } from './verifier.js';
import { MAX_SIGNATURE_REFERRERS, verifySignatureReferrers } from './verify-referrers.js';

export type { SignatureCheck } from './signer-quorum.js';

export interface ImageVerification {
  /** The reference as given, and pinned to the digest that was verified. */
  reference: string;
  pinned: string;
  digest: string;
  isSuccess: boolean;
  /** The outcome that decided: the first signature that counted, else the first failure. */
  decisive: VerificationOutcome;
  signatures: SignatureCheck[];
  /** Who signed, how many are required, who is missing (require.signers). */
  quorum?: SignerQuorum;
}

/** At most this many signature referrers are read per image (see ./verify-referrers.ts). */
export const MAX_SIGNATURES_PER_IMAGE = MAX_SIGNATURE_REFERRERS;

/** The signature referrers of an image, as its registry lists them (referrers API, else the tag schema). */
export function listSignatureReferrers(client: RegistryClient, repository: string, digest: string): Promise<Descriptor[]> {
  return client.listReferrers(repository, digest, SIGNATURE_ARTIFACT_TYPE);
}

/**
 * Verifies an image by reference, for the CLI and the Gatekeeper provider: resolve a tag to its
 * digest, discover ATProto signature referrers (where the policy's registries say), verify the
 * claims the policy may trust first, and admit the image once `require.signers` distinct trusted
 * signers are proven (one by default, like `cosign verify`).
 */
export async function verifyImage(
  reference: string,
  deps: { verifier: Verifier; registryFor: (registry: string) => RegistryClient; signal?: AbortSignal },
): Promise<ImageVerification> {
  const ref = parseImageReference(reference);
  const unscoped = verificationBeforeRegistry(deps.verifier.policy, reference, formatImageReference(ref), ref.digest);
  if (unscoped) return unscoped;
  const client = deps.registryFor(ref.registry);
  const digest = ref.digest ?? (await client.resolveDigest(ref.repository, ref.tag ?? 'latest'));
  const pinned = `${ref.registry}/${ref.repository}@${digest}`;
  const source = referrerSource(ref, deps);
  const referrers = await listSignatureReferrers(source.client, source.repository, digest);
  if (referrers.length === 0) {
    const decisive = withMapping(failedOutcome(noReferrerError(pinned, digest, source)), source.mapping);
    return { reference, pinned, digest, isSuccess: false, decisive, signatures: [] };
  }
  const requirement = signerRequirement(deps.verifier.policy, pinned);
  const found = await verifySignatureReferrers({
    client: source.client,
    repository: source.repository,
    subjectDigest: digest,
    reference: pinned,
    referrers,
    verifier: deps.verifier,
    requirement,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  const { quorum, unread } = found;
  const signatures = found.signatures.map((s) => ({ ...s, outcome: withMapping(s.outcome, source.mapping) }));
  const counted = signatures.find((s) => s.outcome.isSuccess && quorum.signers.some((q) => q.referrer === s.referrer));
  const base = counted?.outcome ?? signatures[0]?.outcome ?? failedOutcome(new VerificationError('ARTIFACT_NOT_FOUND', `no signature referrer of ${pinned} could be read`));
  let decisive = decideWithQuorum(base, quorum, signatures, unread);
  if (!decisive.isSuccess && !counted && unread > 0) {
    decisive = { ...decisive, message: `${decisive.message} (${unread} more signature referrer(s) beyond the first ${MAX_SIGNATURE_REFERRERS} were not read)` };
  }
  return { reference, pinned, digest, isSuccess: decisive.isSuccess, decisive, signatures, quorum };
}

/**
 * Policy before network: the verification of an image no scope covers, decided by defaultAction
 * with its registry never contacted; undefined when a scope covers `name` (the canonical reference
 * being judged) and the image must be verified. Shared by verifyImage and the provider, which
 * decides before it resolves a tag.
 */
export function verificationBeforeRegistry(
  policy: TrustPolicy | undefined,
  reference: string,
  name: string,
  digest: string | undefined,
): ImageVerification | undefined {
  const decisive = decisionBeforeRegistry(policy, name);
  return decisive ? { reference, pinned: name, digest: digest ?? '', isSuccess: decisive.isSuccess, decisive, signatures: [] } : undefined;
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
