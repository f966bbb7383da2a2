/** Small statistics for benchmark samples: medians and percentiles, never means (noisy machines). */

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  // Nearest-rank: the smallest sample with at least p% of the samples at or below it.
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One timed HTTP exchange, as recorded by bench/http-trace.cjs. */
export interface TracedRequest {
  method: string;
  host: string;
  path: string;
  start: number;
  end: number;
  status?: number;
}

/**
 * The longest chain of requests each starting after the previous one ended: the number of
 * network round trips on the critical path. Overlapping requests count once.
 */
export function sequentialDepth(requests: readonly TracedRequest[]): number {
  const sorted = [...requests].sort((a, b) => a.start - b.start);
  const depth: number[] = [];
  let best = 0;
  for (let i = 0; i < sorted.length; i++) {
    let d = 1;
    for (let j = 0; j < i; j++) if (sorted[j]!.end <= sorted[i]!.start) d = Math.max(d, depth[j]! + 1);
    depth.push(d);
    best = Math.max(best, d);
  }
  return best;
}

/**
 * The time spent waiting on the network along the critical path: the largest sum of request
 * durations over chains of requests each starting after the previous one ended. On loopback a
 * request's duration is the server's time; it is the part of a VERIFY no client can remove.
 */
export function criticalPathMs(requests: readonly TracedRequest[]): number {
  const sorted = [...requests].sort((a, b) => a.start - b.start);
  const total: number[] = [];
  let best = 0;
  for (let i = 0; i < sorted.length; i++) {
    const own = sorted[i]!.end - sorted[i]!.start;
    let t = own;
    for (let j = 0; j < i; j++) if (sorted[j]!.end <= sorted[i]!.start) t = Math.max(t, total[j]! + own);
    total.push(t);
    best = Math.max(best, t);
  }
  return best;
}

export const fmt = {
  ms: (v: number) => (Number.isFinite(v) ? `${v.toFixed(v < 10 ? 2 : 1)} ms` : 'n/a'),
  ratio: (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : 'n/a'),
  mb: (kb: number | undefined) => (kb !== undefined && Number.isFinite(kb) ? `${(kb / 1024).toFixed(1)} MB` : 'n/a'),
  rate: (v: number) => (Number.isFinite(v) ? (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1)) : 'n/a'),
};
