import { VerificationError } from '../errors.js';
import { canonicalRegistryHost, parseImageReference } from '../registry/reference.js';
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
  atcrRegistries: readonly string[];
  /** The signer's handle, only when verified both ways. */
  verifiedHandle: string | undefined;
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
 * record's repository. For ATCR-style registries the path is `<handle-or-did>/<repository>`, and the
 * identity segment must be the signer; elsewhere the record's repository is the full
 * `registry/repository` name that `atproto-verifier sign` writes.
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

function checkRepository(repository: string, expected: RecordExpectations): void {
  const ref = parseImageReference(expected.reference!);
  // ref.registry is canonical (lowercase, no :443): compare configured hosts in that form too.
  if (expected.atcrRegistries.some((host) => canonicalRegistryHost(host) === ref.registry)) {
    const [identity, ...rest] = ref.repository.split('/');
    const path = rest.join('/');
    const signer = identity === expected.did || (expected.verifiedHandle !== undefined && identity === expected.verifiedHandle);
    if (!signer) {
      throw new VerificationError(
        'REPOSITORY_MISMATCH',
        `image path names "${identity}" but the signer is ${expected.did}${expected.verifiedHandle ? ` (${expected.verifiedHandle})` : ' (no verified handle)'}`,
      );
    }
    if (path !== repository) {
      throw new VerificationError('REPOSITORY_MISMATCH', `image repository "${path}" is not the signed record's repository "${repository}"`);
    }
    return;
  }
  const full = `${ref.registry}/${ref.repository}`;
  if (repository !== full) {
    throw new VerificationError('REPOSITORY_MISMATCH', `image ${full} is not the signed record's repository "${repository}"`);
  }
}
