/**
 * verifyImage (src/verify/verify-image.ts) decision logic with fake registry clients: policy before
 * network (no registry is asked for an unscoped image), a tag pinned to the digest its registry
 * resolves, where referrers are read (the image's registry, or the origin with referrersFrom:
 * origin), what an image without referrers is told, and which outcome decides. The engine's
 * verify() is replaced (the chain is pinned elsewhere); the e2e tests keep covering real servers.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import type { RegistryClient } from '../../src/registry/client.js';
import { DEFAULT_SETTINGS } from '../../src/verify/settings.js';
import { type VerificationOutcome, Verifier } from '../../src/verify/verifier.js';
import { verifyImage } from '../../src/verify/verify-image.js';
import { remediationFor } from '../../src/errors.js';

const sha = (s: string | Uint8Array) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const DIGEST = sha('image');
const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const EVE = 'did:plc:eeeeeeeeeeeeeeeeeeeeeeee';

function verifierFor(registries = '', defaultAction = 'deny') {
  const policy = parseTrustPolicy(
    `version: "1.0"\ndefaultAction: ${defaultAction}\ntrustedDIDs:\n  ${A}: {}\n${registries}policies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${A}]}\n`,
    'policy.yaml',
  );
  const v = new Verifier({ ...DEFAULT_SETTINGS, cacheEnabled: false }, { policy });
  // The chain itself is pinned by the engine tests: here a signature by A passes, any other fails.
  v.verify = async ({ payload }) => {
    const did = (payload as { atproto: { did: string } }).atproto.did;
    return did === A ? { isSuccess: true, audit: false, message: 'ok', did, steps: [] } : { isSuccess: false, audit: false, message: 'no', did, steps: [] };
  };
  return v;
}

/** Fake registries by host; each records every call. `signers`: the DIDs of the image's signature referrers. */
function registries(signers: Record<string, string[]>) {
  const calls: string[] = [];
  const clientFor = (host: string): RegistryClient => {
    const manifests = new Map<string, Uint8Array>();
    const referrers = (signers[host] ?? []).map((did, i) => {
      const payload = new TextEncoder().encode(JSON.stringify(buildSignaturePayload({ subjectDigest: DIGEST, did, recordUri: `at://${did}/io.atcr.manifest/3kabcdefghijk` })));
      const manifest = new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2, artifactType: SIGNATURE_ARTIFACT_TYPE, subject: { digest: DIGEST },
        layers: [{ mediaType: SIGNATURE_ARTIFACT_TYPE, digest: sha(payload), size: payload.length, data: Buffer.from(payload).toString('base64') }],
      }));
      const digest = sha(`${host}${i}`);
      manifests.set(digest, manifest);
      return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length };
    });
    return {
      registry: host,
      async resolveDigest(repo: string, tag: string) { calls.push(`${host} resolve ${repo}:${tag}`); return DIGEST; },
      async listReferrers(repo: string, digest: string) { calls.push(`${host} referrers ${repo}@${digest}`); return referrers; },
      async getManifest(_repo: string, digest: string) { return { bytes: manifests.get(digest)!, digest }; },
    } as unknown as RegistryClient;
  };
  const registryFor = (host: string) => { calls.push(`client ${host}`); return clientFor(host); };
  return { registryFor, calls };
}

describe('policy before network: an image no scope covers is decided without any registry', () => {
  it.each([
    ['deny refuses with NO_POLICY', 'deny', false],
    ['allow admits unverified', 'allow', true],
  ] as [string, string, boolean][])('%s', async (_rule, action, ok) => {
    const reg = registries({ 'quay.io': [A] });
    const r = await verifyImage('quay.io/a/b:1', { verifier: verifierFor('', action), registryFor: reg.registryFor });
    expect(reg.calls).toEqual([]);
    expect([r.isSuccess, r.pinned, r.digest, r.signatures]).toEqual([ok, 'quay.io/a/b:1', '', []]);
    if (!ok) expect(r.decisive.error?.code).toBe('NO_POLICY');
  });
});

