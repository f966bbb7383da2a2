import { VerificationError } from '../errors.js';
import { shareSignal } from '../net/guarded-fetch.js';
import type { TrustPolicy } from '../policy/trust-policy.js';
import type { RegistryClient } from '../registry/client.js';
import { formatImageReference, parseImageReference, type ImageReference } from '../registry/reference.js';
import type { Verifier } from '../verify/verifier.js';
import { verificationBeforeRegistry, verifyImage } from '../verify/verify-image.js';
import type { ResponseItem } from './gatekeeper-protocol.js';
import type { Logger } from './log.js';
import type { ProviderMetrics } from './metrics.js';
import { ResultCache } from './result-cache.js';
import { answerFromError, answerFromVerification, isTransient, responseItem, type ItemValue, type KeyAnswer } from './verification-item.js';

/**
 * Answers a batch of keys within a budget. Each distinct image is verified once however many
 * requests ask for it at the same time (coalescing), results are cached per pinned digest and
 * trust policy, and a key still running when the budget ends is answered with an error at once:
 * Gatekeeper gets a complete answer in time, never a late one. The verification itself runs on
 * (up to its own hard limit), so a retry finds the result in the cache.
 */

/** The engine in use: replaced as a whole when the trust policy file changes. */
export interface Engine {
  policy: TrustPolicy;
  verifier: Verifier;
}

export interface BatchOptions {
  budgetMs: number;
  verifyTimeoutMs: number;
  maxConcurrent: number;
  cache: { enabled: boolean; ttlMs: number; maxEntries: number };
  engine: () => Engine | undefined;
  registryFor: (registry: string) => RegistryClient;
  metrics: ProviderMetrics;
  log: Logger;
  now?: () => number;
}

/** Refusals (untrusted signer, no signature) are re-checked sooner than successes are. */
const NEGATIVE_TTL_MS = 30_000;

export class BatchVerifier {
  private readonly flights = new Map<string, Promise<KeyAnswer>>();
  private readonly cache: ResultCache<KeyAnswer>;
  private readonly slots: Slots;
  private readonly shutdown = new AbortController();
  /** One controller per running verification, so that close() can stop each (see verify()). */
  private readonly controllers = new Set<AbortController>();
  private readonly now: () => number;

  constructor(private readonly opts: BatchOptions) {
    this.now = opts.now ?? Date.now;
    this.cache = new ResultCache(opts.cache.maxEntries, this.now);
    this.slots = new Slots(opts.maxConcurrent);
  }

  /** Running verifications (distinct images), for tests and the in-flight gauge. */
  get running(): number {
    return this.flights.size;
  }

  /** One answer per key, in order, within the budget. Never throws. */
  async answer(keys: string[]): Promise<ResponseItem[]> {
    const values = await this.verdicts(keys);
    return values.map((value, i) => responseItem(keys[i]!, value));
  }

