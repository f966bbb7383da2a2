import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HTTP_TRACE } from './paths.js';
import { criticalPathMs, median, sequentialDepth, type TracedRequest } from './stats.js';

/**
 * Runs short-lived processes and measures them from outside: wall time from spawn to exit (the
 * parent's clock), and peak RSS from GNU time's `%M` (the kernel's ru_maxrss of the child). When
 * /usr/bin/time is missing, RSS is left unmeasured rather than guessed. Round trips are counted in
 * separate, instrumented runs (bench/http-trace.cjs preloaded), so the hook never skews a timing.
 *
 * Every process gets Ratify's environment, not the benchmark's: Ratify passes a plugin its own
 * environment, which holds PATH and HOME and no NODE_* variables; the RATIFY_VERIFIER_* variables
 * come with each spec. (This machine sets NODE_EXTRA_CA_CERTS, which alone adds about 40 ms to
 * every Node start: inheriting it would hide the distance to the floor.)
 */
export function ratifyEnvironment(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...extra };
}

export interface ProcessRun {
  wallMs: number;
  maxRssKb?: number;
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ProcessSpec {
  command: string;
  args: string[];
  env?: Record<string, string>;
  stdin?: string;
}

const GNU_TIME = '/usr/bin/time';
export const canMeasureRss = existsSync(GNU_TIME);

let scratch: string | undefined;
function scratchDir(): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'atproto-verifier-bench-'));
  return scratch;
}
let counter = 0;

export function cleanupScratch(): void {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
}

/**
 * Drops `path` from the page cache (dd's `nocache` is posix_fadvise DONTNEED), so its pages come
 * back the way an executable's normally do: faulted in on first use. A just-written file sits in
 * the page cache in large folios, which a process maps whole: the same executable then shows
 * 10-15 MB more peak RSS than after a reboot. Best effort: without dd the figures are as they come.
 */
export function evictFromPageCache(path: string): void {
  spawnSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none'], { stdio: 'ignore' });
}

export async function runProcess(spec: ProcessSpec, opts: { traceFile?: string } = {}): Promise<ProcessRun> {
  const rssFile = canMeasureRss ? join(scratchDir(), `rss-${counter++}`) : undefined;
  const env = ratifyEnvironment(spec.env);
  if (opts.traceFile) {
    env.BENCH_TRACE_FILE = opts.traceFile;
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --require ${HTTP_TRACE}`.trim();
  }
  const [command, args] = rssFile ? [GNU_TIME, ['-f', '%M', '-o', rssFile, spec.command, ...spec.args]] : [spec.command, spec.args];
  const started = performance.now();
  const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.on('error', () => undefined);
  child.stdin.end(spec.stdin ?? '');
  const exitCode = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${spec.command} did not exit within 30 s`));
    }, 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code ?? -1);
    });
  });
  const wallMs = performance.now() - started;
  let maxRssKb: number | undefined;
  if (rssFile && existsSync(rssFile)) {
    // GNU time prints "Command exited with non-zero status N" before the figure on failure.
    const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
    const value = Number(lines[lines.length - 1]);
    if (Number.isFinite(value)) maxRssKb = value;
    rmSync(rssFile, { force: true });
  }
  return { wallMs, ...(maxRssKb !== undefined ? { maxRssKb } : {}), exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

export interface Comparison {
  /** Median wall time and peak RSS per variant, in the order given. */
  variants: { name: string; wallMs: number; maxRssKb?: number; runs: ProcessRun[] }[];
}

/**
 * Runs each variant `runs` times, interleaved (A B C A B C ...) so drift on a shared machine hits
 * every variant alike, after one unmeasured warm-up round (page cache, first exec). `before` runs
 * ahead of each measured run of a variant, untimed (e.g. emptying a cache directory).
 */
export async function compareProcesses(
  variants: { name: string; spec: () => ProcessSpec; before?: () => void | Promise<void>; check?: (run: ProcessRun) => void }[],
  runs: number,
): Promise<Comparison> {
  const samples = variants.map(() => [] as ProcessRun[]);
  for (let round = -1; round < runs; round++) {
    for (const [i, v] of variants.entries()) {
      await v.before?.();
      const run = await runProcess(v.spec());
      v.check?.(run);
      if (round >= 0) samples[i]!.push(run);
    }
  }
  return {
    variants: variants.map((v, i) => {
      const rss = samples[i]!.map((r) => r.maxRssKb).filter((x): x is number => x !== undefined);
      return {
        name: v.name,
        wallMs: median(samples[i]!.map((r) => r.wallMs)),
        ...(rss.length ? { maxRssKb: median(rss) } : {}),
        runs: samples[i]!,
      };
    }),
  };
}

export interface TracedRun {
  run: ProcessRun;
  requests: TracedRequest[];
  depth: number;
  /** Time waiting on the network along the critical path (criticalPathMs). */
  networkMs: number;
}

/** One instrumented run: which requests the process made, and how many were sequential. */
export async function traceProcess(spec: ProcessSpec): Promise<TracedRun> {
  const traceFile = join(scratchDir(), `trace-${counter++}.json`);
  const run = await runProcess(spec, { traceFile });
  const data = JSON.parse(readFileSync(traceFile, 'utf8')) as { requests: TracedRequest[] };
  rmSync(traceFile, { force: true });
  return { run, requests: data.requests, depth: sequentialDepth(data.requests), networkMs: criticalPathMs(data.requests) };
}
