/**
 * Referrer triage (issue 12, src/verify/verify-referrers.ts): at most 64 referrers are read,
 * annotated-trusted first then newest first; fetched payloads are verified trusted claims first;
 * verification stops as soon as enough distinct signers are proven. The registry client and the
 * engine are fakes here: this pins the ordering and stopping rules, the e2e tests
 * (referrer-triage.e2e.test.ts) keep covering a real registry and PDS.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import { SIGNATURE_ARTIFACT_TYPE, SIGNER_ANNOTATION } from '../../src/artifact/signature-payload.js';
import { signerRequirement } from '../../src/policy/claims.js';
import { parseTrustPolicy, type TrustPolicy } from '../../src/policy/trust-policy.js';
import type { RegistryClient } from '../../src/registry/client.js';
import type { Descriptor } from '../../src/registry/oci.js';
import type { VerificationOutcome, Verifier } from '../../src/verify/verifier.js';
import { MAX_SIGNATURE_REFERRERS, verifySignatureReferrers } from '../../src/verify/verify-referrers.js';

const sha = (s: string | Uint8Array) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const SUBJECT = sha('image');
const REFERENCE = `ghcr.io/a/b@${SUBJECT}`;
const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const B = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const C = 'did:plc:cccccccccccccccccccccccc';
const EVE = 'did:plc:eeeeeeeeeeeeeeeeeeeeeeee';

const policyOf = (dids: string[], signers = 1) =>
  parseTrustPolicy(
    `version: "1.0"\ntrustedDIDs:\n${dids.map((d) => `  ${d}: {}\n`).join('')}policies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${dids.join(', ')}], require: {signers: ${signers}}}\n`,
    'policy.yaml',
  );

/** A referrer: its digest, the DID its payload claims (undefined: a manifest that is no signature), its annotation. */
interface Fake { name: string; did?: string; annotate?: string }

/** A registry serving each referrer's manifest with its payload embedded (no blob fetch), recording what was read. */
function registry(fakes: Fake[]) {
  const manifests = new Map<string, Uint8Array>();
  for (const f of fakes) {
    const payload = f.did
      ? new TextEncoder().encode(JSON.stringify(buildSignaturePayload({ subjectDigest: SUBJECT, did: f.did, recordUri: `at://${f.did}/io.atcr.manifest/3kabcdefghijk` })))
      : new Uint8Array();
    const manifest = f.did
      ? {
          schemaVersion: 2,
          artifactType: SIGNATURE_ARTIFACT_TYPE,
          subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: SUBJECT, size: 1 },
          layers: [{ mediaType: SIGNATURE_ARTIFACT_TYPE, digest: sha(payload), size: payload.length, data: Buffer.from(payload).toString('base64') }],
        }
      : { schemaVersion: 2, artifactType: 'application/other' };
    manifests.set(sha(f.name), new TextEncoder().encode(JSON.stringify(manifest)));
  }
  const read: string[] = [];
  const client = {
    async getManifest(_repo: string, digest: string) {
      read.push(digest);
      const bytes = manifests.get(digest);
      if (!bytes) throw new Error(`no manifest ${digest}`);
      return { bytes, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' };
    },
    async getBlob() {
      throw new Error('the payload is embedded');
    },
  } as unknown as RegistryClient;
  const referrers: Descriptor[] = fakes.map((f) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha(f.name),
    size: 1,
    ...(f.annotate ? { annotations: { [SIGNER_ANNOTATION]: f.annotate } } : {}),
  })) as Descriptor[];
  return { client, referrers, read };
}

/** An engine that passes every DID in `good`, recording the order of the DIDs it was asked about. */
function engine(policy: TrustPolicy, good: string[]) {
  const verified: string[] = [];
  const verifier = {
    policy,
    async verify({ payload }: { payload: { atproto: { did: string } } }): Promise<VerificationOutcome> {
      const did = payload.atproto.did;
      verified.push(did);
      return good.includes(did)
        ? { isSuccess: true, audit: false, message: 'ok', did, steps: [] }
        : { isSuccess: false, audit: false, message: 'no', did, steps: [] };
    },
  } as unknown as Verifier;
  return { verifier, verified };
}

async function search(fakes: Fake[], policy: TrustPolicy, good: string[]) {
  const reg = registry(fakes);
  const eng = engine(policy, good);
  const result = await verifySignatureReferrers({
    client: reg.client, repository: 'a/b', subjectDigest: SUBJECT, reference: REFERENCE, referrers: reg.referrers,
    verifier: eng.verifier, requirement: signerRequirement(policy, REFERENCE),
  });
  return { ...result, read: reg.read, verified: eng.verified, digestOf: (name: string) => sha(name) };
}

