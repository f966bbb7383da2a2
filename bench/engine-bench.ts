import { createRequire } from 'node:module';
import { loadTrustPolicy } from '../src/policy/trust-policy.js';
import { RegistryClient } from '../src/registry/client.js';
import { DEFAULT_SETTINGS, type VerifierSettings } from '../src/verify/settings.js';
import { Verifier } from '../src/verify/verifier.js';
import { verifyImage } from '../src/verify/verify-image.js';
import type { BenchWorld } from './fixtures.js';
import { HTTP_TRACE } from './paths.js';
import { median, percentile, sequentialDepth, type TracedRequest } from './stats.js';

export interface EngineFigure {
  images: number;
  verifications: number;
  /** First pass over the images: DID documents and handles not cached yet. */
  coldPerSecond: number;
  /** Later passes: identity cached in memory; artifact and proof fetched every time. */
  warmPerSecond: number;
  warmP50Ms: number;
  warmP99Ms: number;
  /** Requests per warm verification, and how many of them were sequential. */
  requestsPerVerification: number;
  sequentialPerVerification: number;
}

interface Trace {
  requests: (TracedRequest & { end?: number })[];
  enabled: boolean;
}

/** The in-process request trace (bench/http-trace.cjs), installed once. */
export function httpTrace(): Trace {
  createRequire(import.meta.url)(HTTP_TRACE);
  const trace = (globalThis as { __atprotoVerifierHttpTrace?: Trace }).__atprotoVerifierHttpTrace!;
  return trace;
}

export function engineSettings(world: BenchWorld): VerifierSettings {
  return {
    ...DEFAULT_SETTINGS,
    trustPolicyPath: world.policyPath,
    plcDirectory: world.net.plcUrl,
    handleResolverUrl: world.net.pdsUrl,
    allowPrivateNetwork: true,
    cacheEnabled: true,
  };
}

/**
 * Section 3: the engine in one process, as the CLI and the provider drive it (verifyImage: find
 * the referrer, fetch it, verify the chain, apply the policy), one verification after another.
 * One Verifier per size, so each size starts cold.
 */
export async function benchEngine(world: BenchWorld, sizes: number[], verifications: number): Promise<EngineFigure[]> {
  const policy = await loadTrustPolicy(world.policyPath);
  const trace = httpTrace();
  trace.enabled = true;
  const client = new RegistryClient({ registry: world.registry.host, allowPrivateNetwork: true, useHttp: true });
  const out: EngineFigure[] = [];
  try {
    for (const size of sizes) {
      const images = world.images.slice(0, size);
      if (images.length < size) throw new Error(`only ${images.length} signed images for a run over ${size}`);
      const verifier = new Verifier(engineSettings(world), { policy });
      const verifyOne = async (reference: string) => {
        const result = await verifyImage(reference, { verifier, registryFor: () => client });
        if (!result.isSuccess) throw new Error(`engine did not verify ${reference}: ${result.decisive.message}`);
      };

      const coldStarted = performance.now();
      for (const image of images) await verifyOne(image.reference);
      const coldPerSecond = images.length / ((performance.now() - coldStarted) / 1000);

      const latencies: number[] = [];
      const perVerification: { requests: number; depth: number }[] = [];
      const total = Math.max(verifications, images.length);
      const started = performance.now();
      for (let i = 0; i < total; i++) {
        const image = images[i % images.length]!;
        trace.requests.length = 0;
        const t0 = performance.now();
        await verifyOne(image.reference);
        latencies.push(performance.now() - t0);
        const requests = trace.requests.filter((r) => r.end !== undefined) as TracedRequest[];
        perVerification.push({ requests: requests.length, depth: sequentialDepth(requests) });
      }
      const elapsed = (performance.now() - started) / 1000;
      trace.requests.length = 0;
      out.push({
        images: size,
        verifications: total,
        coldPerSecond,
        warmPerSecond: total / elapsed,
        warmP50Ms: percentile(latencies, 50),
        warmP99Ms: percentile(latencies, 99),
        requestsPerVerification: median(perVerification.map((p) => p.requests)),
        sequentialPerVerification: median(perVerification.map((p) => p.depth)),
      });
    }
  } finally {
    trace.enabled = false;
    trace.requests.length = 0;
    client.close();
  }
  return out;
}
