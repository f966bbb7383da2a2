import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIGNATURE_ARTIFACT_TYPE } from '../src/artifact/signature-payload.js';
import { OCI_MANIFEST_MEDIA_TYPE } from '../src/registry/oci.js';
import type { BenchWorld, SignedImage } from './fixtures.js';
import { compareProcesses, traceProcess, type ProcessRun, type ProcessSpec, type TracedRun } from './measure-process.js';
import { BASELINE_NODE, EXECUTABLE } from './paths.js';
import { median, type TracedRequest } from './stats.js';

/** A process-level figure: median wall time and peak RSS, and both as ratios to `node -e 0`. */
export interface ProcessFigure {
  name: string;
  wallMs: number;
  maxRssKb?: number;
  wallRatio: number;
  rssRatio?: number;
  /** Instrumented runs only: requests made, by server, and how many were sequential. */
  requests?: { total: number; byServer: Record<string, number>; sequential: number; networkMs: number };
}

/** The floor: the same Node runtime as the executable's, doing nothing. */
const BASELINE: ProcessSpec = { command: BASELINE_NODE, args: ['-e', '0'] };

function figures(result: Awaited<ReturnType<typeof compareProcesses>>): ProcessFigure[] {
  const base = result.variants[0]!;
  return result.variants.map((v) => ({
    name: v.name,
    wallMs: v.wallMs,
    ...(v.maxRssKb !== undefined ? { maxRssKb: v.maxRssKb } : {}),
    wallRatio: v.wallMs / base.wallMs,
    ...(v.maxRssKb !== undefined && base.maxRssKb !== undefined ? { rssRatio: v.maxRssKb / base.maxRssKb } : {}),
  }));
}

/** Section 1: process startup, `atproto-verifier --version` against bare Node. */
export async function benchStartup(runs: number, version: string, compare?: { label: string; executable: string }): Promise<ProcessFigure[]> {
  const versionOf = (name: string, executable: string) => ({
    name,
    spec: () => ({ command: executable, args: ['--version'] }),
    check: (run: ProcessRun) => {
      if (run.exitCode !== 0 || !/^\d+\.\d+\.\d+/.test(run.stdout.trim())) throw new Error(`${executable} --version printed ${JSON.stringify(run.stdout)} (exit ${run.exitCode})`);
      if (executable === EXECUTABLE && !run.stdout.startsWith(`${version} (node `)) throw new Error(`--version printed ${run.stdout.trim()}, package.json says ${version}`);
    },
  });
  const result = await compareProcesses(
    [
      { name: '`node -e 0`', spec: () => BASELINE },
      versionOf('`atproto-verifier --version`', EXECUTABLE),
      ...(compare ? [versionOf(`\`atproto-verifier --version\` (${compare.label})`, compare.executable)] : []),
    ],
    runs,
  );
  return figures(result);
}

/** The Ratify VERIFY call for one signed image, exactly as Ratify's executor makes it. */
function verifyCall(world: BenchWorld, v: PluginVariant, cacheDir: string | undefined): ProcessSpec {
  const image = v.image;
  const stdin = JSON.stringify({
    config: {
      name: 'atproto-verifier',
      type: 'atproto-verifier',
      artifactTypes: SIGNATURE_ARTIFACT_TYPE,
      trustPolicyPath: world.policyPath,
      plcDirectory: v.plcDirectory ?? world.net.plcUrl,
      handleResolver: v.handleResolver ?? world.net.pdsUrl,
      allowPrivateNetwork: true,
      ...(cacheDir ? { cacheDir } : { cacheEnabled: false }),
    },
    storeConfig: { version: '1.0.0', pluginBinDirs: null, store: { name: 'oras', useHttp: true } },
    referenceDesc: { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: image.referrer.digest, size: image.referrer.size, artifactType: SIGNATURE_ARTIFACT_TYPE },
  });
  return {
    command: v.executable ?? EXECUTABLE,
    args: [],
    stdin,
    env: {
      RATIFY_VERIFIER_COMMAND: 'VERIFY',
      RATIFY_VERIFIER_SUBJECT: image.reference,
      RATIFY_VERIFIER_VERSION: '1.0.0',
      // No ~/.docker/config.json of whoever runs the benchmark.
      DOCKER_CONFIG: join(world.dir, 'no-docker-config'),
    },
  };
}

