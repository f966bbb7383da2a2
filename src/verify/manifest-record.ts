import { VerificationError } from '../errors.js';
import { mapToOrigin, nameOf, suggestedMirrorEntry, type RegistryMapping, type RegistryName } from '../policy/registries.js';
import type { ImageReference } from '../registry/reference.js';
import { MANIFEST_COLLECTION } from './record-uri.js';

/** The fields of an `io.atcr.manifest` record the proof relies on (lexicon: SPEC section 2). */
export interface ManifestRecord {
  repository: string;
  digest: string;
  mediaType: string;
  schemaVersion: number;
  createdAt: string;
}

export interface RecordExpectations {
  subjectDigest: string;
  did: string;
  /** The image reference being admitted; the repository check needs it. */
  reference: string | undefined;
  /**
   * How the admitted name maps to the name its publisher signed (the policy's registries, see
   * src/policy/registries.ts). Without one, the admitted name is its own origin.
   */
  mapping?: RegistryMapping;
  /** Hosts whose paths are ATCR layout by configuration (used when no mapping is given). */
  atcrRegistries: readonly string[];
  /** The signer's handle, only when verified both ways. */
  verifiedHandle: string | undefined;
}

/** The signer as the layout rule sees it: the DID, and the handle only when verified both ways. */
export interface PathSigner {
  did: string;
  handle?: string | undefined;
}

/**
 * How a record names the repository of an image (issue 11, SPEC section 3 step 6), on any host:
 * - ATCR layout: the first path segment is the signer (their DID, or their handle verified both
 *   ways) and the record names the rest of the path. Safe on any host, since that segment must be
 *   the signer: nobody else can claim a path under it.
 * - Otherwise the record names the full `registry/repository`.
 * `sign` writes what this says, and the verifier expects it: one rule for both.
 */
export type RepositoryLayout = { kind: 'atcr'; identity: string; repository: string } | { kind: 'full'; repository: string };

export function repositoryLayout(name: RegistryName, signer: PathSigner): RepositoryLayout {
  const slash = name.repository.indexOf('/');
  if (slash > 0) {
    const first = name.repository.slice(0, slash);
    // Handles are case-insensitive, repository paths lowercase.
    if (first === signer.did || (signer.handle !== undefined && first === signer.handle.toLowerCase())) {
      return { kind: 'atcr', identity: first, repository: name.repository.slice(slash + 1) };
    }
  }
  return { kind: 'full', repository: nameOf(name) };
}

/**
 * The `repository` `sign` writes for an image: the layout rule above. On a host that is ATCR
 * layout by configuration (atcrRegistries) a path that does not start with the signer cannot be
 * signed at all: no record would be accepted for it, so refuse before writing one.
 */
export function recordRepositoryFor(image: string | ImageReference, signer: PathSigner, atcrRegistries: readonly string[]): string {
  const mapping = mapToOrigin(undefined, image, atcrRegistries);
  const layout = repositoryLayout(mapping.admitted, signer);
  if (layout.kind === 'full' && mapping.atcrLayout) {
    const [identity] = mapping.admitted.repository.split('/');
    throw new VerificationError(
      'INPUT_INVALID',
      `${mapping.admitted.registry} paths are <handle-or-did>/<repository>, and ${nameOf(mapping.admitted)} starts with "${identity}", which is not you (${describeSigner(signer)})`,
      { remediation: `Push the image under ${mapping.admitted.registry}/${signer.handle ?? signer.did}/..., then sign it.` },
    );
  }
  return layout.repository;
}

function requireString(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw new VerificationError('RECORD_INVALID', `${MANIFEST_COLLECTION} record lacks the required string field "${field}"`);
  }
  return value;
}

/**
 * SPEC section 3 step 6: the record signs exactly this digest, and the image path names the
 * record's repository (repositoryLayout, on the origin name).
 */
export function checkManifestRecord(value: unknown, expected: RecordExpectations): ManifestRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new VerificationError('RECORD_INVALID', `${MANIFEST_COLLECTION} record is not a map`);
  }
  const record = value as Record<string, unknown>;
  if (record.$type !== undefined && record.$type !== MANIFEST_COLLECTION) {
    throw new VerificationError('RECORD_INVALID', `record $type is ${String(record.$type)}, not ${MANIFEST_COLLECTION}`);
  }
  const digest = requireString(record, 'digest');
  const repository = requireString(record, 'repository');
  const mediaType = requireString(record, 'mediaType');
  const createdAt = requireString(record, 'createdAt');
  if (typeof record.schemaVersion !== 'number') {
    throw new VerificationError('RECORD_INVALID', `${MANIFEST_COLLECTION} record lacks the required integer field "schemaVersion"`);
  }
  if (digest !== expected.subjectDigest) {
    throw new VerificationError('DIGEST_MISMATCH', `the signed record is for ${digest}, not the image ${expected.subjectDigest}`);
  }
  if (expected.reference) checkRepository(repository, expected);
  return { repository, digest, mediaType, schemaVersion: record.schemaVersion, createdAt };
}

function describeSigner(signer: PathSigner): string {
  return signer.handle ? `${signer.did}, handle ${signer.handle}` : `${signer.did}, no verified handle`;
}

/**
 * The record names the image's repository, on the origin name (the admitted name mapped through
 * the policy's registries). In ATCR layout the record may also name the full origin name (as
 * `sign` wrote before it knew the layout): that names this very path, so it proves no less.
 */
function checkRepository(repository: string, expected: RecordExpectations): void {
  const mapping = expected.mapping ?? mapToOrigin(undefined, expected.reference!, expected.atcrRegistries);
  const signer = { did: expected.did, handle: expected.verifiedHandle };
  const origin = nameOf(mapping.origin);
  const image = mapping.applied ? `${nameOf(mapping.admitted)} (read as ${origin})` : origin;
  const via = `name mapping: ${mapping.description}`;
  const layout = repositoryLayout(mapping.origin, signer);
  if (layout.kind === 'atcr') {
    if (repository === layout.repository || repository === origin) return;
    throw mismatch(`image ${image} is repository "${layout.repository}" of ${layout.identity}, but the signed record names "${repository}"; ${via}`, mapping, repository, signer);
  }
  if (mapping.atcrLayout) {
    const [identity] = mapping.origin.repository.split('/');
    throw new VerificationError(
      'REPOSITORY_MISMATCH',
      `${mapping.origin.registry} paths are <handle-or-did>/<repository>, and image ${image} names "${identity}", not the signer (${describeSigner(signer)}); ${via}`,
      { remediation: 'The image path names another identity than the signer: a signature by one identity never admits an image under another identity\'s path.' },
    );
  }
  if (repository !== origin) {
    throw mismatch(`image ${image} is not the signed record's repository "${repository}" (signer ${describeSigner(signer)}); ${via}`, mapping, repository, signer);
  }
}

/** REPOSITORY_MISMATCH, with the registries entry that would map this name when one fits. */
function mismatch(message: string, mapping: RegistryMapping, repository: string, signer: PathSigner): VerificationError {
  const segments = [signer.did, ...(signer.handle ? [signer.handle.toLowerCase()] : [])];
  const entry = suggestedMirrorEntry(mapping.admitted, repository, segments);
  const remediation = entry
    ? `If ${mapping.admitted.registry} mirrors the registry the image was signed on, add to the trust policy: ${entry}. Otherwise the image path names another repository or identity than the signed record.`
    : 'The image path names another repository or identity than the signed record: this signature is not for this image name.';
  return new VerificationError('REPOSITORY_MISMATCH', message, { remediation });
}
