import type { ImageVerification } from '../verify/verify-image.js';
import type { VerificationOutcome } from '../verify/verifier.js';

/** The human summary of `verify`: who signed, when, which commit and policy, and every step. */
export function formatVerification(v: ImageVerification): string {
  const o = v.decisive;
  const lines: string[] = [];
  const head = o.isSuccess ? (o.audit ? 'PASS (audit only)' : 'VERIFIED') : 'NOT VERIFIED';
  lines.push(`${head}  ${v.pinned}`);
  if (v.reference !== v.pinned) lines.push(`  reference   ${v.reference}`);
  lines.push(...evidence(o));
  if (o.error) {
    lines.push(`  failed      ${o.error.step} step [${o.error.code}]: ${o.error.message}`);
    lines.push(`  remedy      ${o.error.remediation}`);
  } else if (o.audit) {
    lines.push(`  audit       ${o.message}`);
  }
  lines.push('  steps');
  for (const s of o.steps) lines.push(`    ${s.ok ? 'ok  ' : 'FAIL'} ${s.step.padEnd(9)} ${s.detail}`);
  if (v.signatures.length > 1) lines.push(`  signatures  ${v.signatures.length} tried: ${v.signatures.map((s) => `${s.referrer.slice(0, 19)} ${s.outcome.isSuccess ? 'pass' : s.outcome.error?.code}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

function evidence(o: VerificationOutcome): string[] {
  const lines: string[] = [];
  if (o.did) {
    const handle = o.handle ? `${o.handle} (handle verified both ways)` : `handle unverified${o.handleStatus && !o.handleStatus.verified ? `: ${o.handleStatus.reason}` : ''}`;
    lines.push(`  signer      ${o.did}, ${handle}`);
  }
  if (o.signedAt) lines.push(`  signed at   ${o.signedAt} (commit rev ${o.commitRev})`);
  if (o.commitCid) lines.push(`  commit      ${o.commitCid}`);
  if (o.recordUri) lines.push(`  record      ${o.recordUri}${o.recordCid ? ` (${o.recordCid})` : ''}`);
  if (o.pdsEndpoint) lines.push(`  pds         ${o.pdsEndpoint}`);
  if (o.offline) lines.push('  mode        offline (embedded proof, pinned key)');
  if (o.trust) {
    const names = o.trust.policies.length > 0 ? o.trust.policies.join(', ') : 'no policy matched';
    lines.push(`  policy      ${names} (${o.trust.action})${o.trust.trustedAs ? `, trusted as "${o.trust.trustedAs}"` : ''}`);
  }
  return lines;
}
