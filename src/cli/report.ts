import type { ImageVerification } from '../verify/verify-image.js';
import type { VerificationOutcome } from '../verify/verifier.js';

/**
 * The human summary of `verify`: who signed, when, which commit and policy, then the steps of
 * the proof chain in one line, and for a failure the step that broke, why, and what to do.
 * Every step's full detail is in `--output json`.
 */
export function formatVerification(v: ImageVerification): string {
  const o = v.decisive;
  const lines: string[] = [];
  const head = o.isSuccess ? (o.audit ? 'PASS (audit only)' : 'VERIFIED') : 'NOT VERIFIED';
  lines.push(`${head}  ${v.pinned}`);
  if (v.reference !== v.pinned) lines.push(`  reference   ${v.reference}`);
  lines.push(...evidence(o));
  // When nothing passed (no signature, registry down), the `failed` line alone says it.
  if (o.steps.some((s) => s.ok)) lines.push(`  checks      ${o.steps.map((s) => (s.ok ? `${s.step} ok` : `${s.step} FAILED`)).join(', ')}`);
  // A refusal always says how the name was read (a missing registries entry is a common cause); a pass only when a mapping applied.
  const mapping = o.registryMapping;
  if (mapping && (!o.isSuccess || mapping.applied) && !o.error?.message.includes(mapping.description)) lines.push(`  mapping     ${mapping.description}`);
  if (o.error) {
    lines.push(`  failed      ${o.error.step} step [${o.error.code}]: ${o.error.message}`);
    lines.push(`  remedy      ${o.error.remediation}`);
  } else if (o.audit) {
    lines.push(`  audit       ${o.message}`);
  }
  if (v.signatures.length > 1) {
    const tried = v.signatures.map((s) => `${s.referrer.slice(0, 19)}… ${s.outcome.isSuccess ? 'pass' : s.outcome.error?.code}`);
    const more = tried.length > 10 ? `, and ${tried.length - 10} more` : '';
    lines.push(`  signatures  ${v.signatures.length} tried: ${tried.slice(0, 10).join(', ')}${more}`);
  }
  return `${lines.join('\n')}\n`;
}

function evidence(o: VerificationOutcome): string[] {
  const lines: string[] = [];
  if (o.did) {
    if (o.handle) lines.push(`  signer      ${o.handle} (${o.did}; handle verified both ways)`);
    else {
      const why = o.handleStatus && !o.handleStatus.verified ? `: ${o.handleStatus.reason}` : '';
      lines.push(`  signer      ${o.did} (handle unverified${why})`);
    }
  }
  if (o.signedAt) lines.push(`  signed at   ${o.signedAt} (from commit rev ${o.commitRev})`);
  if (o.commitCid) lines.push(`  commit      ${o.commitCid}`);
  if (o.recordUri) lines.push(`  record      ${o.recordUri}`);
  if (o.pdsEndpoint) lines.push(`  pds         ${o.pdsEndpoint}`);
  if (o.offline) lines.push('  mode        offline: revocation not checked (embedded proof, pinned key; the operator chose --offline)');
  if (o.quorum && (o.quorum.required > 1 || !o.quorum.met)) {
    const proven = o.quorum.signers.map((s) => (s.handle ? `${s.handle} (${s.did})` : s.did)).join(', ') || 'none';
    lines.push(`  signers     ${o.quorum.signers.length} of ${o.quorum.required} required: ${proven}`);
    if (!o.quorum.met && o.quorum.missing.length > 0) lines.push(`  missing     ${o.quorum.missing.join(', ')}`);
  }
  if (o.trust) {
    const names = o.trust.policies.length > 0 ? o.trust.policies.map((p) => `"${p}"`).join(', ') : 'no policy matched';
    lines.push(`  policy      ${names} (${o.trust.action})${o.trust.trustedAs ? `, trusted as "${o.trust.trustedAs}"` : ''}`);
  }
  return lines;
}
