import { VerificationError } from '../errors.js';
import { locateDid } from '../identity/did.js';
import { signerRequirement } from '../policy/claims.js';
import { evaluateTrust } from '../policy/evaluate.js';
import { canonicalPinnedKey } from '../policy/pinned-keys.js';
import { nameOf } from '../policy/registries.js';
import { scopeMatches } from '../policy/scope.js';
import { loadTrustPolicy, type PolicyRule, type TrustedDid, type TrustPolicy } from '../policy/trust-policy.js';
import { EXIT_NOT_VERIFIED, EXIT_VERIFIED } from './exit-codes.js';

/**
 * `policy check FILE` and `policy explain FILE IMAGE DID`: read a trust policy the way the
 * verifier reads it (same loader, same evaluation), and say in plain words what it does.
 * An invalid file throws POLICY_INVALID, whose message carries `file:line:col`; the CLI turns it
 * into exit code 2.
 */

const DEFAULT_ACTION_MEANING: Record<TrustPolicy['defaultAction'], string> = {
  deny: 'images no scope covers are refused (NO_POLICY)',
  allow: 'images no scope covers are admitted without a signature check of the signer',
  audit: 'images no scope covers are admitted, and reported (NO_POLICY)',
};

/** `policy check FILE`: validates the policy and prints what it trusts, per scope. Exit 0 when valid. */
export async function policyCheckCommand(file: string): Promise<number> {
  const policy = await loadTrustPolicy(file);
  process.stdout.write(describePolicy(policy, new Date()));
  return EXIT_VERIFIED;
}

