import { asVerificationError, type ErrorCode, type VerificationError, type VerificationStep } from '../errors.js';
import type { TrustPolicy } from '../policy/trust-policy.js';
import type { ImageVerification } from '../verify/verify-image.js';
import type { ResponseItem } from './gatekeeper-protocol.js';
import type { VerificationResult } from './metrics.js';

/**
 * What the provider says about one key: the item `value` (verdict plus the evidence an auditor
 * wants) and, when the image is not admitted, the item `error` string. Gatekeeper hands Rego only
 * the error for an item that has one (`response.errors`), so the string carries code, step and
 * remediation on its own; the constraint template denies on either.
 */
export interface ItemError {
  code: ErrorCode;
  step: VerificationStep;
  message: string;
  remediation: string;
}

export interface ItemValue {
  isSuccess: boolean;
  /** Admitted only because the matching trust policy is in audit mode. */
  audit: boolean;
  message: string;
  /** The key as sent, and the digest it was verified at. */
  reference: string;
  pinned?: string;
  digest?: string;
  did?: string;
  /** Only when verified both ways (DID document and handle resolution). */
  handle?: string;
  signedAt?: string;
  commitCid?: string;
  commitRev?: string;
  pdsEndpoint?: string;
  recordUri?: string;
  recordCid?: string;
  /** Verified offline by the operator's choice (embedded proof, pinned key): says so plainly. */
  offline?: 'revocation not checked';
  /** Distinct trusted signers proven (require.signers), and how many the policy requires. */
  signers?: { did: string; handle?: string; commitCid?: string }[];
  signersRequired?: number;
  /** DIDs that would count but were not proven, when too few signed. */
  signersMissing?: string[];
  policy?: {
    source: string;
    digest: string;
    /** Names of the policies whose scope matched this image. */
    matched: string[];
    action?: string;
    trustedAs?: string;
  };
  /** How the key's name was read through the policy's registries (or that no entry applied). */
  registryMapping?: string;
  /** Served from the provider's result cache. */
  cached: boolean;
  error?: ItemError;
}

/** A key's answer before it is put on the wire: the value and how to count it. */
export interface KeyAnswer {
  value: ItemValue;
  result: VerificationResult;
  /**
   * When the policy's trust in any signer that counted ends (the earliest expiresAt among them):
   * past it a fresh verification could refuse the image (a k-of-n quorum short of one), so a
   * cached success must not outlive it. Not on the wire; absent when no counted signer expires.
   */
  trustEndsAt?: number;
}

/** Steps whose failures say nothing about the image itself: worth retrying, never worth caching. */
const TRANSIENT_STEPS: ReadonlySet<VerificationStep> = new Set(['network', 'registry', 'internal']);
const TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set(['DID_RESOLUTION_FAILED', 'PDS_FETCH_FAILED', 'DEADLINE_EXCEEDED']);

export function isTransient(error: VerificationError | ItemError | undefined): boolean {
  return error !== undefined && (TRANSIENT_STEPS.has(error.step) || TRANSIENT_CODES.has(error.code));
}

function itemError(error: VerificationError): ItemError {
  return { code: error.code, step: error.step, message: error.message, remediation: error.remediation };
}

function resultOf(value: ItemValue): VerificationResult {
  if (value.isSuccess) return 'success';
  if (value.error?.code === 'DEADLINE_EXCEEDED') return 'timeout';
  return isTransient(value.error) ? 'error' : 'failure';
}

export function answerFromVerification(key: string, verification: ImageVerification, policy: TrustPolicy): KeyAnswer {
  const o = verification.decisive;
  const value: ItemValue = {
    isSuccess: verification.isSuccess,
    audit: o.audit,
    message: o.message,
    reference: key,
    pinned: verification.pinned,
    digest: verification.digest,
    ...(o.did ? { did: o.did } : {}),
    ...(o.handle ? { handle: o.handle } : {}),
    ...(o.signedAt ? { signedAt: o.signedAt } : {}),
    ...(o.commitCid ? { commitCid: o.commitCid } : {}),
    ...(o.commitRev ? { commitRev: o.commitRev } : {}),
    ...(o.pdsEndpoint ? { pdsEndpoint: o.pdsEndpoint } : {}),
    ...(o.recordUri ? { recordUri: o.recordUri } : {}),
    ...(o.recordCid ? { recordCid: o.recordCid } : {}),
    ...(o.registryMapping ? { registryMapping: o.registryMapping.description } : {}),
    ...(o.offline ? { offline: 'revocation not checked' as const } : {}),
    ...(verification.quorum
      ? {
          signers: verification.quorum.signers.map((q) => ({ did: q.did, ...(q.handle ? { handle: q.handle } : {}), ...(q.commitCid ? { commitCid: q.commitCid } : {}) })),
          signersRequired: verification.quorum.required,
          ...(verification.quorum.met ? {} : { signersMissing: verification.quorum.missing }),
        }
      : {}),
    policy: {
      source: policy.source,
      digest: policy.digest,
      matched: o.trust?.policies ?? [],
      ...(o.trust ? { action: o.trust.action } : {}),
      ...(o.trust?.trustedAs ? { trustedAs: o.trust.trustedAs } : {}),
    },
    cached: false,
    ...(o.error && !verification.isSuccess ? { error: itemError(o.error) } : {}),
  };
  const trustEndsAt = earliestTrustEnd(policy, [...(o.did ? [o.did] : []), ...(verification.quorum?.signers.map((s) => s.did) ?? [])]);
  return { value, result: resultOf(value), ...(trustEndsAt !== undefined ? { trustEndsAt } : {}) };
}

/** The earliest expiresAt (ms) the policy sets for any of `dids`; undefined when none expires. */
export function earliestTrustEnd(policy: TrustPolicy, dids: readonly string[]): number | undefined {
  let earliest: number | undefined;
  for (const did of dids) {
    const ends = policy.trustedDIDs.get(did)?.expiresAt?.getTime();
    if (ends !== undefined && (earliest === undefined || ends < earliest)) earliest = ends;
  }
  return earliest;
}

/** The answer for a key that failed before any signature was looked at (bad reference, registry down, budget). */
export function answerFromError(key: string, err: unknown, extra: Partial<ItemValue> = {}): KeyAnswer {
  const error = asVerificationError(err);
  const value: ItemValue = {
    isSuccess: false,
    audit: false,
    message: `${error.step} step failed [${error.code}]: ${error.message}`,
    reference: key,
    cached: false,
    ...extra,
    error: itemError(error),
  };
  return { value, result: resultOf(value) };
}

/** The wire item: `error` is set exactly when the image must not be admitted. */
export function responseItem(key: string, value: ItemValue): ResponseItem {
  if (value.isSuccess) return { key, value };
  const e = value.error;
  // Rego sees only this string: it names the registries mapping too, unless the message already does.
  const mapping = value.registryMapping && e && !e.message.includes(value.registryMapping) ? ` (name mapping: ${value.registryMapping})` : '';
  const error = e ? `[${e.code}] ${e.step}: ${e.message}${mapping}. ${e.remediation}` : `[INTERNAL] ${value.message}`;
  return { key, value, error };
}