function expectVerified(run: ProcessRun): void {
  const line = run.stdout.trim().split('\n').pop() ?? '';
  let result: { isSuccess?: boolean; message?: string } = {};
  try {
    result = JSON.parse(line) as typeof result;
  } catch {
    // reported below
  }
  if (run.exitCode !== 0 || result.isSuccess !== true) {
    throw new Error(`plugin did not verify the image (exit ${run.exitCode}): ${run.stdout.trim()} ${run.stderr.trim()}`);
  }
}

export interface PluginVariant {
  name: string;
  image: SignedImage;
  /** Another build to compare (BENCH_COMPARE_EXECUTABLE); dist/atproto-verifier by default. */
  executable?: string;
  /** PLC directory and handle resolver to use instead of the local ones (latency proxies). */
  plcDirectory?: string;
  handleResolver?: string;
}

/**
 * Section 2: one VERIFY per process, cold (empty cache directory) and warm (the directory a
 * previous run filled), against `node -e 0` in the same interleaved rounds. Then a few
 * instrumented runs of each to count requests and the sequential round trips among them.
 */
export async function benchPluginVerify(
  world: BenchWorld,
  variants: PluginVariant[],
  runs: number,
  traceRuns: number,
  modes: readonly ('cold' | 'warm')[] = ['cold', 'warm'],
): Promise<ProcessFigure[]> {
  const root = mkdtempSync(join(tmpdir(), 'atproto-verifier-bench-cache-'));
  try {
    const warmDirs = variants.map((_, i) => join(root, `warm-${i}`));
    let coldDir = '';
    let coldCount = 0;
    const freshColdDir = () => {
      if (coldDir) rmSync(coldDir, { recursive: true, force: true });
      coldDir = join(root, `cold-${coldCount++}`);
      mkdirSync(coldDir, { mode: 0o700 });
    };
    const specs = variants.flatMap((v, i) => [
      ...(modes.includes('cold') ? [{ name: `VERIFY, cold cache${v.name}`, spec: () => verifyCall(world, v, coldDir), before: freshColdDir, check: expectVerified }] : []),
      ...(modes.includes('warm') ? [{ name: `VERIFY, warm cache${v.name}`, spec: () => verifyCall(world, v, warmDirs[i]), check: expectVerified }] : []),
    ]);
    const result = await compareProcesses([{ name: '`node -e 0`', spec: () => BASELINE }, ...specs], runs);
    const out = figures(result);

    for (const [i, spec] of specs.entries()) {
      const traced: TracedRun[] = [];
      for (let t = 0; t < traceRuns; t++) {
        spec.before?.();
        const run = await traceProcess(spec.spec());
        expectVerified(run.run);
        traced.push(run);
      }
      out[i + 1]!.requests = summarize(traced);
    }
    return out;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Which server a request went to. Every server is on loopback, so tell them apart by API path. */
export function serverOf(r: TracedRequest): string {
  if (r.path.startsWith('/v2/') || r.path.startsWith('/token')) return 'registry';
  if (r.path.startsWith('/xrpc/')) return 'PDS';
  if (r.path.startsWith('/did:')) return 'PLC';
  return 'other';
}

function summarize(traced: TracedRun[]): NonNullable<ProcessFigure['requests']> {
  const byServer: Record<string, number> = {};
  const last = traced[traced.length - 1]!;
  for (const r of last.requests) byServer[serverOf(r)] = (byServer[serverOf(r)] ?? 0) + 1;
  return {
    total: median(traced.map((t) => t.requests.length)),
    byServer,
    sequential: median(traced.map((t) => t.depth)),
    networkMs: median(traced.map((t) => t.networkMs)),
  };
}
