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
import type { SignatureCheck } from '../../src/verify/signer-quorum.js';
import type { VerificationOutcome, Verifier, VerifyRequest } from '../../src/verify/verifier.js';
import { MAX_SIGNATURE_REFERRERS, REFERRER_FETCH_PARALLELISM, verifySignatureReferrers } from '../../src/verify/verify-referrers.js';

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

/**
 * A referrer: its digest, the DID its payload claims (undefined: a manifest that is no signature),
 * its annotation (`annotations`: the descriptor's raw annotations value instead), `payload`: raw
 * payload text instead of a well-formed payload.
 */
interface Fake { name: string; did?: string; annotate?: string; annotations?: unknown; payload?: string }

/** A registry serving each referrer's manifest with its payload embedded (no blob fetch), recording what was read. */
function registry(fakes: Fake[], onRead?: () => Promise<void>) {
  const manifests = new Map<string, Uint8Array>();
  for (const f of fakes) {
    const payload = f.payload !== undefined
      ? new TextEncoder().encode(f.payload)
      : f.did
        ? new TextEncoder().encode(JSON.stringify(buildSignaturePayload({ subjectDigest: SUBJECT, did: f.did, recordUri: `at://${f.did}/io.atcr.manifest/3kabcdefghijk` })))
        : new Uint8Array();
    const manifest = f.did || f.payload !== undefined
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
      await onRead?.();
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
    ...('annotations' in f ? { annotations: f.annotations } : {}),
  })) as Descriptor[];
  return { client, referrers, read };
}

/**
 * An engine that passes every DID in `good`, recording the order of the DIDs it was asked about
 * (a payload that is not a parsed object is recorded as "raw"); `onVerify` runs first on each call.
 */
function engine(policy: TrustPolicy | undefined, good: string[], onVerify?: (request: VerifyRequest) => Promise<void>) {
  const verified: string[] = [];
  const verifier = {
    policy,
    async verify(request: VerifyRequest): Promise<VerificationOutcome> {
      await onVerify?.(request);
      const payload = request.payload as { atproto?: { did: string } };
      const did = payload instanceof Uint8Array || !payload.atproto ? 'raw' : payload.atproto.did;
      verified.push(did);
      return good.includes(did)
        ? { isSuccess: true, audit: false, message: 'ok', did, steps: [] }
        : { isSuccess: false, audit: false, message: 'no', did, steps: [] };
    },
  } as unknown as Verifier;
  return { verifier, verified };
}

interface SearchOptions {
  known?: SignatureCheck[];
  signal?: AbortSignal;
  reference?: string;
  onRead?: () => Promise<void>;
  onVerify?: (request: VerifyRequest) => Promise<void>;
  /** Verify with no trust policy (the requirement is still the policy's). */
  noPolicy?: boolean;
}