describe('a covered image: pinned to its digest, referrers read where the policy says', () => {
  it('a tag is resolved on its own registry and the pinned reference uses the digest', async () => {
    const reg = registries({ 'ghcr.io': [A] });
    const r = await verifyImage('ghcr.io/a/b:v1', { verifier: verifierFor(), registryFor: reg.registryFor });
    expect(reg.calls).toEqual(['client ghcr.io', 'ghcr.io resolve a/b:v1', 'client ghcr.io', `ghcr.io referrers a/b@${DIGEST}`]);
    expect([r.isSuccess, r.pinned, r.digest, r.decisive.did, r.quorum?.signers.map((s) => s.did)]).toEqual([true, `ghcr.io/a/b@${DIGEST}`, DIGEST, A, [A]]);
  });

  it('no tag means latest', async () => {
    const reg = registries({ 'ghcr.io': [A] });
    await verifyImage('ghcr.io/a/b', { verifier: verifierFor(), registryFor: reg.registryFor });
    expect(reg.calls).toContain('ghcr.io resolve a/b:latest');
  });

  it('a digest reference is not resolved again', async () => {
    const reg = registries({ 'ghcr.io': [A] });
    await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: verifierFor(), registryFor: reg.registryFor });
    expect(reg.calls.some((c) => c.includes('resolve'))).toBe(false);
  });

  it('referrersFrom origin: the digest is resolved on the mirror, referrers read from the origin', async () => {
    const reg = registries({ 'ghcr.io': [A] });
    const r = await verifyImage('mirror.corp/a/b:v1', { verifier: verifierFor('registries:\n  - {host: mirror.corp, mirrorOf: ghcr.io, referrersFrom: origin}\n'), registryFor: reg.registryFor });
    expect(reg.calls).toEqual(['client mirror.corp', 'mirror.corp resolve a/b:v1', 'client ghcr.io', `ghcr.io referrers a/b@${DIGEST}`]);
    expect([r.isSuccess, r.pinned]).toEqual([true, `mirror.corp/a/b@${DIGEST}`]);
  });

  it('when a trusted signature counts it decides, even after a failing one', async () => {
    const reg = registries({ 'ghcr.io': [EVE, A] });
    const r = await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: verifierFor(), registryFor: reg.registryFor });
    expect([r.isSuccess, r.decisive.did]).toEqual([true, A]);
  });

  it('only failing signatures: the first failure decides, not admitted', async () => {
    const reg = registries({ 'ghcr.io': [EVE] });
    const r = await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: verifierFor(), registryFor: reg.registryFor });
    expect([r.isSuccess, r.decisive.did, r.signatures.length]).toEqual([false, EVE, 1]);
  });
});

describe('no signature referrer: ARTIFACT_NOT_FOUND says where it looked and what to do', () => {
  it('on the image\'s own registry, no registries entry: the pinned reference, and how to declare it a mirror', async () => {
    const reg = registries({});
    const r = await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: verifierFor(), registryFor: reg.registryFor });
    expect([r.isSuccess, r.decisive.error?.code, r.decisive.error?.message]).toEqual([false, 'ARTIFACT_NOT_FOUND', `no ATProto signature referrer is attached to ghcr.io/a/b@${DIGEST}`]);
    expect(r.decisive.error?.remediation).toBe(
      'Sign the image; or, if ghcr.io is a mirror that does not copy referrers, add registries: [{host: "ghcr.io", mirrorOf: "<origin host>", referrersFrom: origin}] to the trust policy.',
    );
  });

  it('a mirror read from itself: suggests copying referrers or referrersFrom: origin', async () => {
    const reg = registries({});
    const r = await verifyImage(`mirror.corp/a/b@${DIGEST}`, { verifier: verifierFor('registries:\n  - {host: mirror.corp, mirrorOf: ghcr.io}\n'), registryFor: reg.registryFor });
    expect(r.decisive.error?.remediation).toMatch(/^Sign the image; or, if it is signed on ghcr\.io .*referrersFrom: origin on registries\[0\]/);
    expect(r.decisive.registryMapping?.applied).toBe(true);
  });

  it('read from the origin: the message names where', async () => {
    const reg = registries({});
    const r = await verifyImage(`mirror.corp/a/b@${DIGEST}`, { verifier: verifierFor('registries:\n  - {host: mirror.corp, mirrorOf: ghcr.io, referrersFrom: origin}\n'), registryFor: reg.registryFor });
    expect(r.decisive.error?.message).toBe(`no ATProto signature referrer is attached to mirror.corp/a/b@${DIGEST} (referrers read from ghcr.io/a/b@${DIGEST})`);
  });
});

