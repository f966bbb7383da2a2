import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { pushSampleImage } from '../../src/devnet/sample-image.js';
import { BatchVerifier } from '../../src/provider/batch.js';
import { createLogger } from '../../src/provider/log.js';
import { createMetrics } from '../../src/provider/metrics.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { RegistryClient } from '../../src/registry/client.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { Verifier } from '../../src/verify/verifier.js';

// Rule: a cached success never outlives the trust of ANY signer that counted. With
// require.signers: 2, trust in the second signer ending unmakes the quorum as surely as the
// first's, so the provider's result cache must expire at the earliest expiresAt over every
// counted signer, not only the decisive one's (adversarial review finding). The real engine, PDS,
// PLC and registry; only the clock (BatchOptions.now and the Verifier's now) is moved forward.

let net: AtprotoNetwork;
let registry: RegistryServer;
let client: RegistryClient;
let alice: Publisher;
let bob: Publisher;
let image: string;

beforeAll(async () => {
  [net, registry] = await Promise.all([startAtprotoNetwork(), startRegistry()]);
  client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true });
  [alice, bob] = await Promise.all([net.createPublisher('alice'), net.createPublisher('bob')]);
  const pushed = await pushSampleImage(client, registry.host, 'team/app', 'v1', 'two-person release');
  image = `${registry.host}/team/app@${pushed.digest}`;
  await alice.sign(image, client);
  await bob.sign(image, client);
}, 120_000);

afterAll(async () => {
  client?.close();
  await Promise.all([net?.close(), registry?.close()]);
});

const policyText = (expiring: string | undefined, endsAt: string) => `version: "1.0"
trustedDIDs:
  ${alice.did}: {name: "Alice", validFrom: "2024-01-01T00:00:00Z"${expiring === alice.did ? `, expiresAt: "${endsAt}"` : ''}}
  ${bob.did}: {name: "Bob", validFrom: "2024-01-01T00:00:00Z"${expiring === bob.did ? `, expiresAt: "${endsAt}"` : ''}}
policies:
  - name: two-person-release
    scope: "**"
    require: {signature: true, signers: 2}
    trustedDIDs: [${alice.did}, ${bob.did}]
`;

function batchFor(text: string, clock: { now: number }): BatchVerifier {
  const policy = parseTrustPolicy(text);
  const settings = { ...DEFAULT_SETTINGS, plcDirectory: net.plcUrl, allowPrivateNetwork: true, cacheEnabled: false };
  const verifier = new Verifier(settings, { policy, handleResolver: net.handleResolver, now: () => new Date(clock.now) });
  return new BatchVerifier({
    budgetMs: 30_000,
    verifyTimeoutMs: 30_000,
    maxConcurrent: 2,
    cache: { enabled: true, ttlMs: 60 * 60_000, maxEntries: 100 }, // one hour
    engine: () => ({ policy, verifier }),
    registryFor: () => client,
    metrics: createMetrics(),
    log: createLogger('error', () => {}),
    now: () => clock.now,
  });
}

describe('provider result cache and require.signers', () => {
  it('a cached 2-of-2 success ends when the NON-decisive signer\'s trust ends: re-verified and refused', async () => {
    const clock = { now: Date.now() };
    // Which signer the answer names (the decisive one) depends on referrer order: learn it, then
    // let the OTHER signer's trust end in one minute (the decisive one's expiry was always honoured).
    const probe = batchFor(policyText(undefined, ''), clock);
    const [seen] = await probe.verdicts([image]);
    probe.close();
    expect(seen!.isSuccess).toBe(true);
    const other = seen!.did === alice.did ? bob.did : alice.did;
    const batch = batchFor(policyText(other, new Date(clock.now + 60_000).toISOString()), clock);
    try {
      const [first] = await batch.verdicts([image]);
      expect({ isSuccess: first!.isSuccess, did: first!.did, signers: first!.signers?.map((s) => s.did).sort() }).toEqual({
        isSuccess: true,
        did: seen!.did,
        signers: [alice.did, bob.did].sort(),
      });
      clock.now += 30_000;
      const [within] = await batch.verdicts([image]);
      expect({ cached: within!.cached, isSuccess: within!.isSuccess }).toEqual({ cached: true, isSuccess: true });
      clock.now += 9 * 60_000; // the other signer's trust ended 8.5 minutes ago; the 1 h cache TTL has not
      const [after] = await batch.verdicts([image]);
      expect({ cached: after!.cached, isSuccess: after!.isSuccess, code: after!.error?.code }).toEqual({ cached: false, isSuccess: false, code: 'TOO_FEW_SIGNERS' });
      expect(after!.message).toContain(`${other} DID_EXPIRED`);
    } finally {
      batch.close();
    }
  }, 60_000);
});
