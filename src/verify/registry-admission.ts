import { VerificationError } from '../errors.js';
import { evaluateTrust, matchingPolicies } from '../policy/evaluate.js';
import { registryRuleFor } from '../policy/registries.js';
import type { TrustPolicy } from '../policy/trust-policy.js';
import type { RegistryNetwork } from '../registry/registry-pool.js';
import { failedOutcome, type VerificationOutcome } from './verifier.js';

/**
 * Policy before network (issue 15 item 1). The image strings a Pod spec holds are chosen by
 * whoever creates the Pod, so a registry is contacted only when a trust-policy scope covers the
 * image's canonical name. For any other image the policy's defaultAction decides at once, with
 * no socket opened: `deny` refuses with NO_POLICY; `allow` and `audit` admit it unverified (an
 * image no scope covers is one the operator chose not to check), `audit` reporting NO_POLICY.
 */

/** Undefined when a scope covers `image` (go on and verify); otherwise the decision, made without network. */
export function decisionBeforeRegistry(policy: TrustPolicy | undefined, image: string): VerificationOutcome | undefined {
  if (!policy) return undefined;
  // The same matching as the trust decision: the admitted name, or its origin when a mirror maps it.
  const { image: name, rules } = matchingPolicies(policy, image);
  if (rules.length > 0) return undefined;
  const unscoped = `no policy in trust policy ${policy.source} has a scope covering ${name}`;
  if (policy.defaultAction === 'deny') {
    return failedOutcome(new VerificationError('NO_POLICY', `${unscoped}; defaultAction is deny, so it is refused without contacting its registry`));
  }
  // The same decision evaluateTrust makes for an unscoped image, without a signer to name.
  const trust = evaluateTrust(policy, { image: name, did: '(not looked up)', signedAt: new Date(0), now: new Date() });
  const audit = policy.defaultAction === 'audit';
  return {
    isSuccess: true,
    audit,
    message: `${unscoped}: admitted by defaultAction ${policy.defaultAction} without verification (no registry contacted)`,
    ...(audit ? { error: new VerificationError('NO_POLICY', `${unscoped}; defaultAction is audit: admitted unverified, no registry contacted`) } : {}),
    trust,
    steps: [{ step: 'policy', ok: !audit, detail: `defaultAction ${policy.defaultAction}: no scope covers ${name}` }],
  };
}

/**
 * The network rules for a registry host: the first `registries[]` entry whose host glob matches
 * the canonical host may allow private addresses or plain http for that registry alone; the
 * global settings apply to every registry.
 */
export function registryNetworkFor(
  policy: Pick<TrustPolicy, 'registries'> | undefined,
  host: string,
  global: { allowPrivateNetwork: boolean; plainHttp: boolean },
): RegistryNetwork {
  const rule = registryRuleFor(policy, host);
  return {
    allowPrivateNetwork: global.allowPrivateNetwork || rule?.allowPrivateNetwork === true,
    useHttp: global.plainHttp || rule?.allowHttp === true,
  };
}


/**
 * Both rules for a face that is handed one image (the Ratify plugin): either the decision made
 * without network, or the network rules its registry client must follow.
 */
export function registryGate(
  policy: TrustPolicy | undefined,
  settings: { allowPrivateNetwork: boolean },
  image: { registry: string; repository: string },
): { decided: VerificationOutcome } | { network: RegistryNetwork } {
  const decided = decisionBeforeRegistry(policy, `${image.registry}/${image.repository}`);
  if (decided) return { decided };
  return { network: registryNetworkFor(policy, image.registry, { allowPrivateNetwork: settings.allowPrivateNetwork, plainHttp: false }) };
}
