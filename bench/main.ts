import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureCpuPerNewImage, type CpuPerKeyFigure } from './cpu-per-key.js';
import { benchEngine, type EngineFigure } from './engine-bench.js';
import { startWorld, type BenchWorld } from './fixtures.js';
import { startLatencyProxy } from './latency-proxy.js';
import { canMeasureRss, cleanupScratch, evictFromPageCache } from './measure-process.js';
import { BASELINE_NODE, EXECUTABLE, ROOT } from './paths.js';
import { benchPluginVerify, benchStartup, type ProcessFigure } from './plugin-bench.js';
import { benchProvider, type ProviderFigures } from './provider-bench.js';
import { fmt } from './stats.js';

/**
 * `npm run bench`: starts the real local network, signs images, measures the four sections of
 * issue 6 and writes the table to bench/RESULTS.md. BENCH_SMOKE=1: a short run proving the
 * benchmark works (CI), written to BENCH_OUT or a temp file, never over the real results.
 */
const smoke = process.env.BENCH_SMOKE === '1';
const outPath = process.env.BENCH_OUT ?? (smoke ? join(tmpdir(), 'atproto-verifier-bench-smoke.md') : join(ROOT, 'bench/RESULTS.md'));

const config = smoke
  ? { startupRuns: 3, pluginRuns: 1, latencyRuns: 1, traceRuns: 1, engineSizes: [1, 5], engineVerifications: 10, publishers: 2, provider: { requests: 100, concurrency: [1, 16, 64], memoryRequests: 1_000, uncachedRequests: 32 }, cpuPerKey: { rounds: 2, keysPerRound: 5, warmupKeys: 5 } }
  : { startupRuns: 30, pluginRuns: 20, latencyRuns: 10, traceRuns: 3, engineSizes: [1, 10, 100], engineVerifications: 300, publishers: 4, provider: { requests: 5_000, concurrency: [1, 16, 64], memoryRequests: 100_000, uncachedRequests: 400 }, cpuPerKey: { rounds: 8, keysPerRound: 50, warmupKeys: 1000 } };

/** Simulated round trip added to every registry, PLC and handle request in section 2b. */
const LATENCY_MS = 50;

/** Another build measured alongside in sections 1 and 2 (e.g. the code before a change). */
const compare = process.env.BENCH_COMPARE_EXECUTABLE
  ? { executable: process.env.BENCH_COMPARE_EXECUTABLE, label: process.env.BENCH_COMPARE_LABEL ?? 'comparison build' }
  : undefined;

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** What the executable says it is: `0.1.0 (node v24.x.y, linux-x64)`. */
const executableVersion = spawnSync(EXECUTABLE, ['--version'], { encoding: 'utf8', env: {} }).stdout.trim();
const baselineVersion = spawnSync(BASELINE_NODE, ['--version'], { encoding: 'utf8', env: {} }).stdout.trim();
const sections: string[] = [];

