import { VerificationError } from '../errors.js';
import { parseImageReference } from '../registry/reference.js';
import type { ResponseItem } from './gatekeeper-protocol.js';
import { answerFromError, responseItem, type ItemValue } from './verification-item.js';

/**
 * What POST /mutate says about one image: the reference to write into the Pod spec instead of
 * the key, or an error. Gatekeeper's Assign mutators (externalData, dataSource ValueAtLocation)
 * send the image strings as keys and write each item's string `value` back where the key was;
 * an item `error` fails the mutation (failurePolicy Fail), so the Pod is refused.
 *
 * The value is the canonical `registry/repository@sha256:<digest>` of the digest that verified,
 * without the tag: the runtime ignores a tag beside a digest, so `repo:tag@sha256:...` would
 * show a name that may no longer point at these bytes; it is the key of the result cache, so the
 * validating constraint that then checks the Pod gets a cache hit, not a second verification;
 * and a second mutation pass (Gatekeeper applies mutators until the object stops changing) sees
 * a digest and returns it unchanged. A key that already carries a digest is verified at that
 * digest and returned exactly as sent.
 */

/** How a key was answered, for the mutations metric. */
export type MutationOutcome = 'pinned' | 'unchanged' | 'refused';

export interface MutationAnswer {
  item: ResponseItem;
  outcome: MutationOutcome;
}

function refused(key: string, value: ItemValue): MutationAnswer {
  // Never a value on a refusal: Gatekeeper must not be able to write anything for this key.
  const { error } = responseItem(key, value);
  return { item: { key, error: error ?? `[INTERNAL] ${value.message}` }, outcome: 'refused' };
}

/**
 * The /mutate item for `key` from the verdict /provide would give for it. An admitted verdict
 * (verified, or passed in audit mode or by the policy's defaultAction, which validation admits
 * too) names the digest it was reached at; anything else is an error.
 */
export function mutationAnswer(key: string, verdict: ItemValue): MutationAnswer {
  if (!verdict.isSuccess) return refused(key, verdict);
  let digest: string | undefined;
  try {
    digest = parseImageReference(key).digest;
  } catch (err) {
    return refused(key, answerFromError(key, err).value);
  }
  // Belt and braces: the digest we name must be the one the verdict was reached at.
  const inconsistent = (why: string) => refused(key, answerFromError(key, new VerificationError('INTERNAL', `no digest to pin ${key} to: ${why}`)).value);
  // An image no scope covers was admitted by defaultAction (allow or audit) without contacting its
  // registry (policy before network): no digest was verified, and resolving one would contact a
  // registry no scope allows. It comes back as written, exactly as validation admits it.
  if (!digest && !verdict.digest && verdict.policy?.matched.length === 0 && !verdict.did) return { item: { key, value: key }, outcome: 'unchanged' };
  if (!verdict.digest || !verdict.pinned?.endsWith(`@${verdict.digest}`)) return inconsistent('the verdict names no verified digest');
  if (digest) {
    if (digest !== verdict.digest) return inconsistent(`it was verified at ${verdict.digest}, not at the ${digest} it names`);
    return { item: { key, value: key }, outcome: 'unchanged' };
  }
  return { item: { key, value: verdict.pinned }, outcome: 'pinned' };
}