export function describePolicy(policy: TrustPolicy, now: Date): string {
  const lines: string[] = [];
  lines.push(`VALID  ${policy.source}  (${policy.policies.length} ${plural(policy.policies.length, 'policy', 'policies')}, ${policy.trustedDIDs.size} trusted ${plural(policy.trustedDIDs.size, 'DID', 'DIDs')}, sha256 ${policy.digest.slice(0, 12)})`);
  lines.push(`  default     ${policy.defaultAction}: ${DEFAULT_ACTION_MEANING[policy.defaultAction]}`);
  // Several policies may share a scope; an image is judged by every policy whose scope matches.
  const byScope = new Map<string, PolicyRule[]>();
  for (const rule of policy.policies) byScope.set(rule.scope, [...(byScope.get(rule.scope) ?? []), rule]);
  for (const [scope, rules] of byScope) {
    lines.push(`  scope       ${scope}`);
    for (const rule of rules) {
      const signers = rule.require.signers > 1 ? `, needs ${rule.require.signers} distinct signers of these` : '';
      lines.push(`    policy "${rule.name}" (${rule.action === 'audit' ? 'audit: failures are reported, never refused' : 'enforce'}${signers}) trusts:`);
      for (const did of rule.trustedDIDs) lines.push(`      ${describeTrustedDid(policy.trustedDIDs.get(did)!, now)}`);
    }
  }
  lines.push(...describeRegistries(policy));
  const warnings = policyWarnings(policy, now);
  if (warnings.length > 0) {
    lines.push('  warnings');
    for (const w of warnings) lines.push(`    - ${w}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The registries section, one line per entry, in the order they are tried. */
function describeRegistries(policy: TrustPolicy): string[] {
  if (policy.registries.length === 0) return ['  registries  none: every image is judged under its own name, referrers read where it is'];
  const lines = ['  registries  (the first entry whose host matches applies)'];
  for (const [i, rule] of policy.registries.entries()) {
    const what: string[] = [];
    if (rule.mirrorOf) {
      const from = rule.stripPrefix ? `${rule.host}/${rule.stripPrefix}/**` : `${rule.host}/**`;
      const to = rule.addPrefix ? `${rule.mirrorOf}/${rule.addPrefix}/**` : `${rule.mirrorOf}/**`;
      what.push(`mirror: ${from} is read as ${to}${rule.stripPrefix ? ` (other paths under their own name)` : ''}`);
      what.push(rule.referrersFrom === 'origin' ? `referrers read from ${rule.mirrorOf}` : 'referrers read from the mirror');
    }
    if (rule.atcr) what.push('ATCR layout: paths are <handle-or-did>/<repository> and must start with the signer');
    if (rule.allowPrivateNetwork) what.push('private addresses allowed');
    if (rule.allowHttp) what.push('plain http allowed');
    lines.push(`    [${i}] ${rule.host}: ${what.join('; ') || 'no effect (names no mirrorOf, atcr or network exception)'}`);
  }
  return lines;
}

function describeTrustedDid(trusted: TrustedDid, now: Date): string {
  const name = trusted.name ? ` "${trusted.name}"` : '';
  const from = trusted.validFrom ? `signed from ${iso(trusted.validFrom)}` : 'signed at any time';
  const until = trusted.expiresAt ? ` until ${iso(trusted.expiresAt)}` : ', no expiry';
  const keys = trusted.keys ? `, ${trusted.keys.length} pinned ${plural(trusted.keys.length, 'key', 'keys')}` : '';
  const offline = trusted.offline === 'allowed' ? ', offline allowed (only when the verifier runs offline: revocation not checked)' : '';
  const state = windowState(trusted, now);
  return `${trusted.did}${name}: ${from}${until}${keys}${offline}${state ? `  [${state}]` : ''}`;
}

function windowState(trusted: TrustedDid, now: Date): string | undefined {
  if (trusted.expiresAt && now.getTime() >= trusted.expiresAt.getTime()) return 'EXPIRED: admits nothing now';
  if (trusted.validFrom && now.getTime() < trusted.validFrom.getTime()) return 'NOT YET VALID';
  return undefined;
}

/** Things that are valid but probably not what the author meant. */
function policyWarnings(policy: TrustPolicy, now: Date): string[] {
  const out: string[] = [];
  const used = new Set(policy.policies.flatMap((rule) => rule.trustedDIDs));
  for (const [did, trusted] of policy.trustedDIDs) {
    if (!used.has(did)) out.push(`${did} is declared in trustedDIDs but no policy trusts it`);
    if (trusted.expiresAt && now.getTime() >= trusted.expiresAt.getTime()) {
      out.push(`trust in ${did} ended at ${iso(trusted.expiresAt)}: the policies that name it admit none of its images`);
    }
  }
  if (policy.policies.length === 0 && policy.defaultAction === 'deny') out.push('no policies and defaultAction deny: every image is refused');
  if (policy.defaultAction === 'allow') out.push('defaultAction allow admits every image outside the scopes, signed or not');
  return out;
}

export interface ExplainFlags {
  signedAt?: string;
  /** The key that verified the commit (any Multikey form): with it, pinned keys are judged too. */
  signingKey?: string;
}

/**
 * `policy explain FILE IMAGE DID`: which policies cover IMAGE and whether a valid signature by
 * DID (made at --signed-at, default now) would be admitted, with the reason. The proof chain is
 * not checked here: this answers "if the signature verifies, does the policy let it in?".
 * Exit 0 if it would pass, 1 if it would be refused.
 */
export async function policyExplainCommand(file: string, image: string, did: string, flags: ExplainFlags = {}): Promise<number> {
  const policy = await loadTrustPolicy(file);
  try {
    locateDid(did, true);
  } catch (err) {
    throw new VerificationError('INPUT_INVALID', err instanceof Error ? err.message : String(err));
  }
  const now = new Date();
  const signedAt = flags.signedAt === undefined ? now : new Date(flags.signedAt);
  if (Number.isNaN(signedAt.getTime())) {
    throw new VerificationError('INPUT_INVALID', `--signed-at ${JSON.stringify(flags.signedAt)} is not a date and time (use RFC 3339, such as 2025-01-31T12:00:00Z)`);
  }
  let signingKey: string | undefined;
  if (flags.signingKey !== undefined) {
    const parsed = canonicalPinnedKey(flags.signingKey);
    if ('problem' in parsed) throw new VerificationError('INPUT_INVALID', `--signing-key: ${parsed.problem}`);
    signingKey = parsed.key;
  }
  const { text, allowed } = explainTrust(policy, image, did, signedAt, now, signingKey);
  process.stdout.write(text);
  return allowed ? EXIT_VERIFIED : EXIT_NOT_VERIFIED;
}

/**
 * Explains the decision `verify` would make: the same evaluateTrust() call, on the same canonical
 * name (matchingPolicies), with no scope matched here. The pinned-key condition needs the key that
 * verified the commit: judged when `signingKey` is given, else left out and said to remain.
 */
export function explainTrust(
  policy: TrustPolicy,
  image: string,
  did: string,
  signedAt: Date,
  now: Date,
  signingKey?: string,
): { text: string; allowed: boolean } {
  // Pinned keys are judged against the key that verified the commit, which only `verify` knows
  // unless it is given: without it, explain the rest of the policy and say that the key condition remains.
  const pinned = signingKey === undefined ? policy.trustedDIDs.get(did)?.keys : undefined;
  const judged = pinned ? withoutPinnedKeys(policy, did) : policy;
  const decision = evaluateTrust(judged, { image, did, signedAt, now, ...(signingKey !== undefined ? { signingKey } : {}) });
  const name = decision.image;
  const lines: string[] = [];
  const verdict = decision.allowed ? (decision.audit ? 'WOULD PASS (audit only)' : 'WOULD PASS') : 'WOULD BE REFUSED';
  lines.push(`${verdict}  ${image} signed by ${did} at ${iso(signedAt)}`);
  // The same mapping verify applies (matchingPolicies reads it from the policy): scopes match both names.
  const mapping = decision.mapping;
  const origin = mapping?.applied ? nameOf(mapping.origin) : undefined;
  lines.push(`  image       matched as ${name}${origin ? ` and as its origin ${origin}` : ''} (tag and digest are not part of scopes)`);
  // Say when the canonical form is not what was typed, so no one wonders which name was judged.
  const typed = image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  if (name !== '' && typed !== name) lines.push(`              its canonical name (host lower-cased, Docker Hub's aliases and :443 folded, library/ added)`);
  if (mapping) lines.push(`  mapping     ${mapping.description}`);
  for (const [i, rule] of judged.policies.entries()) {
    const result = decision.results.find((r) => r.rule === rule);
    const original = policy.policies[i]!;
    if (!result) {
      lines.push(`  skip        policy "${original.name}": scope ${original.scope} does not cover it`);
      continue;
    }
    const covers = scopeMatches(rule.scope, name) ? 'covers it' : `covers its origin ${origin}`;
    const mode = rule.action === 'audit' ? ' (audit)' : '';
    if (result.failures.length === 0) {
      const trustedAs = policy.trustedDIDs.get(did)?.name;
      const as = trustedAs ? ` as "${trustedAs}"` : '';
      lines.push(`  pass        policy "${rule.name}"${mode}: scope ${rule.scope} ${covers}; ${did} is trusted${as} at that time`);
    } else {
      lines.push(`  ${rule.action === 'audit' ? 'audit-fail' : 'FAIL'.padEnd(10)}  policy "${rule.name}"${mode}: scope ${rule.scope} ${covers}, but`);
      for (const f of result.failures) lines.push(`                [${f.code}] ${f.message}`);
    }
  }
  if (decision.policies.length === 0) {
    const failure = decision.failures[0];
    lines.push(`  default     no scope covers ${name}${origin ? ` or ${origin}` : ''}: defaultAction ${policy.defaultAction}${failure ? ` [${failure.code}]` : ''}`);
  }
  const trustedByAMatch = decision.results.some((r) => r.rule.trustedDIDs.includes(did));
  if (pinned && decision.allowed && trustedByAMatch) {
    const which = pinned.length === 1 ? 'the key' : `one of the ${pinned.length} keys`;
    lines.push(`  keys        and the commit must be signed with ${which} pinned for ${did} (verify checks it)`);
  }
  // require.signers: this signature is one of k; say who else would count (issue 17).
  const requirement = signerRequirement(policy, image);
  if (requirement.required > 1 || requirement.auditRequired > 1) {
    const k = Math.max(requirement.required, requirement.auditRequired);
    const counting = (requirement.eligible ?? []).filter((d) => !windowState(policy.trustedDIDs.get(d)!, now)?.startsWith('EXPIRED'));
    const names = counting.map((d) => (d === did ? `${d} (this signer)` : d));
    lines.push(`  signers     needs ${k} distinct trusted signers${requirement.required < k ? ' (audit)' : ''}; each of these would count once: ${names.join(', ') || 'none'}`);
    if (counting.length < k) lines.push(`              only ${counting.length} could count now: no image can pass`);
  }
  lines.push(`  decision    ${decisionSentence(decision)}${decision.allowed && requirement.required > 1 ? `, for this signer (the image needs ${requirement.required} distinct ones)` : ''}`);
  const first = decision.failures[0];
  if (!decision.allowed && first) lines.push(`  remedy      ${first.remediation}`);
  return { text: `${lines.join('\n')}\n`, allowed: decision.allowed };
}

function decisionSentence(decision: ReturnType<typeof evaluateTrust>): string {
  switch (decision.action) {
    case 'default-allow':
      return 'admitted: no policy covers the image and defaultAction is allow';
    case 'default-deny':
      return 'refused: no policy covers the image and defaultAction is deny';
    default:
      if (!decision.allowed) return 'refused: a matching enforce policy fails';
      if (decision.audit) return 'admitted, with audit findings: only audit-mode checks fail';
      return 'admitted: every matching policy passes';
  }
}

function withoutPinnedKeys(policy: TrustPolicy, did: string): TrustPolicy {
  const trustedDIDs = new Map(policy.trustedDIDs);
  const { keys: _keys, ...rest } = trustedDIDs.get(did)!;
  trustedDIDs.set(did, rest);
  return { ...policy, trustedDIDs };
}

function iso(date: Date): string {
  return date.toISOString().replace('.000Z', 'Z');
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}
