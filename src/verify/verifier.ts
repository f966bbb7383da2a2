import { embeddedProof, parseSignaturePayload, type SignaturePayload } from '../artifact/signature-payload.js';
import { parseMultikey, type AtprotoPublicKey } from '../atproto/keys.js';
import { parseTid } from '../atproto/tid.js';
import { verifyRecordProof, type RecordProof } from '../atproto/record-proof.js';
import { asVerificationError, VerificationError } from '../errors.js';
import type { AtprotoIdentity } from '../identity/did-document.js';
import { handleCacheScope, standardHandleResolver, xrpcHandleResolver, verifyHandle, type HandleResolver, type HandleStatus } from '../identity/handle.js';
import { resolveDid } from '../identity/resolve-did.js';
import { TtlCache } from '../identity/ttl-cache.js';
import { claimDecision } from '../policy/claims.js';
import { evaluateTrust, matchingPolicies, pinnedKeys, type TrustDecision } from '../policy/evaluate.js';
import { mapToOrigin, type RegistryMapping } from '../policy/registries.js';
import type { TrustPolicy } from '../policy/trust-policy.js';
import { fetchRecordProof } from './fetch-record-proof.js';
import { checkManifestRecord, type ManifestRecord } from './manifest-record.js';
import { parseManifestRecordUri, type RecordUri } from './record-uri.js';
import type { VerifierSettings } from './settings.js';
import type { SignerQuorum } from './signer-quorum.js';

/** What is being verified: the image (its digest, and its reference when known) and the payload. */
export interface VerifyRequest {
  /** Digest of the image manifest the signature must cover (`sha256:...`). */
  subjectDigest: string;
  /** Full image reference, for policy scopes and the repository check. */
  reference?: string;
  /** The signature artifact payload: its bytes, or the parsed JSON. */
  payload: Uint8Array | unknown;
  signal?: AbortSignal;
}

export type StepName = 'artifact' | 'claim' | 'identity' | 'proof' | 'record' | 'handle' | 'policy';

/** What an offline result says, in its message and every face's output (issue 14). */
export const OFFLINE_NOTE = 'offline: revocation not checked';

export interface StepReport {
  step: StepName;
  ok: boolean;
  detail: string;
}

/** The outcome of one verification: a decision, the evidence behind it, and the first failure. */
export interface VerificationOutcome {
  isSuccess: boolean;
  message: string;
  error?: VerificationError;
  /** Passed only because the failing policy is in audit mode. */
  audit: boolean;
  did?: string;
  handle?: string;
  handleStatus?: HandleStatus;
  signedAt?: string;
  commitCid?: string;
  commitRev?: string;
  recordUri?: string;
  recordCid?: string;
  pdsEndpoint?: string;
  signingKey?: string;
  /** Verified from an embedded proof with pinned keys, by the operator's choice: revocation not checked. */
  offline?: boolean;
  /** Refused on the signer the artifact claims, before any DID, handle or PDS request. */
  refusedOnClaim?: boolean;
  trust?: TrustDecision;
  /** How the admitted name was read through the policy's registries (or that no entry applied). */
  registryMapping?: { applied: boolean; description: string };
  /** The image's signers (require.signers): who counted, how many are required, who is missing. */
  quorum?: SignerQuorum;
  steps: StepReport[];
}

export interface VerifierDependencies {
  policy?: TrustPolicy;
  handleResolver?: HandleResolver;
  now?: () => Date;
  /** Extra CA certificates for https fetches (private did:web hosts, test networks). */
  ca?: string;
}

/** A rev more than this far in the future was not signed "now": refuse it. */
const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;

/** A scope trusting more DIDs than this is not prefetched: that would be guessing, at the PLC's expense. */
export const MAX_PREFETCHED_DIDS = 4;

/** Evidence gathered as the chain is walked; becomes the outcome's metadata. */
interface Evidence {
  payload?: SignaturePayload;
  record?: RecordUri;
  identity?: AtprotoIdentity;
  proof?: RecordProof;
  key?: AtprotoPublicKey;
  keyMultibase?: string;
  handle?: HandleStatus;
  /** Handle verification, started as soon as the DID document is known (it needs nothing else). */
  pendingHandle?: Promise<HandleStatus>;
  trust?: TrustDecision;
  offline?: boolean;
  manifest?: ManifestRecord;
  /** The admitted name mapped to its origin (src/policy/registries.ts), when a reference is known. */
  mapping?: RegistryMapping;
}

