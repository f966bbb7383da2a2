import { VerificationError } from '../errors.js';
import { digestOf, type RegistryClient } from '../registry/client.js';
import { MAX_PAYLOAD_BYTES, SIGNATURE_ARTIFACT_TYPE } from './signature-payload.js';

/** An OCI digest as distribution writes it; anything else must never reach a request path. */
const DIGEST_SYNTAX = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

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
  data?: unknown;
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
  // Digests come from a referrers index or a manifest, both registry-served: "sha256:../../x"
  // would otherwise be a path of its own choosing, sent with this repository's credentials.
  if (!DIGEST_SYNTAX.test(referrerDigest)) {
    throw new VerificationError('ARTIFACT_INVALID', `referrer digest "${String(referrerDigest).slice(0, 80)}" is not an OCI digest`);
  }
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
  const size = layer.size;
  if (typeof layer.digest !== 'string' || !DIGEST_SYNTAX.test(layer.digest) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_PAYLOAD_BYTES) {
    throw new VerificationError('ARTIFACT_INVALID', `referrer ${referrerDigest}: signature layer descriptor is invalid or larger than ${MAX_PAYLOAD_BYTES} bytes`);
  }
  // The payload may travel inside the descriptor (OCI `data`), saving a round trip; it is then
  // held to the descriptor's digest and size exactly as a fetched blob is.
  const payload =
    layer.data !== undefined ? embeddedData(layer.data, layer.digest, size, referrerDigest) : await client.getBlob(repository, layer.digest, { maxBytes: size });
  return { manifestDigest: referrerDigest, payloadDigest: layer.digest, payload };
}

/** Decodes a descriptor's `data` (OCI image spec, descriptor.md) and checks it against `digest` and `size`. */
function embeddedData(data: unknown, digest: string, size: number, referrerDigest: string): Uint8Array {
  if (typeof data !== 'string' || data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) {
    throw new VerificationError('ARTIFACT_INVALID', `referrer ${referrerDigest}: signature layer data is not base64`);
  }
  const bytes = new Uint8Array(Buffer.from(data, 'base64'));
  if (bytes.length !== size) {
    throw new VerificationError('ARTIFACT_INVALID', `referrer ${referrerDigest}: signature layer data is ${bytes.length} bytes, its descriptor says ${size}`);
  }
  const actual = digestOf(bytes, digest.startsWith('sha512:') ? 'sha512' : 'sha256');
  if (actual !== digest) {
    throw new VerificationError('ARTIFACT_DIGEST_MISMATCH', `referrer ${referrerDigest}: signature layer data hashes to ${actual}, not ${digest}`);
  }
  return bytes;
}
