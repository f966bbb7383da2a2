import { fetchSignatureArtifact } from '../artifact/fetch-signature-artifact.js';
import { SIGNATURE_ARTIFACT_TYPE } from '../artifact/signature-payload.js';
import { VerificationError } from '../errors.js';
import type { RegistryClient } from '../registry/client.js';
import { parseImageReference } from '../registry/reference.js';
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
  const client = deps.registryFor(ref.registry);
  const digest = ref.digest ?? (await client.resolveDigest(ref.repository, ref.tag ?? 'latest'));
  const pinned = `${ref.registry}/${ref.repository}@${digest}`;
  const referrers = await client.listReferrers(ref.repository, digest, SIGNATURE_ARTIFACT_TYPE);
  const result = (signatures: SignatureCheck[], decisive: VerificationOutcome): ImageVerification => ({
    reference,
    pinned,
    digest,
    isSuccess: decisive.isSuccess,
    decisive,
    signatures,
  });
  if (referrers.length === 0) {
    const error = new VerificationError('ARTIFACT_NOT_FOUND', `no ATProto signature referrer is attached to ${pinned}`);
    return result([], failedOutcome(error));
  }
  const signatures: SignatureCheck[] = [];
  for (const referrer of referrers.slice(0, MAX_SIGNATURES_PER_IMAGE)) {
    const outcome = await verifyReferrer(ref.repository, referrer.digest, digest, pinned, client, deps);
    signatures.push({ referrer: referrer.digest, outcome });
    if (outcome.isSuccess) return result(signatures, outcome);
  }
  return result(signatures, signatures[0]!.outcome);
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
