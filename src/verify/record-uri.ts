import { VerificationError } from '../errors.js';

/** The collection ATCR writes image manifests to (SPEC section 2). */
export const MANIFEST_COLLECTION = 'io.atcr.manifest';

export interface RecordUri {
  did: string;
  collection: string;
  rkey: string;
}

// Record keys: 1-512 chars of [A-Za-z0-9._:~-], not "." or ".." (atproto record-key spec).
const RKEY_RE = /^[A-Za-z0-9._:~-]{1,512}$/;

/** Parses `at://<did>/<collection>/<rkey>` and checks it names a manifest record of `did`. */
export function parseManifestRecordUri(uri: string, did: string): RecordUri {
  const m = /^at:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(uri);
  if (!m) throw new VerificationError('ARTIFACT_INVALID', `recordUri "${uri.slice(0, 200)}" is not at://<did>/<collection>/<rkey>`);
  const [, authority, collection, rkey] = m as unknown as [string, string, string, string];
  if (authority !== did) {
    throw new VerificationError('ARTIFACT_INVALID', `recordUri names ${authority} but the artifact claims signer ${did}`);
  }
  if (collection !== MANIFEST_COLLECTION) {
    throw new VerificationError('ARTIFACT_INVALID', `recordUri points at collection ${collection}, not ${MANIFEST_COLLECTION}`);
  }
  if (!RKEY_RE.test(rkey) || rkey === '.' || rkey === '..') {
    throw new VerificationError('ARTIFACT_INVALID', `recordUri has an invalid record key "${rkey.slice(0, 100)}"`);
  }
  return { did, collection, rkey };
}