/** A verifier whose policy trusts `trusted` for ghcr.io/** (require.signers: k), and whose engine passes the DIDs in `good`. */
function quorumVerifier(trusted: string[], k: number, good: string[], extra: Partial<VerificationOutcome> = {}) {
  const policy = parseTrustPolicy(
    `version: "1.0"\ntrustedDIDs:\n${trusted.map((d) => `  ${d}: {}\n`).join('')}policies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${trusted.join(', ')}], require: {signers: ${k}}}\n`,
    'policy.yaml',
  );
  const v = new Verifier({ ...DEFAULT_SETTINGS, cacheEnabled: false }, { policy });
  v.verify = async ({ payload }) => {
    const did = (payload as { atproto: { did: string } }).atproto.did;
    return good.includes(did)
      ? { isSuccess: true, audit: false, message: `ok ${did}`, did, steps: [], ...extra }
      : { isSuccess: false, audit: false, message: `no ${did}`, did, steps: [], ...extra };
  };
  return v;
}
const B = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const C = 'did:plc:cccccccccccccccccccccccc';

describe('which outcome decides: the first signature that counted, never one that failed before it', () => {
  it('k=1: a trusted signer that fails, then one that passes: the passing one decides', async () => {
    // Read newest first: B (fails), then A.
    const reg = registries({ 'ghcr.io': [A, B] });
    const r = await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: quorumVerifier([A, B], 1, [A]), registryFor: reg.registryFor });
    expect(r.signatures.map((s) => [s.outcome.did, s.outcome.isSuccess])).toEqual([[B, false], [A, true]]);
    expect([r.isSuccess, r.decisive.did, r.decisive.message]).toEqual([true, A, `ok ${A}`]);
  });

  it('k=2: a failure verified first, then two signers: the first counted signer decides', async () => {
    // Read newest first: C (fails), B, A.
    const reg = registries({ 'ghcr.io': [A, B, C] });
    const r = await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: quorumVerifier([A, B, C], 2, [A, B]), registryFor: reg.registryFor });
    expect(r.signatures[0]!.outcome.isSuccess).toBe(false);
    expect([r.isSuccess, r.decisive.did, r.quorum?.signers.map((s) => s.did)]).toEqual([true, B, [B, A]]);
  });

  it('k=2 with one signer proven: refused TOO_FEW_SIGNERS through the signer that counted', async () => {
    const reg = registries({ 'ghcr.io': [A, C] });
    const r = await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: quorumVerifier([A, B, C], 2, [A]), registryFor: reg.registryFor });
    expect([r.isSuccess, r.decisive.did, r.decisive.error?.code]).toEqual([false, A, 'TOO_FEW_SIGNERS']);
  });

  it("an outcome that carries its own name mapping keeps it", async () => {
    const own = { applied: false, description: "the engine's own reading" };
    const reg = registries({ 'ghcr.io': [A] });
    const r = await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: quorumVerifier([A], 1, [A], { registryMapping: own }), registryFor: reg.registryFor });
    expect(r.decisive.registryMapping).toEqual(own);
  });

  it('an outcome without a name mapping is given the one the image was read through', async () => {
    const reg = registries({ 'ghcr.io': [A] });
    const r = await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: quorumVerifier([A], 1, [A]), registryFor: reg.registryFor });
    expect(r.decisive.registryMapping?.applied).toBe(false);
    expect(r.signatures[0]!.outcome.registryMapping?.applied).toBe(false);
  });
});

