import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { explainTrust } from '../../src/cli/policy-command.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../../src/devnet/atproto-network.js';
import { parseTrustPolicy, type TrustPolicy } from '../../src/policy/trust-policy.js';
import { canonicalImageName } from '../../src/registry/reference.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { Verifier } from '../../src/verify/verifier.js';

// Issue 13, item 3: `policy explain` tells an operator what the cluster will do. For a table of
// spellings, each really signed on a real PDS, the engine's verify() and explainTrust() reach the
// same verdict under the same policies, on the same canonical name.

const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

let net: AtprotoNetwork;
let alice: Publisher;
let bob: Publisher;

beforeAll(async () => {
  net = await startAtprotoNetwork();
  [alice, bob] = await Promise.all([net.createPublisher('alice'), net.createPublisher('bob')]);
}, 120_000);
afterAll(async () => {
  await net?.close();
});

function policyFor(defaultAction: string): TrustPolicy {
  return parseTrustPolicy(`version: "1.0"
defaultAction: ${defaultAction}
trustedDIDs:
  ${alice.did}: {name: Alice, validFrom: "2024-01-01T00:00:00Z"}
  ${bob.did}: {name: Bob, validFrom: "2024-01-01T00:00:00Z"}
policies:
  - {name: hub-nginx, scope: "docker.io/library/nginx", trustedDIDs: ["${alice.did}"]}
  - {name: staging, scope: "registry.example.com/staging/**", trustedDIDs: ["${alice.did}"]}
  - {name: prod, scope: "ghcr.io/org/**/prod", trustedDIDs: ["${alice.did}"]}
  - {name: watch, scope: "ghcr.io/**", trustedDIDs: ["${bob.did}"], action: audit}
`);
}

const SPELLINGS = [
  'nginx:1.25',
  'docker.io/nginx',
  'index.docker.io/library/nginx:1',
  'Registry-1.Docker.io/library/nginx',
  'docker.io:443/library/nginx',
  'registry.example.com:443/staging/app',
  'Registry.Example.com/staging/team/app:v2',
  'registry.example.com:5000/staging/app',
  'ghcr.io/org/prod',
  'GHCR.io/org/team/prod',
  'ghcr.io/org/notprod',
  'ghcr.io/org/x/nonprod',
];

describe('policy explain and verify agree on every spelling', () => {
  it.each(['deny', 'allow'])('defaultAction %s', async (defaultAction) => {
    const policy = policyFor(defaultAction);
    const settings = { ...DEFAULT_SETTINGS, plcDirectory: net.plcUrl, allowPrivateNetwork: true, cacheEnabled: false };
    const verifier = new Verifier(settings, { policy, handleResolver: net.handleResolver });
    const rows: string[] = [];
    for (const [i, spelling] of SPELLINGS.entries()) {
      for (const signer of [alice, bob]) {
        const digest = digestOf(`${defaultAction} ${i} ${signer.did}`);
        // The record names the image by its canonical name, as `sign` writes it.
        const rec = await signer.putManifestRecord({ repository: canonicalImageName(spelling), digest });
        const payload = buildSignaturePayload({ subjectDigest: digest, did: signer.did, recordUri: rec.uri, recordCid: rec.cid, commitCid: rec.commitCid });
        const reference = `${spelling.replace(/:[^/:]+$/, '')}@${digest}`;
        const out = await verifier.verify({ subjectDigest: digest, reference, payload });
        // A signer no matching enforce policy trusts is refused on its claim, before the chain
        // (issue 12): the policy's verdict then needs no signing time.
        if (!out.refusedOnClaim) expect(out.signedAt, `${spelling}: ${out.message}`).toBeDefined();
        // Every step before the policy passed (or the claim step refused): the verdict is the policy's.
        expect(out.steps.filter((s) => s.step !== 'policy' && s.step !== 'claim').every((s) => s.ok), out.message).toBe(true);
        const explained = explainTrust(policy, spelling, signer.did, new Date(out.signedAt ?? Date.now()), new Date());
        const verdict = `${spelling} by ${signer === alice ? 'alice' : 'bob'}`;
        expect(explained.allowed, `${verdict}\n${explained.text}\n${out.message}`).toBe(out.isSuccess);
        expect(explained.text).toContain(`matched as ${out.trust?.image}`);
        rows.push(`${verdict}: ${out.isSuccess ? 'admitted' : `refused ${out.error?.code}`} [${out.trust?.policies.join(',')}]`);
      }
    }
    // The table pins the decisions too, so agreeing on a wrong answer fails.
    const expected = (spelling: string, who: string) => rows.find((r) => r.startsWith(`${spelling} by ${who}:`));
    for (const s of SPELLINGS.slice(0, 5)) {
      expect(expected(s, 'alice')).toContain('admitted [hub-nginx]');
      expect(expected(s, 'bob')).toContain('refused UNTRUSTED_DID [hub-nginx]');
    }
    for (const s of SPELLINGS.slice(5, 7)) expect(expected(s, 'bob')).toContain('refused UNTRUSTED_DID [staging]');
    expect(expected('registry.example.com:5000/staging/app', 'bob')).toContain(defaultAction === 'allow' ? 'admitted []' : 'refused NO_POLICY');
    expect(expected('ghcr.io/org/notprod', 'alice')).toContain('[watch]'); // audit only: prod does not cover it
    expect(expected('ghcr.io/org/x/nonprod', 'bob')).toContain('admitted [watch]');
    expect(expected('GHCR.io/org/team/prod', 'bob')).toContain('refused UNTRUSTED_DID [prod,watch]');
  }, 120_000);
});