const startedAt = performance.now();
function log(line: string): void {
  process.stderr.write(`bench: [${((performance.now() - startedAt) / 1000).toFixed(1)} s] ${line}\n`);
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function header(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return [
    `# Benchmark results${smoke ? ' (smoke run: too few samples to mean anything)' : ''}`,
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`npm run bench\` on ${availableParallelism()} CPUs (${cpu}),`,
    `Node ${process.version}, ${process.platform}/${process.arch} (the benchmark's own). Executable: \`${EXECUTABLE.replace(`${ROOT}/`, '')}\` (${executableVersion}).`,
    `The floor, \`node -e 0\`, is Node ${baselineVersion}: the runtime the executable embeds. Every process runs with Ratify's environment (PATH, HOME and the RATIFY_VERIFIER_* variables only), not the benchmark's.`,
    'Every figure is a median over repeated runs; ratios are against `node -e 0` measured in the same interleaved rounds.',
    canMeasureRss
      ? "Peak RSS is the kernel's ru_maxrss of the child (GNU time `%M`), with the executable dropped from the page cache first (see bench/README.md)."
      : 'Peak RSS: /usr/bin/time is missing here, so it is not measured.',
    'Targets and how to read this: bench/README.md.',
  ].join('\n');
}

function write(): void {
  writeFileSync(outPath, `${[header(), ...sections].join('\n\n')}\n`);
}

/**
 * One row per process figure. With requests traced, also the time waiting on the network along
 * the critical path, and the floor: bare Node's start plus that time, which no client can go below.
 */
function processRows(figures: ProcessFigure[]): string[][] {
  const node = figures[0]!.wallMs;
  return figures.map((f) => [
    f.name,
    fmt.ms(f.wallMs),
    fmt.ratio(f.wallRatio),
    fmt.mb(f.maxRssKb),
    f.rssRatio !== undefined ? fmt.ratio(f.rssRatio) : 'n/a',
    f.requests ? `${f.requests.total} (${Object.entries(f.requests.byServer).map(([k, v]) => `${k} ${v}`).join(', ')})` : '',
    f.requests ? String(f.requests.sequential) : '',
    f.requests ? fmt.ms(f.requests.networkMs) : '',
    f.requests ? `${fmt.ms(node + f.requests.networkMs)} (${fmt.ratio(f.wallMs / (node + f.requests.networkMs))})` : '',
  ]);
}

function engineRows(figures: EngineFigure[]): string[][] {
  return figures.map((f) => [
    String(f.images),
    fmt.rate(f.coldPerSecond),
    fmt.rate(f.warmPerSecond),
    fmt.ms(f.warmP50Ms),
    fmt.ms(f.warmP99Ms),
    String(f.requestsPerVerification),
    String(f.sequentialPerVerification),
  ]);
}

async function main(): Promise<void> {
  const started = performance.now();
  log(`${smoke ? 'smoke' : 'full'} run, executable ${EXECUTABLE}, results to ${outPath}`);

  // A freshly built executable's pages sit in the page cache as they were written; start from
  // how they are found in production (read back on demand), as /usr/bin/node's are.
  evictFromPageCache(EXECUTABLE);
  if (compare) evictFromPageCache(compare.executable);

  log('1. process startup');
  const startup = await benchStartup(config.startupRuns, version, compare);
  sections.push(
    `## 1. Plugin process startup (${config.startupRuns} runs each)`,
    table(['command', 'median wall', 'vs node', 'peak RSS', 'vs node', '', ''].slice(0, 5), processRows(startup).map((r) => r.slice(0, 5))),
  );
  write();

  log('starting PDS + PLC and registry, signing images');
  const world: BenchWorld = await startWorld({ publishers: config.publishers });
  try {
    await world.signImages(Math.max(...config.engineSizes));
    const [embedded] = await world.signImages(1, { embedPayload: true });

    log('2. one Ratify VERIFY per process');
    const plugin = await benchPluginVerify(
      world,
      [
        { name: '', image: world.images[0]! },
        { name: ', payload in descriptor `data`', image: embedded! },
        ...(compare ? [{ name: ` (${compare.label})`, image: world.images[0]!, executable: compare.executable }] : []),
      ],
      config.pluginRuns,
      config.traceRuns,
    );
    sections.push(
      `## 2. One Ratify VERIFY per process (${config.pluginRuns} runs each)`,
      'Cold: a fresh, empty `cacheDir` each run. Warm: the `cacheDir` an earlier run filled (DID document, handle, parsed trust policy).',
      'The first two rows verify a referrer whose payload is only a blob (as large payloads, and other signing tools, attach it); the last two one whose layer descriptor also embeds the payload (OCI `data`, what `sign` does for payloads up to 16 KiB), which the plugin reads without the blob request.',
      'Requests come from separate instrumented runs; "sequential" is the longest chain of requests each waiting for the previous one (the critical path, in round trips), and "network wait" the time from sending each of those requests to its last byte as the plugin saw it (the servers\' time plus any delay in the plugin\'s own busy event loop, so an upper bound on the servers\' part). "Floor" is `node -e 0` plus that network time: what a client that cost nothing would take.',
      table(['run', 'median wall', 'vs node', 'peak RSS', 'vs node', 'requests', 'sequential', 'network wait (critical path)', 'floor (vs floor)'], processRows(plugin)),
    );
    write();

    log(`2b. cold VERIFY, ${LATENCY_MS} ms per request`);
    const proxies = await Promise.all([world.registry.url, world.net.plcUrl, world.net.pdsUrl].map((url) => startLatencyProxy(url, LATENCY_MS)));
    try {
      const [registryProxy, plcProxy, pdsProxy] = proxies as [(typeof proxies)[0], (typeof proxies)[0], (typeof proxies)[0]];
      const [far] = await world.signImages(1, { registryName: registryProxy.host });
      const [farEmbedded] = await world.signImages(1, { registryName: registryProxy.host, embedPayload: true });
      const endpoints = { plcDirectory: plcProxy.url, handleResolver: pdsProxy.url };
      const distant = await benchPluginVerify(
        world,
        [
          { name: '', image: far!, ...endpoints },
          { name: ', payload in descriptor `data`', image: farEmbedded!, ...endpoints },
          ...(compare ? [{ name: ` (${compare.label})`, image: far!, executable: compare.executable, ...endpoints }] : []),
        ],
        config.latencyRuns,
        config.traceRuns,
        ['cold'],
      );
      sections.push(
        `## 2b. Cold VERIFY with ${LATENCY_MS} ms per registry, PLC and handle request (${config.latencyRuns} runs each)`,
        `On loopback a round trip costs well under a millisecond, which hides the critical path. Here a proxy holds each request to the registry, the PLC directory and the handle resolver for ${LATENCY_MS} ms (the PDS getRecord, whose endpoint comes from the DID document, stays direct): every sequential round trip shows as ${LATENCY_MS} ms.`,
        table(['run', 'median wall', 'vs node', 'peak RSS', 'vs node', 'requests', 'sequential', 'network wait (critical path)', 'floor (vs floor)'], processRows(distant)),
      );
      write();
    } finally {
      await Promise.all(proxies.map((p) => p.close()));
    }

    log('3. engine, in one process');
    const engine = await benchEngine(world, config.engineSizes, config.engineVerifications);
    sections.push(
      `## 3. Engine in one process (verifyImage, one after another)`,
      'Cold: the first pass over the images (DID documents and handles fetched). Warm: identities cached in memory; the referrer, the artifact and the PDS proof are fetched for every verification.',
      table(['distinct images', 'cold verif/s', 'warm verif/s', 'warm p50', 'warm p99', 'requests/verif', 'sequential/verif'], engineRows(engine)),
    );
    write();

    log('4. provider');
    const provider: ProviderFigures | undefined = await benchProvider(world, config.provider);
    if (provider) sections.push(...provider.sections);
    else sections.push('## 4. Provider', 'Not measured: the provider (src/provider/serve-command.ts) is not part of this build yet.');
    write();

    log('4b. provider CPU per new image of a known publisher');
    const perKey: CpuPerKeyFigure[] = [];
    for (const embed of [false, true]) perKey.push(await measureCpuPerNewImage(world, { ...config.cpuPerKey, embed }));
    const { warmupKeys, rounds, keysPerRound } = config.cpuPerKey;
    sections.push(
      '## 4b. Provider CPU per new image of a known publisher (issue 12)',
      `Every publisher's DID document and handle cached, the result cache cold: each key is an image never seen. The provider runs as deployed (\`serve\`, HTTPS, one keep-alive client, one key per request) and first answers ${warmupKeys} such keys unmeasured, to reach its steady state: V8 is still optimising the per-key code well past the first few hundred keys (after 300 keys, 109 more optimising compilations, 210 ms of compiler CPU, came during the next 1,000; a provider warmed with 1,300 keys used 15% less CPU per key than one warmed with 300, in the same interleaved rounds); then ${rounds} rounds of ${keysPerRound} keys. CPU is the provider's own, every thread, from the scheduler (/proc/<pid>/task/*/schedstat); the round trips to the registry and the PDS on these same 2 CPUs are not in it. "Host steal": CPU time the hypervisor gave other guests while the rounds ran (/proc/stat), a share of this machine's; the same build measures up to 2x slower when it is high. "Proof chain alone": the engine's CAR, commit, ECDSA and MST checks of one proof in the benchmark process (the provider remembers a commit whose signature verified, so this is an upper bound on its share).`,
      table(
        ['referrer', 'requests per key', 'keys/s', 'provider CPU/key (median of rounds)', 'user / system', 'rounds', 'proof chain alone (first / median)', 'host steal'],
        perKey.map((f) => [
          f.embeddedPayload ? 'payload also in the descriptor `data` (what `sign` writes)' : 'payload only in a blob',
          f.embeddedPayload ? '3 (tag index, referrer manifest, getRecord)' : '4 (tag index, referrer manifest, payload blob, getRecord)',
          String(f.medianKeysPerSecond),
          fmt.ms(f.medianCpuMsPerKey),
          `${fmt.ms(f.medianUserMsPerKey)} / ${fmt.ms(f.medianSystemMsPerKey)}`,
          f.cpuMsPerKeyByRound.map((x) => x.toFixed(2)).join(', '),
          `${fmt.ms(f.engineProofFirstMs)} / ${fmt.ms(f.engineProofMedianMs)}`,
          f.stealPercent === undefined ? 'n/a' : `${f.stealPercent}%`,
        ]),
      ),
    );
    write();
  } finally {
    await world.close();
    cleanupScratch();
  }
  sections.push(`Total benchmark time: ${((performance.now() - started) / 1000).toFixed(0)} s.`);
  write();
  process.stdout.write(readFileSync(outPath, 'utf8'));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