async function search(fakes: Fake[], policy: TrustPolicy, good: string[], o: SearchOptions = {}) {
  const reg = registry(fakes, o.onRead);
  const eng = engine(o.noPolicy ? undefined : policy, good, o.onVerify);
  const reference = o.reference ?? REFERENCE;
  const result = await verifySignatureReferrers({
    client: reg.client, repository: 'a/b', subjectDigest: SUBJECT, reference, referrers: reg.referrers,
    verifier: eng.verifier, requirement: signerRequirement(policy, REFERENCE),
    ...(o.known ? { known: o.known } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
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

describe('signatures already verified (the referrer Ratify asked about) count, and are neither read nor verified again', () => {
  const knownA = (digest: string): SignatureCheck => ({ referrer: digest, outcome: { isSuccess: true, audit: false, message: 'ok', did: A, steps: [] } });

  it('a known referrer listed again is not read again, and counts toward the quorum', async () => {
    const r = await search([{ name: 'a', did: A }, { name: 'b', did: B }], policyOf([A, B], 2), [A, B], { known: [knownA(sha('a'))] });
    expect(r.read).toEqual([sha('b')]);
    expect([r.quorum.met, r.signatures.map((s) => s.outcome.did), r.verified]).toEqual([true, [A, B], [B]]);
  });

  it('known signatures take their place in the read budget: 63 more read after one known', async () => {
    const fakes = Array.from({ length: 70 }, (_, i) => ({ name: `junk${i}`, did: EVE }));
    const r = await search(fakes, policyOf([A, B], 2), [], { known: [knownA(sha('elsewhere'))] });
    expect([r.read.length, r.unread]).toEqual([MAX_SIGNATURE_REFERRERS - 1, 70 - (MAX_SIGNATURE_REFERRERS - 1)]);
  });
});

describe('verification order: trusted claims first, equal claims in reading order', () => {
  it('a refused claim read first is verified after a trusted one (k=1: never)', async () => {
    // Read newest first: eve (refused by the policy), then alice.
    const r = await search([{ name: 'alice', did: A }, { name: 'eve', did: EVE }], policyOf([A]), [A]);
    expect(r.read).toEqual([sha('eve'), sha('alice')]);
    expect(r.verified).toEqual([A]);
  });

  it('two trusted claims: the one read first is verified first', async () => {
    const r = await search([{ name: 'alice', did: A }, { name: 'bob', did: B }], policyOf([A, B]), [A, B]);
    expect(r.verified).toEqual([B]);
  });

  it('no trust policy: an annotated referrer is read before unannotated ones (any claim may be trusted)', async () => {
    const fakes = [{ name: 'annotated', did: A, annotate: A }, ...Array.from({ length: 3 }, (_, i) => ({ name: `plain${i}`, did: B }))];
    const r = await search(fakes, policyOf([A]), [A, B], { noPolicy: true });
    expect(r.read[0]).toBe(sha('annotated'));
  });

  it('a reference the policy cannot read ranks no claim: referrers are read newest first and handed to the engine, which refuses', async () => {
    const r = await search([{ name: 'alice', did: A, annotate: A }, { name: 'bob', did: B }], policyOf([A]), [], { reference: 'NOT A REFERENCE::' });
    expect(r.read).toEqual([sha('bob'), sha('alice')]);
    expect(r.verified).toEqual([B, A]);
  });

  it('a reference the policy cannot read: every claim ranks alike, and a referrer that failed to load still comes last', async () => {
    // Read newest first: bob, junk (not a signature: failed when fetched), alice.
    const r = await search([{ name: 'alice', did: A }, { name: 'junk' }, { name: 'bob', did: B }], policyOf([A]), [], { reference: 'NOT A REFERENCE::' });
    expect(r.signatures.map((s) => s.referrer)).toEqual([sha('bob'), sha('alice'), sha('junk')]);
  });

  it('a payload that does not parse is still handed to the engine, which judges it with its own message', async () => {
    const r = await search([{ name: 'odd', payload: '{"not": "a payload"}' }], policyOf([A]), [A]);
    expect(r.verified).toEqual(['raw']);
  });
});

describe('a referrer annotation is an ordering hint read only as a string of at most 2048 characters', () => {
  // The good signature is listed first (oldest); 64 junk referrers annotated as a refused signer follow.
  // Read as no hint, the good one ranks before the junk and is read; read as a hint, it would be dropped.
  const junk = Array.from({ length: MAX_SIGNATURE_REFERRERS }, (_, i) => ({ name: `junk${i}`, did: EVE, annotate: EVE }));
  it.each([
    ['annotations: null', null],
    ['a signer value that is an array', { [SIGNER_ANNOTATION]: [EVE] }],
    ['a signer value that is a number', { [SIGNER_ANNOTATION]: 7 }],
    ['a signer value of 2049 characters', { [SIGNER_ANNOTATION]: 'x'.repeat(2049) }],
  ])('%s: no hint', async (_rule, annotations) => {
    const r = await search([{ name: 'good', did: A, annotations }, ...junk], policyOf([A]), [A]);
    expect(r.read).toContain(sha('good'));
    expect(r.quorum.met).toBe(true);
  });

  it('a signer value of exactly 2048 characters is a hint (here: a signer the policy refuses, read last)', async () => {
    const long = Array.from({ length: MAX_SIGNATURE_REFERRERS }, (_, i) => ({ name: `long${i}`, did: EVE, annotate: 'y'.repeat(2048) }));
    const r = await search([{ name: 'good', did: A }, ...long], policyOf([A]), [A]);
    expect(r.read[0]).toBe(sha('good'));
    expect(r.read).not.toContain(sha('long0'));
  });
});

describe('rounds: each verifies as many signatures as signers are still missing', () => {
  it('k=3, three trusted signers: one round of three at once', async () => {
    let inFlight = 0;
    let most = 0;
    const onVerify = async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
    };
    const r = await search([{ name: 'a', did: A }, { name: 'b', did: B }, { name: 'c', did: C }], policyOf([A, B, C], 3), [A, B, C], { onVerify });
    expect([r.quorum.met, most]).toEqual([true, 3]);
  });

  it('k=2, one proven and one refused in the first round: the second round verifies exactly one more', async () => {
    const D = 'did:plc:dddddddddddddddddddddddd';
    // Read newest first: a, x (fails), b, d.
    const r = await search([{ name: 'd', did: D }, { name: 'b', did: B }, { name: 'x', did: C }, { name: 'a', did: A }], policyOf([A, B, C, D], 2), [A, B, D]);
    expect(r.verified).toEqual([A, C, B]);
  });

  it('k=2 with a single referrer: it is verified, and the search ends short without error', async () => {
    const r = await search([{ name: 'a', did: A }], policyOf([A, B], 2), [A, B]);
    expect([r.quorum.met, r.verified]).toEqual([false, [A]]);
  });
});

describe('fetching: at most REFERRER_FETCH_PARALLELISM manifests at a time; the caller can abort', () => {
  it(`reads ${REFERRER_FETCH_PARALLELISM} at a time, no more`, async () => {
    let inFlight = 0;
    let most = 0;
    const onRead = async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight--;
    };
    const fakes = Array.from({ length: 30 }, (_, i) => ({ name: `junk${i}`, did: EVE }));
    await search(fakes, policyOf([A]), [], { onRead });
    expect(most).toBe(REFERRER_FETCH_PARALLELISM);
  });

  it('an already aborted search reads nothing and rejects with the reason', async () => {
    const controller = new AbortController();
    const reason = new Error('deadline');
    controller.abort(reason);
    const reads: string[] = [];
    const attempt = search([{ name: 'a', did: A }], policyOf([A]), [A], { signal: controller.signal, onRead: async () => void reads.push('read') });
    await expect(attempt).rejects.toBe(reason);
    expect(reads).toEqual([]);
  });

  it('aborted during a round: no further round starts', async () => {
    const controller = new AbortController();
    const D = 'did:plc:dddddddddddddddddddddddd';
    const onVerify = async () => controller.abort(new Error('deadline'));
    const fakes = [A, B, C, D].map((did, i) => ({ name: `s${i}`, did }));
    const r = await search(fakes, policyOf([A, B, C, D], 2), [], { signal: controller.signal, onVerify });
    expect(r.verified).toHaveLength(2);
  });

  it('the signal reaches the engine', async () => {
    const controller = new AbortController();
    const seen: (AbortSignal | undefined)[] = [];
    await search([{ name: 'a', did: A }], policyOf([A]), [A], { signal: controller.signal, onVerify: async (req) => void seen.push(req.signal) });
    expect(seen).toEqual([controller.signal]);
  });

  it('an engine that throws is one failed check, not a failed search', async () => {
    const onVerify = async () => {
      throw new Error('engine exploded');
    };
    const r = await search([{ name: 'a', did: A }], policyOf([A]), [A], { onVerify });
    expect(r.signatures.map((s) => [s.referrer, s.outcome.isSuccess, s.outcome.error?.code, s.outcome.error?.message])).toEqual([[sha('a'), false, 'INTERNAL', 'engine exploded']]);
  });
});
