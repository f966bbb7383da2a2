import { fetchSignatureArtifact } from '../artifact/fetch-signature-artifact.js';
import { parseSignaturePayload, SIGNER_ANNOTATION, type SignaturePayload } from '../artifact/signature-payload.js';
import { refuseClaimedSigner, type SignerRequirement } from '../policy/claims.js';
import type { TrustPolicy } from '../policy/trust-policy.js';
import type { RegistryClient } from '../registry/client.js';
import type { Descriptor } from '../registry/oci.js';
import { countSigners, quorumSettled, type SignatureCheck, type SignerQuorum } from './signer-quorum.js';
import { failedOutcome, type VerificationOutcome, type Verifier } from './verifier.js';

/**
 * Referrer triage (issue 12): whoever can push to a repository can attach any number of
 * signature referrers, so none of them may cost more than its own fetch unless the trust policy
 * could trust the signer it claims, and none may push a trusted signature out of reach.
 *
 * 1. At most MAX_SIGNATURE_REFERRERS referrers are read: those whose descriptor annotation
 *    (SIGNER_ANNOTATION, written by `sign`; an untrusted hint, used only for ordering) names a
 *    signer the policy may trust first, then unannotated ones newest first (a registry's tag-schema
 *    index appends, so junk pushed BEFORE a signature does not hide it), then the rest.
 * 2. They are fetched REFERRER_FETCH_PARALLELISM at a time, and ordered by the signer their
 *    payload claims: claims the policy may trust are verified first.
 * 3. Verification stops as soon as enough distinct trusted signers are proven. A claim the policy
 *    refuses is refused by the engine before any DID, handle or PDS request.
 */

export const MAX_SIGNATURE_REFERRERS = 64;
export const REFERRER_FETCH_PARALLELISM = 8;

export interface ReferrerSearch {
  client: RegistryClient;
  repository: string;
  subjectDigest: string;
  /** The pinned image reference (registry/repository@digest), for policy scopes. */
  reference: string;
  referrers: readonly Descriptor[];
  verifier: Verifier;
  requirement: SignerRequirement;
  /** Signatures already verified (the referrer Ratify asked about): counted, not fetched again. */
  known?: SignatureCheck[];
  signal?: AbortSignal;
}

export interface ReferrerSearchResult {
  /** Every signature verified, trusted claims first. */
  signatures: SignatureCheck[];
  quorum: SignerQuorum;
  /** Signature referrers listed but not read (beyond MAX_SIGNATURE_REFERRERS). */
  unread: number;
}

/** 0: the policy may trust the claimed signer; 1: unknown; 2: the policy refuses it. */
type Rank = 0 | 1 | 2;

function claimRank(policy: TrustPolicy | undefined, reference: string, did: string | undefined): Rank {
  if (!did) return 1;
  if (!policy) return 0;
  try {
    return refuseClaimedSigner(policy, reference, did) ? 2 : 0;
  } catch {
    return 1; // not a reference: the engine refuses it with its own message
  }
}

interface Candidate {
  referrer: string;
  rank: Rank;
  did?: string;
  /** The payload as parsed for ordering (the engine validates it again, without re-reading the bytes). */
  payload?: unknown;
  failed?: VerificationOutcome;
}

export async function verifySignatureReferrers(search: ReferrerSearch): Promise<ReferrerSearchResult> {
  const policy = search.verifier.policy;
  const known = search.known ?? [];
  const seen = new Set(known.map((k) => k.referrer));
  const listed = search.referrers.filter((d) => !seen.has(d.digest) && (seen.add(d.digest), true));
  const budget = Math.max(0, MAX_SIGNATURE_REFERRERS - known.length);
  const toRead = listed
    .map((d, i) => ({ d, i, rank: claimRank(policy, search.reference, annotatedSigner(d)) }))
    .sort((a, b) => a.rank - b.rank || b.i - a.i)
    .slice(0, budget);

  const candidates = await mapLimited(toRead, REFERRER_FETCH_PARALLELISM, async ({ d }): Promise<Candidate> => {
    try {
      const artifact = await fetchSignatureArtifact(search.client, search.repository, d.digest, search.subjectDigest);
      const parsed = parsedPayload(artifact.payload);
      const did = parsed?.atproto.did;
      return { referrer: d.digest, rank: claimRank(policy, search.reference, did), payload: parsed ?? artifact.payload, ...(did ? { did } : {}) };
    } catch (err) {
      return { referrer: d.digest, rank: 2, failed: failedOutcome(err) };
    }
  }, search.signal);
  // Array.prototype.sort is stable: equal ranks keep the reading order.
  const queue = [...candidates].sort((a, b) => a.rank - b.rank);

  const signatures: SignatureCheck[] = [...known];
  let quorum = countSigners(search.requirement, signatures);
  while (queue.length > 0 && !quorumSettled(quorum)) {
    if (search.signal?.aborted) break;
    // As many as are still missing, at once: k signers cost one round, not k.
    const wanted = Math.max(1, quorum.required - quorum.signers.length);
    const batch: Candidate[] = [];
    while (queue.length > 0 && batch.length < wanted) {
      const next = queue.shift()!;
      // A DID already proven counts once: its other records need no verification.
      if (next.did && quorum.signers.some((s) => s.did === next.did)) continue;
      batch.push(next);
    }
    const checks = await Promise.all(batch.map((c) => verifyCandidate(c, search)));
    signatures.push(...checks);
    quorum = countSigners(search.requirement, signatures);
  }
  return { signatures, quorum, unread: Math.max(0, listed.length - toRead.length) };
}

async function verifyCandidate(c: Candidate, search: ReferrerSearch): Promise<SignatureCheck> {
  if (c.failed) return { referrer: c.referrer, outcome: c.failed };
  try {
    const outcome = await search.verifier.verify({
      subjectDigest: search.subjectDigest,
      reference: search.reference,
      payload: c.payload!,
      ...(search.signal ? { signal: search.signal } : {}),
    });
    return { referrer: c.referrer, outcome };
  } catch (err) {
    return { referrer: c.referrer, outcome: failedOutcome(err) };
  }
}

/** The signer a referrer descriptor's annotation names (registry-served: only a string is read). */
function annotatedSigner(d: Descriptor): string | undefined {
  const annotations: unknown = d.annotations;
  if (typeof annotations !== 'object' || annotations === null) return undefined;
  const value = (annotations as Record<string, unknown>)[SIGNER_ANNOTATION];
  return typeof value === 'string' && value.length <= 2048 ? value : undefined;
}

/** The payload parsed, for ordering by the DID it claims (the engine checks it again), or undefined if it does not parse. */
function parsedPayload(payload: Uint8Array): SignaturePayload | undefined {
  try {
    return parseSignaturePayload(payload);
  } catch {
    return undefined;
  }
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping the order of results. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      if (signal?.aborted) throw signal.reason;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