describe('the 64 bound: at most MAX_SIGNATURE_REFERRERS referrers are read, the rest reported unread', () => {
  it('is 64', () => expect(MAX_SIGNATURE_REFERRERS).toBe(64));

  it.each([
    ['64 referrers: all read, none unread', 64, 64, 0],
    ['65 referrers: 64 read, 1 unread', 65, 64, 1],
    ['100 referrers: 64 read, 36 unread', 100, 64, 36],
  ] as [string, number, number, number][])('%s', async (_rule, n, readCount, unread) => {
    // Nobody trusted signs, so nothing settles early: every readable referrer is read.
    const fakes = Array.from({ length: n }, (_, i) => ({ name: `junk${i}`, did: EVE }));
    const r = await search(fakes, policyOf([A]), []);
    expect([r.read.length, r.unread]).toEqual([readCount, unread]);
  });

  it('a listed digest twice is read once', async () => {
    const r = await search([{ name: 'x', did: A }, { name: 'x', did: A }], policyOf([A]), [A]);
    expect([r.read.length, r.unread, r.signatures.length]).toEqual([1, 0, 1]);
  });
});

describe('trusted first: junk cannot push a trusted signature out of reach', () => {
  it('an annotated trusted signer listed first among 100 junk referrers is still read and counted', async () => {
    const fakes = [{ name: 'good', did: A, annotate: A }, ...Array.from({ length: 100 }, (_, i) => ({ name: `junk${i}`, did: EVE, annotate: EVE }))];
    const r = await search(fakes, policyOf([A]), [A]);
    expect(r.read).toContain(r.digestOf('good'));
    expect(r.quorum.met).toBe(true);
    expect(r.verified).toEqual([A]);
  });

  it('unannotated referrers are read newest (last listed) first, after annotated trusted ones', async () => {
    const fakes = [
      ...Array.from({ length: 70 }, (_, i) => ({ name: `old${i}` })),
      { name: 'newest', did: A },
    ];
    const r = await search(fakes, policyOf([A]), [A]);
    expect(r.read[0]).toBe(r.digestOf('newest'));
    expect(r.quorum.met).toBe(true);
  });

  it('annotated as untrusted is read last: after unannotated ones, and dropped first at the bound', async () => {
    const fakes = [
      { name: 'good', did: A },
      ...Array.from({ length: 64 }, (_, i) => ({ name: `junk${i}`, did: EVE, annotate: EVE })),
    ];
    const r = await search(fakes, policyOf([A]), [A]);
    expect(r.read[0]).toBe(r.digestOf('good'));
    expect([r.quorum.met, r.unread]).toEqual([true, 1]);
  });

  it('a payload claiming a trusted signer is verified before one the policy refuses, whatever the reading order', async () => {
    const r = await search([{ name: 'eve', did: EVE }, { name: 'bob', did: B }, { name: 'alice', did: A }], policyOf([A, B], 2), [A, B]);
    expect(r.verified.slice(0, 2).sort()).toEqual([A, B]);
    expect(r.quorum.met).toBe(true);
  });
});

describe('stopping: verification ends once enough distinct signers are proven', () => {
  it('k=1: the first trusted signer settles it; the others are never verified', async () => {
    const r = await search([{ name: 'a1', did: A }, { name: 'a2', did: A }, { name: 'b', did: B }], policyOf([A, B]), [A, B]);
    expect(r.verified).toHaveLength(1);
    expect(r.quorum.signers).toHaveLength(1);
  });

  it('k=2: one round verifies as many as are missing; a DID proven in an earlier round is not verified again', async () => {
    // Read newest first: a2 (A), c (C fails), a1 (A), b. Round 1 takes two: A proven, C refused.
    // Round 2 wants one more: a1 is skipped (A counted), b is verified.
    const r = await search([{ name: 'b', did: B }, { name: 'a1', did: A }, { name: 'c', did: C }, { name: 'a2', did: A }], policyOf([A, B, C], 2), [A, B]);
    expect(r.quorum.met).toBe(true);
    expect(r.verified).toEqual([A, C, B]);
  });

  it('k=2 with a failing signer: verification goes on until the quorum is met', async () => {
    const r = await search([{ name: 'a', did: A }, { name: 'b', did: B }, { name: 'c', did: C }], policyOf([A, B, C], 2), [A, C]);
    expect(r.quorum.signers.map((s) => s.did).sort()).toEqual([A, C]);
    expect(r.verified).toHaveLength(3);
  });

  it('a referrer that is no signature is a failed check, never a signer', async () => {
    const r = await search([{ name: 'other' }], policyOf([A]), [A]);
    expect(r.quorum.met).toBe(false);
    expect(r.signatures.map((s) => s.outcome.error?.code)).toEqual(['ARTIFACT_INVALID']);
    expect(r.verified).toEqual([]);
  });
});