  /**
   * The verdicts behind answer(), for faces that put them on the wire differently (/mutate):
   * same budget, coalescing, cache and metrics, so both faces share one verification per image.
   */
  async verdicts(keys: string[]): Promise<ItemValue[]> {
    const { budgetMs } = this.opts;
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<'budget'>((resolve) => {
      timer = setTimeout(() => resolve('budget'), budgetMs);
    });
    try {
      const answers = await Promise.all(
        keys.map(async (key) => {
          const answer = await Promise.race([this.answerKey(key), budget]);
          if (answer !== 'budget') return answer;
          return answerFromError(
            key,
            new VerificationError(
              'DEADLINE_EXCEEDED',
              `verification did not finish within the ${budgetMs} ms request budget (it goes on in the background; a retry may find the result cached)`,
            ),
          );
        }),
      );
      for (const a of answers) this.opts.metrics.verifications.inc({ result: a.result });
      return answers.map((a) => a.value);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops every running verification (shutdown) and forgets cached results. */
  close(): void {
    this.shutdown.abort(new VerificationError('DEADLINE_EXCEEDED', 'the provider is shutting down'));
    for (const controller of this.controllers) controller.abort(this.shutdown.signal.reason);
    this.cache.clear();
  }

  private answerKey(key: string): Promise<KeyAnswer> {
    const engine = this.opts.engine();
    if (!engine) {
      return Promise.resolve(answerFromError(key, new VerificationError('POLICY_INVALID', 'no valid trust policy is loaded: every image is refused until one is')));
    }
    let ref: ImageReference;
    try {
      ref = parseImageReference(key);
    } catch (err) {
      return Promise.resolve(answerFromError(key, err));
    }
    // A tag is verified at the digest it points to now; equal references share one flight.
    const normalized = formatImageReference(ref.digest ? { ...ref, tag: undefined } : { ...ref, tag: ref.tag ?? 'latest' });
    // Policy before network: an image no scope covers is decided now, its registry never contacted.
    const unscoped = verificationBeforeRegistry(engine.policy, key, normalized, ref.digest);
    if (unscoped) {
      this.opts.log.debug('no scope covers the image: decided by defaultAction without network', { image: key, isSuccess: unscoped.isSuccess });
      return Promise.resolve(answerFromVerification(key, unscoped, engine.policy));
    }
    const id = `${engine.policy.digest}\n${normalized}`;
    let flight = this.flights.get(id);
    if (!flight) {
      flight = this.verify(key, ref, engine).finally(() => this.flights.delete(id));
      this.flights.set(id, flight);
    }
    // The flight may have been started by another key spelling the same image.
    return flight.then((a) => (a.value.reference === key ? a : { ...a, value: { ...a.value, reference: key } }));
  }

  private async verify(key: string, ref: ImageReference, engine: Engine): Promise<KeyAnswer> {
    const { metrics, log } = this.opts;
    const controller = new AbortController();
    // Not AbortSignal.any([controller.signal, this.shutdown.signal]): on Node 20 every call leaves a
    // WeakRef on the long-lived shutdown signal for good (about 70 bytes per key, measured by bench/).
    if (this.shutdown.signal.aborted) controller.abort(this.shutdown.signal.reason);
    this.controllers.add(controller);
    const timer = setTimeout(
      () => controller.abort(new VerificationError('DEADLINE_EXCEEDED', `verification of ${key} passed its ${this.opts.verifyTimeoutMs} ms limit`)),
      this.opts.verifyTimeoutMs,
    );
    const signal = shareSignal(controller.signal);
    let pinned: { pinned: string; digest: string } | undefined;
    let slot = false;
    try {
      await this.slots.acquire(signal);
      slot = true;
      metrics.inFlight.inc();
      const client = this.opts.registryFor(ref.registry);
      const digest = ref.digest ?? (await untilAborted(client.resolveDigest(ref.repository, ref.tag ?? 'latest'), signal));
      pinned = { pinned: `${ref.registry}/${ref.repository}@${digest}`, digest };
      const cacheKey = `${engine.policy.digest}\n${pinned.pinned}`;
      const hit = this.opts.cache.enabled ? this.cache.get(cacheKey) : undefined;
      if (hit) {
        metrics.cacheHits.inc();
        log.debug('cache hit', { image: key, pinned: pinned.pinned, result: hit.result });
        return { ...hit, value: { ...hit.value, reference: key, cached: true } };
      }
      metrics.cacheMisses.inc();
      const started = this.now();
      const verification = await untilAborted(verifyImage(pinned.pinned, { verifier: engine.verifier, registryFor: this.opts.registryFor, signal }), signal);
      const seconds = (this.now() - started) / 1000;
      metrics.verificationDuration.observe(seconds);
      const refusedOnClaim = verification.signatures.filter((s) => s.outcome.refusedOnClaim).length;
      if (refusedOnClaim > 0) metrics.untrustedClaims.inc(refusedOnClaim);
      const answer = answerFromVerification(key, verification, engine.policy);
      this.remember(cacheKey, answer);
      log.info('verified', {
        image: key,
        pinned: pinned.pinned,
        isSuccess: answer.value.isSuccess,
        audit: answer.value.audit,
        did: answer.value.did,
        handle: answer.value.handle,
        durationMs: Math.round(seconds * 1000),
        ...(answer.value.error ? { error: answer.value.error.code, reason: answer.value.error.message } : {}),
      });
      return answer;
    } catch (err) {
      const answer = answerFromError(key, signal.aborted ? (signal.reason ?? err) : err, pinned ?? {});
      log.warn('not verified', { image: key, error: answer.value.error?.code, reason: answer.value.error?.message });
      return answer;
    } finally {
      clearTimeout(timer);
      this.controllers.delete(controller);
      if (slot) {
        metrics.inFlight.dec();
        this.slots.release();
      }
    }
  }

  /**
   * Caches decisive answers: successes for the TTL but never past the moment trust in ANY signer
   * that counted ends (answer.trustEndsAt: with require.signers: 2, the second signer's expiry
   * unmakes the quorum as surely as the first's), refusals briefly, transient errors never.
   */
  private remember(cacheKey: string, answer: KeyAnswer): void {
    const { enabled, ttlMs } = this.opts.cache;
    if (!enabled || isTransient(answer.value.error)) return;
    let ttl = answer.value.isSuccess ? ttlMs : Math.min(ttlMs, NEGATIVE_TTL_MS);
    if (answer.value.isSuccess && answer.trustEndsAt !== undefined) ttl = Math.min(ttl, answer.trustEndsAt - this.now());
    this.cache.set(cacheKey, answer, ttl);
  }
}

/** Resolves or rejects with `promise`, or rejects as soon as `signal` aborts (for calls that ignore signals). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** A counting semaphore whose waiters give up when their signal aborts. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}