describe('unread referrers beyond the bound are mentioned only when the image is refused for want of a counted signer', () => {
  const many = (n: number, did: string) => Array.from({ length: n }, () => did);
  // [rule, referrers (DIDs, oldest first), engine passes, k, mentioned?]
  it.each([
    ['65 failing referrers: refused, 1 unread mentioned', many(65, B), [], 1, true],
    ['64 failing referrers: refused, nothing unread to mention', many(64, B), [], 1, false],
    ['a passing signer among 65: admitted, nothing mentioned', [...many(64, B), A], [A], 1, false],
    ['k=2, one signer counted among 65: TOO_FEW_SIGNERS says it itself, no suffix', [...many(64, B), A], [A], 2, false],
  ] as [string, string[], string[], number, boolean][])('%s', async (_rule, dids, good, k, mentioned) => {
    const reg = registries({ 'ghcr.io': dids });
    const r = await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: quorumVerifier([A, B], k, good), registryFor: reg.registryFor });
    const suffix = ` (1 more signature referrer(s) beyond the first 64 were not read)`;
    expect(r.decisive.message.endsWith(suffix)).toBe(mentioned);
    if (mentioned) expect(r.decisive.message).toBe(`no ${B}${suffix}`);
    else expect(r.decisive.message).not.toContain('beyond the first');
  });
});

describe('aborting: the signal reaches the referrer search', () => {
  it('aborted once the referrers are read, before any is verified: no signature could be read', async () => {
    const controller = new AbortController();
    const reg = registries({ 'ghcr.io': [A] });
    const registryFor = (host: string) => {
      const client = reg.registryFor(host);
      const getManifest = client.getManifest.bind(client);
      client.getManifest = (async (...args: Parameters<RegistryClient['getManifest']>) => {
        controller.abort(new Error('deadline'));
        return getManifest(...args);
      }) as RegistryClient['getManifest'];
      return client;
    };
    const r = await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: quorumVerifier([A], 1, [A]), registryFor, signal: controller.signal });
    expect([r.isSuccess, r.signatures, r.decisive.error?.code, r.decisive.error?.message]).toEqual([
      false,
      [],
      'ARTIFACT_NOT_FOUND',
      `no signature referrer of ghcr.io/a/b@${DIGEST} could be read`,
    ]);
  });
});

describe('where referrers are read for a mirror, and what an unsigned mirror image is told', () => {
  it('a mirror with referrersFrom self (the default): referrers are read from the mirror itself', async () => {
    const reg = registries({ 'mirror.corp': [A], 'ghcr.io': [] });
    const r = await verifyImage(`mirror.corp/a/b@${DIGEST}`, { verifier: verifierFor('registries:\n  - {host: mirror.corp, mirrorOf: ghcr.io}\n'), registryFor: reg.registryFor });
    expect(reg.calls).toEqual(['client mirror.corp', 'client mirror.corp', `mirror.corp referrers a/b@${DIGEST}`]);
    expect(r.isSuccess).toBe(true);
  });

  it('no referrer: the result lists no signatures', async () => {
    const reg = registries({});
    const r = await verifyImage(`ghcr.io/a/b@${DIGEST}`, { verifier: verifierFor(), registryFor: reg.registryFor });
    expect(r.signatures).toEqual([]);
  });

  it('read from the origin and still none: the plain remediation (sign the image), no mirror advice', async () => {
    const reg = registries({});
    const r = await verifyImage(`mirror.corp/a/b@${DIGEST}`, { verifier: verifierFor('registries:\n  - {host: mirror.corp, mirrorOf: ghcr.io, referrersFrom: origin}\n'), registryFor: reg.registryFor });
    expect(r.decisive.error?.remediation).toBe(remediationFor('ARTIFACT_NOT_FOUND'));
  });
});
