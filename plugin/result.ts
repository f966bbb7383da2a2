import type { VerificationError } from '../src/errors.js';
import type { VerificationOutcome } from '../src/verify/verifier.js';
import { clip, type VerifierResult } from './protocol.js';

export interface ResultIdentity {
  name: string;
  type: string;
}

/**
 * Maps an engine outcome to Ratify's VerifierResult. Ratify v1.x keeps only isSuccess, message,
 * name, type and extensions from a plugin, so the reason is repeated in `message` and
 * `extensions.error`, and the remediation in `extensions.remediation`.
 */
export function toVerifierResult(outcome: VerificationOutcome, id: ResultIdentity, warnings: string[] = []): VerifierResult {
  const extensions: Record<string, unknown> = {
    did: outcome.did ?? '',
    handle: outcome.handle ?? '',
    signedAt: outcome.signedAt ?? '',
    commitCid: outcome.commitCid ?? '',
    pdsEndpoint: outcome.pdsEndpoint ?? '',
    recordUri: outcome.recordUri ?? '',
    policy: outcome.trust ? outcome.trust.policies.join(',') || outcome.trust.action : '',
  };
  if (outcome.commitRev) extensions.commitRev = outcome.commitRev;
  if (outcome.handleStatus && !outcome.handleStatus.verified) extensions.handleUnverified = outcome.handleStatus.reason;
  if (outcome.audit) extensions.audit = true;
  if (outcome.registryMapping) extensions.registryMapping = outcome.registryMapping.description;
  // Said plainly, as a value a policy or a human reads the same way (issue 14).
  if (outcome.offline) extensions.offline = 'revocation not checked';
  if (outcome.quorum) {
    extensions.signers = outcome.quorum.signers.map((s) => ({ did: s.did, handle: s.handle ?? '', commitCid: s.commitCid ?? '' }));
    extensions.signersRequired = outcome.quorum.required;
    if (!outcome.quorum.met) extensions.signersMissing = outcome.quorum.missing;
  }
  if (warnings.length > 0) extensions.warnings = warnings;
  if (outcome.error) Object.assign(extensions, errorExtensions(outcome.error));
  else if (outcome.audit) extensions.error = outcome.trust?.failures[0]?.message ?? '';
  return {
    isSuccess: outcome.isSuccess,
    name: id.name,
    type: id.type,
    verifierName: id.name,
    verifierType: id.type,
    message: clip(outcome.message),
    errorReason: clip(outcome.error?.message ?? ''),
    remediation: outcome.error?.remediation ?? '',
    extensions,
  };
}

function errorExtensions(error: VerificationError): Record<string, unknown> {
  return { error: clip(error.message), errorCode: error.code, failedStep: error.step, remediation: error.remediation };
}
