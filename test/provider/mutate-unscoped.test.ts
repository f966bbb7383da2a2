/**
 * Rule: /mutate agrees with /provide on images no scope covers. defaultAction allow admits them
 * without contacting their registry (policy before network), so /mutate returns the key exactly as
 * sent (there is no verified digest to pin, and resolving one would contact a registry no scope
 * allows) instead of refusing a Pod that validation admits (found by an adversarial review).
 */
import { describe, expect, it } from 'vitest';
import { BatchVerifier } from '../../src/provider/batch.js';
import { createLogger } from '../../src/provider/log.js';
import { createMetrics } from '../../src/provider/metrics.js';
import { mutationAnswer } from '../../src/provider/mutation-answer.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { Verifier } from '../../src/verify/verifier.js';

const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const policy = parseTrustPolicy(
  `version: "1.0"\ndefaultAction: allow\ntrustedDIDs:\n  ${A}: {}\npolicies:\n  - {name: ours, scope: "ghcr.io/org/**", trustedDIDs: [${A}]}\n`,
  'policy.yaml',
);
const verifier = new Verifier({ ...DEFAULT_SETTINGS, cacheEnabled: false }, { policy });
const batch = new BatchVerifier({
  budgetMs: 5000,
  verifyTimeoutMs: 5000,
  maxConcurrent: 2,
  cache: { enabled: false, ttlMs: 1000, maxEntries: 10 },
  engine: () => ({ policy, verifier }),
  registryFor: () => {
    throw new Error('registry must not be contacted for an unscoped image');
  },
  metrics: createMetrics(),
  log: createLogger('error', () => {}),
});

describe('/mutate and images no scope covers', () => {
  it('an unscoped tag admitted by defaultAction allow is admitted by /mutate as documented (pinned or left alone)', async () => {
    const key = 'quay.io/other/tool:1.0';
    const [verdict] = await batch.verdicts([key]);
    expect(verdict!.isSuccess).toBe(true); // /provide admits it
    const answer = mutationAnswer(key, verdict!);
    expect(answer.item.error).toBeUndefined();
    expect(answer).toMatchObject({ item: { key, value: key }, outcome: 'unchanged' });
  });

  it('a scoped tag that has not verified is still an error item, never a value', async () => {
    const key = 'ghcr.io/org/app:1.0';
    const [verdict] = await batch.verdicts([key]);
    expect(verdict!.isSuccess).toBe(false);
    const answer = mutationAnswer(key, verdict!);
    expect(answer.outcome).toBe('refused');
    expect(answer.item).not.toHaveProperty('value');
  });
});
