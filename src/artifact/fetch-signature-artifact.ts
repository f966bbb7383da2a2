import { VerificationError } from '../errors.js';
import type { RegistryClient } from '../registry/client.js';
import { MAX_PAYLOAD_BYTES, SIGNATURE_ARTIFACT_TYPE } from './signature-payload.js';

/** A referrer manifest is a few hundred bytes; anything near this is not one. */
export const MAX_REFERRER_MANIFEST_BYTES = 64 * 1024;

export interface SignatureArtifact {
  manifestDigest: string;
  payloadDigest: string;
  payload: Uint8Array;
}

interface Descriptor {
  mediaType?: unknown;
  digest?: unknown;
  size?: unknown;
}

/**
 * Fetches an ATProto signature referrer and its payload (SPEC section 3 step 1): the manifest
 * bytes hash to the digest asked for (checked by the client), its `subject` is the image being
 * verified, and the payload blob hashes to its descriptor. Sizes are capped before reading.
 */
export async function fetchSignatureArtifact(
  client: RegistryClient,
  repository: string,
  referrerDigest: string,
  subjectDigest: string,
): Promise<SignatureArtifact> {
  const { bytes } = await client.getManifest(repository, referrerDigest, { maxBytes: MAX_REFERRER_MANIFEST_BYTES });
  let manifest: { artifactType?: unknown; config?: Descriptor; subject?: Descriptor; layers?: unknown };
  try {
    manifest = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new VerificationError('ARTIFACT_INVALID', `referrer ${referrerDigest} is not a JSON manifest`);
  }
  const artifactType = manifest.artifactType ?? manifest.config?.mediaType;
  if (artifactType !== SIGNATURE_ARTIFACT_TYPE) {
    throw new VerificationError('ARTIFACT_INVALID', `referrer ${referrerDigest} has artifactType ${String(artifactType)}, not ${SIGNATURE_ARTIFACT_TYPE}`);
  }
  if (manifest.subject?.digest !== subjectDigest) {
    throw new VerificationError('SUBJECT_MISMATCH', `referrer ${referrerDigest} is attached to ${String(manifest.subject?.digest)}, not ${subjectDigest}`);
  }
  const layers = Array.isArray(manifest.layers) ? (manifest.layers as Descriptor[]) : [];
  const signatures = layers.filter((l) => l?.mediaType === SIGNATURE_ARTIFACT_TYPE);
  if (signatures.length !== 1) {
    throw new VerificationError('ARTIFACT_INVALID', `referrer ${referrerDigest} has ${signatures.length} signature layers; exactly one is required`);
  }
  const layer = signatures[0]!;
  if (typeof layer.digest !== 'string' || typeof layer.size !== 'number' || layer.size > MAX_PAYLOAD_BYTES) {
    throw new VerificationError('ARTIFACT_INVALID', `referrer ${referrerDigest}: signature layer descriptor is invalid or larger than ${MAX_PAYLOAD_BYTES} bytes`);
  }
  const payload = await client.getBlob(repository, layer.digest, { maxBytes: layer.size });
  return { manifestDigest: referrerDigest, payloadDigest: layer.digest, payload };
}
