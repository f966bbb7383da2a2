import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics. The `atcr_provider_*` names are the ATCR reference provider's, so its
 * dashboards and alerts work unchanged; one registry per server so in-process tests and several
 * servers in one process never share counters.
 */

/** How one key ended: verified, refused by the proof or policy, could not be checked, or ran out of budget. */
export type VerificationResult = 'success' | 'failure' | 'error' | 'timeout';

export interface ProviderMetrics {
  registry: Registry;
  requests: Counter<'status'>;
  requestDuration: Histogram<string>;
  verifications: Counter<'result'>;
  verificationDuration: Histogram<string>;
  cacheHits: Counter<string>;
  cacheMisses: Counter<string>;
  /** Trust policy reloads by outcome: an `invalid` count that rises is an operator's typo. */
  policyReloads: Counter<'result'>;
  /** 1 while the last trust policy file read was valid, 0 while an older policy is kept. */
  policyValid: Gauge<string>;
  inFlight: Gauge<string>;
  /** POST /mutate requests by HTTP status (atcr_provider_requests_total counts /provide only). */
  mutateRequests: Counter<'status'>;
  /** /mutate keys: `pinned` (tag rewritten to its verified digest), `unchanged` (a digest key), `refused`. */
  mutations: Counter<'result'>;
  /** Signatures refused on the signer they claim, before any DID, handle or PDS request (issue 12). */
  untrustedClaims: Counter<string>;
}

export function createMetrics(): ProviderMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'atcr_provider_requests_total',
      help: 'External data requests received on /provide, by HTTP status.',
      labelNames: ['status'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'atcr_provider_request_duration_seconds',
      help: 'Time to answer a /provide request.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 5],
      registers,
    }),
    verifications: new Counter({
      name: 'atcr_provider_verifications_total',
      help: 'Keys answered, by result: success, failure (not verified or not trusted), error (could not check), timeout (budget ran out).',
      labelNames: ['result'],
      registers,
    }),
    verificationDuration: new Histogram({
      name: 'atcr_provider_verification_duration_seconds',
      help: 'Time of one image verification (cache misses only).',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    }),
    cacheHits: new Counter({ name: 'atcr_provider_cache_hits_total', help: 'Verification results served from the cache.', registers }),
    cacheMisses: new Counter({ name: 'atcr_provider_cache_misses_total', help: 'Keys that had to be verified.', registers }),
    policyReloads: new Counter({
      name: 'atproto_verifier_policy_reloads_total',
      help: 'Trust policy file reloads, by result (loaded, invalid).',
      labelNames: ['result'],
      registers,
    }),
    policyValid: new Gauge({ name: 'atproto_verifier_policy_valid', help: '1 when the trust policy file on disk is the one in use and valid.', registers }),
    inFlight: new Gauge({ name: 'atproto_verifier_verifications_in_flight', help: 'Verifications running now (coalesced keys count once).', registers }),
    mutateRequests: new Counter({
      name: 'atproto_verifier_mutate_requests_total',
      help: 'External data requests received on /mutate, by HTTP status.',
      labelNames: ['status'],
      registers,
    }),
    mutations: new Counter({
      name: 'atproto_verifier_mutations_total',
      help: 'Images answered on /mutate, by result: pinned (tag rewritten to the verified digest), unchanged (already a digest), refused (error item).',
      labelNames: ['result'],
      registers,
    }),
    untrustedClaims: new Counter({
      name: 'atproto_verifier_untrusted_claims_total',
      help: 'Signatures refused on the signer they claim (not trusted for the image scope), before any DID, handle or PDS request.',
      registers,
    }),
  };
}
