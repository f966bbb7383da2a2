import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { Verifier } from '../../src/verify/verifier.js';
import { startSilentPds, type SilentPds } from '../harness/silent-pds.js';

// Issue 12, item 1: a signer the artifact merely CLAIMS is judged by the trust policy before any
// DID, handle or PDS request. The claimed did:web host here is a real loopback server that accepts
// connections and never answers: any request to it would hang until the timeout.

const digest = `sha256:${createHash('sha256').update('policy first').digest('hex')}`;
const TRUSTED = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const OTHER = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';

let hanging: SilentPds;
let stranger: string;

beforeAll(async () => {
  hanging = await startSilentPds();
  stranger = `did:web:localhost%3A${hanging.port}`;
});
afterAll(() => hanging?.close());

const policy = (body: string) => parseTrustPolicy(`version: "1.0"\ntrustedDIDs:\n  ${TRUSTED}: {name: "Trusted"}\n  ${OTHER}: {name: "Other"}\n${body}`);

function verifier(policyText: string): Verifier {
  return new Verifier(
    { ...DEFAULT_SETTINGS, allowPrivateNetwork: true, cacheEnabled: false, didResolverTimeoutMs: 3000, pdsTimeoutMs: 3000 },
    { policy: policy(policyText) },
  );
}

const claimBy = (did: string) => buildSignaturePayload({ subjectDigest: digest, did, recordUri: `at://${did}/io.atcr.manifest/3kabcdefghijk` });

describe('policy first: an untrusted claim costs nothing but reading its artifact', () => {
  it('refuses a claimed did:web on a hanging host as UNTRUSTED_DID, in well under 100 ms, without connecting', async () => {
    const v = verifier(`policies:\n  - {name: prod, scope: "registry.example/**", trustedDIDs: [${TRUSTED}], action: enforce}\n`);
    const started = performance.now();
    const out = await v.verify({ subjectDigest: digest, reference: `registry.example/app@${digest}`, payload: claimBy(stranger) });
    const ms = performance.now() - started;
    expect(out.isSuccess).toBe(false);
    expect(out.error?.code).toBe('UNTRUSTED_DID');
    expect(out.error?.message).toContain('claimed, not verified');
    expect(out.refusedOnClaim).toBe(true);
    expect(out.steps.map((s) => [s.step, s.ok])).toEqual([
      ['artifact', true],
      ['claim', false],
    ]);
    expect(ms).toBeLessThan(50);
    expect(hanging.connections).toBe(0);
  });

  it('considers every matching policy: one enforce policy that does not trust the claim refuses it', async () => {
    const v = verifier(
      `policies:\n  - {name: wide, scope: "**", trustedDIDs: [${TRUSTED}, ${OTHER}], action: enforce}\n  - {name: prod, scope: "registry.example/prod-*", trustedDIDs: [${TRUSTED}], action: enforce}\n`,
    );
    const out = await v.verify({ subjectDigest: digest, reference: `registry.example/prod-app@${digest}`, payload: claimBy(OTHER) });
    expect(out.error?.code).toBe('UNTRUSTED_DID');
    expect(out.error?.message).toContain('policy "prod"');
    expect(out.refusedOnClaim).toBe(true);
  });

  it('refuses with NO_POLICY before any request when no scope covers the image and defaultAction is deny', async () => {
    const v = verifier(`policies:\n  - {name: prod, scope: "registry.example/**", trustedDIDs: [${TRUSTED}], action: enforce}\n`);
    const out = await v.verify({ subjectDigest: digest, reference: `elsewhere.example/app@${digest}`, payload: claimBy(stranger) });
    expect(out.error?.code).toBe('NO_POLICY');
    expect(out.refusedOnClaim).toBe(true);
    expect(hanging.connections).toBe(0);
  });

  it('goes on in audit mode, to gather the full evidence (here: it does contact the claimed host)', async () => {
    const v = verifier(`policies:\n  - {name: prod, scope: "**", trustedDIDs: [${TRUSTED}], action: audit}\n`);
    const out = await v.verify({ subjectDigest: digest, reference: `registry.example/app@${digest}`, payload: claimBy(stranger), signal: AbortSignal.timeout(300) });
    expect(out.refusedOnClaim).toBeUndefined();
    expect(out.steps.find((s) => s.step === 'claim')?.ok).toBe(true);
    expect(out.error?.code, out.message).toMatch(/DEADLINE_EXCEEDED|NETWORK_TIMEOUT|DID_RESOLUTION_FAILED/);
    expect(hanging.connections).toBeGreaterThan(0);
  });

  it('lets a trusted claim through to the network (the claim step only reads the policy)', async () => {
    const v = verifier(`policies:\n  - {name: prod, scope: "**", trustedDIDs: [${TRUSTED}], action: enforce}\n`);
    const out = await v.verify({ subjectDigest: digest, reference: `registry.example/app@${digest}`, payload: claimBy(TRUSTED), signal: AbortSignal.timeout(300) });
    expect(out.steps.find((s) => s.step === 'claim')?.ok).toBe(true);
    expect(out.steps.find((s) => s.step === 'identity')?.ok).toBe(false);
  });
});