/**
 * The verification engine. `verify()` walks SPEC.md section 3 step by step; each step either adds
 * evidence or throws one VerificationError naming what broke. Caches live on the instance, so a
 * long-lived face (the provider) reuses them and a short-lived one (the plugin) uses the disk.
 */
export class Verifier {
  private readonly didCache: TtlCache<unknown>;
  private readonly handleCache: TtlCache<string>;
  private readonly handleResolver: HandleResolver;
  private readonly handleCacheScope: string;
  private readonly now: () => Date;
  /** DID resolutions started by prefetchIdentities and not settled yet, with the signal they run under. */
  private readonly prefetched = new Map<string, { signal: AbortSignal | undefined; identity: Promise<AtprotoIdentity> }>();

  constructor(
    readonly settings: VerifierSettings,
    private readonly deps: VerifierDependencies = {},
  ) {
    const cache = { enabled: settings.cacheEnabled, ttlMs: settings.cacheTtlMs, ...(settings.cacheDir ? { dir: settings.cacheDir } : {}) };
    this.didCache = new TtlCache('did', cache);
    this.handleCache = new TtlCache('handle', cache);
    this.now = deps.now ?? (() => new Date());
    const fetchPolicy = { allowPrivateNetwork: settings.allowPrivateNetwork, timeoutMs: settings.didResolverTimeoutMs, ...(deps.ca ? { ca: deps.ca } : {}) };
    this.handleResolver =
      deps.handleResolver ??
      (settings.handleResolverUrl ? xrpcHandleResolver(settings.handleResolverUrl, fetchPolicy) : standardHandleResolver(fetchPolicy));
    this.handleCacheScope = handleCacheScope({ handleResolverUrl: settings.handleResolverUrl, custom: deps.handleResolver !== undefined }, settings.allowPrivateNetwork);
  }

  get policy(): TrustPolicy | undefined {
    return this.deps.policy;
  }

  /**
   * Starts resolving the DID documents of the signers the trust policy trusts for `reference`,
   * so a caller can overlap them with the registry fetches (the artifact names the signer only
   * once it has arrived). Only DIDs from the policy are fetched, from their own PLC or did:web
   * host, never anything the artifact says; at most MAX_PREFETCHED_DIDS, none the operator lets
   * verify offline. Failures are left for verify() to meet again. `signal` must be the
   * one later passed to verify(): a resolution is shared only under the same signal.
   */
  prefetchIdentities(reference: string, signal?: AbortSignal): void {
    const policy = this.deps.policy;
    // A resolution that settles before verify() asks is handed over by the DID cache: without one, prefetching would fetch twice.
    if (!policy || !this.settings.cacheEnabled) return;
    let rules;
    try {
      rules = matchingPolicies(policy, reference).rules;
    } catch {
      return; // not a reference: verify() refuses it with its own message
    }
    const dids = new Set<string>();
    for (const rule of rules) {
      for (const did of rule.trustedDIDs) if (!this.offlineKeys(did)) dids.add(did);
    }
    if (dids.size === 0 || dids.size > MAX_PREFETCHED_DIDS) return;
    for (const did of dids) {
      if (this.prefetched.has(did)) continue;
      const identity = this.resolveIdentityOf(did, signal);
      const entry = { signal, identity };
      this.prefetched.set(did, entry);
      const forget = () => {
        if (this.prefetched.get(did) === entry) this.prefetched.delete(did);
      };
      identity.then(forget, forget);
    }
  }

