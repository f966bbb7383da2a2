import { VerificationError } from '../errors.js';
import { guardedFetch, parseJsonBody, type FetchPolicy } from '../net/guarded-fetch.js';
import type { RecordUri } from './record-uri.js';

/** A record proof is a handful of MST nodes plus a commit and a record: far below this. */
export const MAX_PROOF_BYTES = 2 * 1024 * 1024;

/**
 * Fetches the CAR proof of one record from a PDS (`com.atproto.sync.getRecord`, SPEC section 3
 * step 3). The bytes are not trusted: they are verified against the DID document key afterwards.
 */
export async function fetchRecordProof(
  pdsEndpoint: string,
  record: RecordUri,
  policy: Omit<FetchPolicy, 'maxBytes'>,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const query = new URLSearchParams({ did: record.did, collection: record.collection, rkey: record.rkey });
  const url = `${pdsEndpoint}/xrpc/com.atproto.sync.getRecord?${query}`;
  const purpose = `PDS getRecord ${record.collection}/${record.rkey}`;
  let res;
  try {
    res = await guardedFetch(
      { url, purpose, accept: 'application/vnd.ipld.car', ...(signal ? { signal } : {}) },
      { ...policy, maxBytes: MAX_PROOF_BYTES },
    );
  } catch (err) {
    if (err instanceof VerificationError && (err.code === 'NETWORK_ERROR' || err.code === 'NETWORK_TIMEOUT')) {
      throw new VerificationError('PDS_FETCH_FAILED', `${err.message} (PDS ${pdsEndpoint})`, { cause: err });
    }
    throw err;
  }
  if (res.status === 200) return res.body;
  // XRPC errors are JSON {error, message}; RecordNotFound / RepoNotFound mean the record is gone.
  let xrpcError = '';
  try {
    const body = parseJsonBody(res, purpose) as { error?: unknown; message?: unknown };
    xrpcError = typeof body.error === 'string' ? body.error : '';
  } catch {
    // not JSON: report the status alone
  }
  // The error name decides the code and, being one of these fixed words, may be named; any other
  // error name or message is the PDS's own text and is never echoed (issue 15).
  if (/^(RecordNotFound|RepoNotFound|RepoDeactivated|RepoTakendown|RepoSuspended)$/.test(xrpcError)) {
    throw new VerificationError('RECORD_NOT_FOUND', `PDS ${pdsEndpoint} answered ${xrpcError} for at://${record.did}/${record.collection}/${record.rkey}`);
  }
  throw new VerificationError(
    'PDS_FETCH_FAILED',
    `PDS ${pdsEndpoint} answered HTTP ${res.status}${xrpcError ? ' (an XRPC error)' : ''} for ${record.collection}/${record.rkey}`,
  );
}
