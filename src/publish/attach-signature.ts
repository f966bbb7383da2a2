import { createHash } from 'node:crypto';
import { SIGNATURE_ARTIFACT_TYPE, SIGNER_ANNOTATION } from '../artifact/signature-payload.js';
import type { RegistryClient } from '../registry/client.js';
import { OCI_EMPTY_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, type Descriptor } from '../registry/oci.js';

const EMPTY_CONFIG = new TextEncoder().encode('{}');

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * Pushes the signature artifact as an OCI referrer of `subject` (SPEC section 2): empty config,
 * one payload layer, `subject` set. Registries without the referrers API (distribution 2.8) learn
 * about it through the tag-schema index `sha256-<hex>`, which is updated too.
 */
/**
 * Payloads up to this size also travel inside their layer descriptor (OCI `data`), so a verifier
 * reads the referrer manifest and has the payload: one registry round trip instead of two. The
 * blob is pushed all the same, for clients that ignore `data`. Larger ones (embedded proofs)
 * would crowd the referrer manifest, which verifiers cap at 64 KiB.
 */
export const MAX_DESCRIPTOR_DATA_BYTES = 16 * 1024;

export async function attachSignature(
  client: RegistryClient,
  repository: string,
  subject: Descriptor,
  payload: Uint8Array,
  options: { embedInDescriptor?: boolean; signer?: string } = {},
): Promise<Descriptor> {
  // Lets verifiers read the referrers their policy may trust first (a hint, never trusted).
  const signerAnnotation: Record<string, string> = options.signer ? { [SIGNER_ANNOTATION]: options.signer } : {};
  const embed = options.embedInDescriptor ?? payload.length <= MAX_DESCRIPTOR_DATA_BYTES;
  const config = await client.pushBlob(repository, EMPTY_CONFIG);
  const layer = await client.pushBlob(repository, payload);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    artifactType: SIGNATURE_ARTIFACT_TYPE,
    config: { mediaType: OCI_EMPTY_MEDIA_TYPE, digest: config.digest, size: config.size },
    layers: [{ mediaType: SIGNATURE_ARTIFACT_TYPE, digest: layer.digest, size: layer.size, ...(embed ? { data: Buffer.from(payload).toString('base64') } : {}) }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { 'org.opencontainers.image.created': new Date().toISOString(), ...signerAnnotation },
  };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  const digest = sha256(bytes);
  await client.pushManifest(repository, digest, bytes, OCI_MANIFEST_MEDIA_TYPE);
  const descriptor: Descriptor = {
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    digest,
    size: bytes.length,
    artifactType: SIGNATURE_ARTIFACT_TYPE,
    // The referrers API copies manifest annotations into its descriptors; the tag-schema index must too.
    annotations: { ...manifest.annotations },
  };
  await client.addReferrerToTagSchemaIndex(repository, subject.digest, descriptor);
  return descriptor;
}