  private resolveIdentityOf(did: string, signal: AbortSignal | undefined): Promise<AtprotoIdentity> {
    return resolveDid(did, {
      plcDirectory: this.settings.plcDirectory,
      timeoutMs: this.settings.didResolverTimeoutMs,
      allowPrivateNetwork: this.settings.allowPrivateNetwork,
      cache: this.didCache,
      ...(this.deps.ca ? { ca: this.deps.ca } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  async verify(request: VerifyRequest): Promise<VerificationOutcome> {
    const evidence: Evidence = {};
    const steps: StepReport[] = [];
    const mapping = this.registryMapping(request.reference);
    if (mapping) evidence.mapping = mapping;
    const step = async (name: StepName, run: () => Promise<string> | string): Promise<void> => {
      try {
        steps.push({ step: name, ok: true, detail: await run() });
      } catch (err) {
        const error = asVerificationError(err);
        steps.push({ step: name, ok: false, detail: error.message });
        throw error;
      }
    };
    try {
      await step('artifact', () => this.readArtifact(request, evidence));
      await step('claim', () => this.checkClaim(request, evidence));
      await step('identity', () => this.resolveIdentity(request, evidence));
      await step('proof', () => this.verifyProof(request, evidence));
      await step('handle', () => this.checkHandle(request, evidence));
      await step('record', () => this.checkRecord(request, evidence));
      await step('policy', () => this.applyPolicy(request, evidence));
      return this.outcome(evidence, steps);
    } catch (err) {
      const error = asVerificationError(err);
      return { ...this.outcome(evidence, steps, error), ...(steps.at(-1)?.step === 'claim' ? { refusedOnClaim: true } : {}) };
    }
  }

  /**
   * The admitted name read through the policy's registries: the record and handle-in-path checks
   * run on the origin name it gives. An unparseable reference maps to nothing (it fails elsewhere).
   */
  registryMapping(reference: string | undefined): RegistryMapping | undefined {
    if (!reference) return undefined;
    try {
      return mapToOrigin(this.deps.policy, reference, this.settings.atcrRegistries);
    } catch {
      return undefined;
    }
  }

  /**
   * Step 1b, before any network (issue 12): the signer the payload claims must be one the policy
   * could trust for this image. A stranger costs nothing more than reading its artifact; audit
   * mode goes on, to report the whole chain (see refuseClaimedSigner).
   */
  private checkClaim(request: VerifyRequest, ev: Evidence): string {
    const policy = this.deps.policy;
    const did = ev.record!.did;
    if (!policy) return `claimed signer ${did}: no trust policy, not judged`;
    const refusal = claimDecision(policy, request.reference ?? '', did);
    if (refusal) {
      ev.trust = refusal;
      throw refusal.failures[0]!;
    }
    return `claimed signer ${did} may be trusted for this image (not verified yet)`;
  }

  /** Step 1: the payload names a record of the signer and covers this subject. */
  private readArtifact(request: VerifyRequest, ev: Evidence): string {
    const payload = parseSignaturePayload(request.payload);
    if (!/^sha256:[a-f0-9]{64}$/.test(request.subjectDigest)) {
      throw new VerificationError('INPUT_INVALID', `subject digest "${request.subjectDigest.slice(0, 80)}" is not sha256:<64 hex>`);
    }
    if (payload.subject.digest !== request.subjectDigest) {
      throw new VerificationError('SUBJECT_MISMATCH', `signature artifact covers ${payload.subject.digest}, not the image ${request.subjectDigest}`);
    }
    ev.payload = payload;
    ev.record = parseManifestRecordUri(payload.atproto.recordUri, payload.atproto.did);
    return `payload names at://${ev.record.did}/${ev.record.collection}/${ev.record.rkey}`;
  }

  /**
   * Step 2: the signer's key and PDS come from the DID document. Offline (keys pinned in the
   * policy, the proof embedded) only when the OPERATOR says so twice: the `offline` setting, and
   * `offline: allowed` on this DID. The artifact never chooses: an embedded proof is otherwise
   * ignored, and the live one fetched, so deletion and key rotation revoke (issue 14).
   */
  private async resolveIdentity(request: VerifyRequest, ev: Evidence): Promise<string> {
    const did = ev.record!.did;
    const pinned = this.offlineKeys(did);
    if (pinned && ev.payload!.proof) {
      ev.offline = true;
      return `${OFFLINE_NOTE}: embedded proof checked against the ${pinned.length} key(s) pinned for ${did} (offline setting on, DID marked offline: allowed)`;
    }
    const identity = (await this.prefetchedIdentity(did, request.signal)) ?? (await this.resolveIdentityOf(did, request.signal));
    ev.identity = identity;
    ev.key = identity.signingKey;
    ev.keyMultibase = identity.signingKeyMultibase;
    // The handle check needs only the DID document: run it while the PDS proof is fetched.
    ev.pendingHandle = this.verifyClaimedHandle(identity, request.signal);
    ev.pendingHandle.catch(() => undefined);
    return `${did}: key ${ev.keyMultibase}, PDS ${identity.pdsEndpoint}`;
  }

  /** The pinned keys of `did` when the operator allows offline verification for it, else undefined. */
  private offlineKeys(did: string): string[] | undefined {
    const policy = this.deps.policy;
    if (!this.settings.offline || !policy || policy.trustedDIDs.get(did)?.offline !== 'allowed') return undefined;
    return pinnedKeys(policy, did);
  }

  /** The prefetched resolution of `did` under this signal, if any; a failed one is retried by the caller. */
  private async prefetchedIdentity(did: string, signal: AbortSignal | undefined): Promise<AtprotoIdentity | undefined> {
    const entry = this.prefetched.get(did);
    if (!entry || entry.signal !== signal) return undefined;
    try {
      return await entry.identity;
    } catch {
      return undefined;
    }
  }

  /** Steps 3-5: CAR blocks, signed commit, MST inclusion of the record. */
  private async verifyProof(request: VerifyRequest, ev: Evidence): Promise<string> {
    const record = ev.record!;
    // An embedded proof is used only offline (see resolveIdentity). Online, the proof is always
    // fetched live, so a publisher revokes a signature by deleting its record.
    const car =
      (ev.offline ? embeddedProof(ev.payload!) : undefined) ??
      (await fetchRecordProof(
        ev.identity!.pdsEndpoint,
        record,
        { allowPrivateNetwork: this.settings.allowPrivateNetwork, timeoutMs: this.settings.pdsTimeoutMs, ...(this.deps.ca ? { ca: this.deps.ca } : {}) },
        request.signal,
      ));
    if (ev.offline) {
      const keys = this.offlineKeys(record.did)!;
      ev.proof = this.verifyWithAnyKey(car, record, keys, ev);
    } else {
      ev.proof = verifyRecordProof(car, { ...record, key: ev.key! });
    }
    const signedAt = ev.proof.signedAt.getTime();
    if (signedAt > this.now().getTime() + MAX_CLOCK_SKEW_MS) {
      throw new VerificationError('COMMIT_INVALID', `commit rev ${ev.proof.commit.rev} claims a time in the future (${ev.proof.signedAt.toISOString()})`);
    }
    return `commit ${ev.proof.commitCid} (rev ${ev.proof.commit.rev}) signed by ${ev.keyMultibase}; record ${ev.proof.recordCid} included`;
  }

  private verifyWithAnyKey(car: Uint8Array, record: RecordUri, keys: string[], ev: Evidence): RecordProof {
    let last: VerificationError | undefined;
    for (const multibase of keys) {
      try {
        const key = parseMultikey(multibase);
        const proof = verifyRecordProof(car, { ...record, key });
        ev.key = key;
        ev.keyMultibase = multibase;
        return proof;
      } catch (err) {
        last = asVerificationError(err);
        if (last.code !== 'SIGNATURE_INVALID') throw last;
      }
    }
    throw new VerificationError('SIGNATURE_INVALID', `commit signature verifies with none of the ${keys.length} key(s) pinned for ${record.did}`, {
      cause: last,
    });
  }

  /** Step 6 (after the handle, which an ATCR path may name): the signed record is this image's. */
  private checkRecord(request: VerifyRequest, ev: Evidence): string {
    const hinted = ev.payload!.atproto.recordCid;
    if (hinted && hinted !== ev.proof!.recordCid.toString()) {
      throw new VerificationError('RECORD_CID_MISMATCH', `artifact names record ${hinted} but the signed commit holds ${ev.proof!.recordCid}`);
    }
    const record: ManifestRecord = (ev.manifest = checkManifestRecord(ev.proof!.record, {
      subjectDigest: request.subjectDigest,
      did: ev.record!.did,
      reference: request.reference,
      ...(ev.mapping ? { mapping: ev.mapping } : {}),
      atcrRegistries: this.settings.atcrRegistries,
      verifiedHandle: ev.handle?.verified ? ev.handle.handle : undefined,
    }));
    const mapped = ev.mapping?.applied ? ` (${ev.mapping.description})` : '';
    return `record ${ev.record!.rkey} signs ${record.digest} for repository ${record.repository}${mapped}`;
  }

  /** Step 7: a handle is reported only when verified both ways. */
  private async checkHandle(request: VerifyRequest, ev: Evidence): Promise<string> {
    if (!ev.identity) {
      ev.handle = { handle: undefined, verified: false, reason: 'offline verification: DID document not consulted' };
      return ev.handle.reason;
    }
    ev.handle = await (ev.pendingHandle ?? this.verifyClaimedHandle(ev.identity, request.signal));
    return ev.handle.verified ? `handle ${ev.handle.handle} verified both ways` : `handle unverified: ${ev.handle.reason}`;
  }

  private verifyClaimedHandle(identity: AtprotoIdentity, signal: AbortSignal | undefined): Promise<HandleStatus> {
    return verifyHandle(identity.claimedHandle, identity.did, {
      resolver: this.handleResolver,
      cache: this.handleCache,
      cacheScope: this.handleCacheScope,
      ...(signal ? { signal } : {}),
    });
  }

  /** Step 8: the signer is trusted for this image at the signed time. */
  private applyPolicy(request: VerifyRequest, ev: Evidence): string {
    const policy = this.deps.policy;
    if (!policy) return 'no trust policy given: the proof chain is verified, the signer is not judged';
    const decision = evaluateTrust(policy, {
      image: request.reference ?? '',
      did: ev.record!.did,
      signedAt: ev.proof!.signedAt,
      ...claimedCreation(ev.record!.rkey, ev.manifest?.createdAt),
      ...(ev.keyMultibase ? { signingKey: ev.keyMultibase } : {}),
      now: this.now(),
    });
    ev.trust = decision;
    // A refusal always carries its reasons (evaluateTrust: not allowed means an enforce failure, or default-deny's NO_POLICY).
    if (!decision.allowed) throw decision.failures[0]!;
    if (decision.audit) return `audit: ${decision.failures.map((f) => f.message).join('; ')} (not enforced)`;
    return `trusted${decision.trustedAs ? ` as "${decision.trustedAs}"` : ''} by ${decision.policies.join(', ') || decision.action}`;
  }

  private outcome(ev: Evidence, steps: StepReport[], error?: VerificationError): VerificationOutcome {
    const proof = ev.proof;
    const out: VerificationOutcome = {
      isSuccess: !error,
      message: '',
      audit: ev.trust?.audit ?? false,
      steps,
      ...(ev.record ? { did: ev.record.did, recordUri: `at://${ev.record.did}/${ev.record.collection}/${ev.record.rkey}` } : {}),
      ...(ev.handle ? { handleStatus: ev.handle } : {}),
      ...(ev.handle?.verified ? { handle: ev.handle.handle } : {}),
      ...(proof
        ? { signedAt: proof.signedAt.toISOString(), commitCid: proof.commitCid.toString(), commitRev: proof.commit.rev, recordCid: proof.recordCid.toString() }
        : {}),
      ...(ev.identity ? { pdsEndpoint: ev.identity.pdsEndpoint } : {}),
      ...(ev.keyMultibase && proof ? { signingKey: ev.keyMultibase } : {}),
      ...(ev.offline ? { offline: true } : {}),
      ...(ev.trust ? { trust: ev.trust } : {}),
      ...(ev.mapping ? { registryMapping: { applied: ev.mapping.applied, description: ev.mapping.description } } : {}),
      ...(error ? { error } : {}),
    };
    const signer = `${out.handle ? `${out.handle} (${out.did})` : out.did} at ${out.signedAt} (commit ${out.commitCid})`;
    if (error) out.message = failureMessage(error);
    else if (out.audit) {
      const failure = ev.trust!.failures[0]!;
      out.message = `audit: would be refused [${failure.code}]: ${failure.message}; allowed because the matching policy is in audit mode. Signed by ${signer}`;
    } else out.message = `verified: signed by ${signer}`;
    if (out.offline && !error) out.message = `${OFFLINE_NOTE}; ${out.message}`;
    return out;
  }
}

/**
 * When the record says it was made: the earlier of its rkey TID and its createdAt. The commit
 * rev only proves the record existed by then (every commit re-signs the whole repository), so
 * this signer-chosen time can only make validFrom stricter, never let a record in.
 */
function claimedCreation(rkey: string, createdAt: string | undefined): { createdAt?: Date } {
  const times: number[] = [];
  try {
    times.push(parseTid(rkey).date.getTime());
  } catch {
    // Not a TID: records may use other keys.
  }
  const claimed = createdAt ? Date.parse(createdAt) : NaN;
  if (!Number.isNaN(claimed)) times.push(claimed);
  return times.length > 0 ? { createdAt: new Date(Math.min(...times)) } : {};
}

/** The outcome of a verification that failed before the engine ran (fetching the artifact, say). */
export function failedOutcome(err: unknown): VerificationOutcome {
  const error = asVerificationError(err);
  // No engine step ran: the failing step (registry, network, input...) is the error's own.
  return { isSuccess: false, audit: false, steps: [], error, message: failureMessage(error) };
}

function failureMessage(error: VerificationError): string {
  return `${error.step} step failed [${error.code}]: ${error.message}`;
}
