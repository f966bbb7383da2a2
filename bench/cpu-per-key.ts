import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { verifyRecordProof } from '../src/atproto/record-proof.js';
import { freePort } from '../src/devnet/registry-server.js';
import { resolveDid } from '../src/identity/resolve-did.js';
import { makeTestCa } from '../test/harness/certs.js';
import type { BenchWorld } from './fixtures.js';
import { EXECUTABLE } from './paths.js';

/**
 * Issue 12 item 3: provider CPU per key for a NEW image of a KNOWN publisher: the publisher's DID
 * document and handle are cached (one image verified first), the result cache is cold (every key
 * is an image never seen). The provider runs as deployed (`serve`, HTTPS, keep-alive client);
 * keys are sent one at a time so the figure is one verification's CPU, TLS and HTTP included.
 * Section 4b of `npm run bench`; alone: node scripts/build.mjs && node bench/run-cpu-per-key.mjs
 * (ATPROTO_VERIFIER_EXECUTABLE=... to measure another build; CPU_ROUNDS, CPU_KEYS, CPU_WARMUP,
 * CPU_EMBED=1).
 */

/** User and system CPU (ms) of a process, from /proc (USER_HZ = 100: 10 ms ticks). */
function cpuMsOf(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
}

/**
 * CPU time (ms, nanosecond resolution) of every thread of a process (main thread, libuv pool,
 * V8 helpers), from the scheduler's own accounting (/proc/<pid>/task/<tid>/schedstat): a round's
 * figure without the 10 ms tick of /proc/<pid>/stat.
 */
function preciseCpuMsOf(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e6;
  } catch {
    return undefined;
  }
}

/** The machine's CPU ticks in all and stolen by the hypervisor (/proc/stat), or undefined off Linux. */
function cpuStealTicks(): { total: number; steal: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7]! };
  } catch {
    return undefined;
  }
}

function stealShare(before: ReturnType<typeof cpuStealTicks>, after: ReturnType<typeof cpuStealTicks>): number | undefined {
  if (!before || !after || after.total === before.total) return undefined;
  return Math.round((1000 * (after.steal - before.steal)) / (after.total - before.total)) / 10;
}

function post(agent: https.Agent, url: string, key: string): Promise<{ isSuccess: boolean; message: string }> {
  const body = JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys: [key] } });
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')).response.items[0].value));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/**
 * The engine's own share, in this process with nothing else running: the proof chain of each
 * image's live getRecord CAR (CIDs, commit, ECDSA, MST walk, record decode), the CARs fetched
 * first. First call (cold JIT, no cached nodes or key objects) and steady-state median, in ms.
 */
async function engineProofCpu(world: BenchWorld, images: { reference: string; did: string }[]): Promise<{ firstMs: number; medianMs: number }> {
  const publisher = world.publishers[0]!;
  const identity = await resolveDid(publisher.did, { plcDirectory: world.net.plcUrl, timeoutMs: 5000, allowPrivateNetwork: true });
  const res = await fetch(`${world.net.pdsUrl}/xrpc/com.atproto.repo.listRecords?repo=${publisher.did}&collection=io.atcr.manifest&limit=100`);
  const { records } = (await res.json()) as { records: { uri: string }[] };
  const cars: { rkey: string; car: Uint8Array }[] = [];
  for (const r of records.slice(0, Math.min(records.length, images.length))) {
    const rkey = r.uri.split('/').pop()!;
    const got = await fetch(`${world.net.pdsUrl}/xrpc/com.atproto.sync.getRecord?did=${publisher.did}&collection=io.atcr.manifest&rkey=${rkey}`);
    cars.push({ rkey, car: new Uint8Array(await got.arrayBuffer()) });
  }
  const times: number[] = [];
  for (const { rkey, car } of cars) {
    const before = process.cpuUsage();
    verifyRecordProof(car, { did: publisher.did, collection: 'io.atcr.manifest', rkey, key: identity.signingKey });
    const used = process.cpuUsage(before);
    times.push((used.user + used.system) / 1000);
  }
  return { firstMs: times[0]!, medianMs: median(times.slice(1)) };
}

export interface CpuPerKeyOptions {
  rounds: number;
  keysPerRound: number;
  warmupKeys: number;
  /** The payload also in the layer descriptor (`data`), as `sign` writes it: one registry request fewer. */
  embed: boolean;
  executable?: string;
}

export interface CpuPerKeyFigure {
  embeddedPayload: boolean;
  warmupKeys: number;
  rounds: number;
  keysPerRound: number;
  /** Median over rounds of the provider's CPU per key (ms; per-thread schedstat, else /proc ticks). */
  medianCpuMsPerKey: number;
  cpuMsPerKeyByRound: number[];
  medianUserMsPerKey: number;
  medianSystemMsPerKey: number;
  medianKeysPerSecond: number;
  /**
   * CPU time the hypervisor gave other guests while the rounds ran, as a share of this machine's
   * CPU time (the `steal` column of /proc/stat): the same build measures up to 2x slower when it is high.
   */
  stealPercent: number | undefined;
  /** The engine's proof chain alone, in this process (first call and steady-state median). */
  engineProofFirstMs: number;
  engineProofMedianMs: number;
}

/** A provider as deployed (`serve`, HTTPS), and a keep-alive client that sends one key per request. */
interface RunningProvider {
  pid: number;
  /** Sends one key; throws unless it verified. */
  verified(reference: string): Promise<void>;
  close(): void;
}

async function startProvider(world: BenchWorld, label: string, firstKey: string, opts: { executable?: string; nodeOptions?: string }): Promise<RunningProvider> {
  const ca = makeTestCa('cpu bench');
  const leaf = ca.issue({ cn: 'localhost', ips: ['127.0.0.1'] });
  const certFile = join(world.dir, `cpu-tls-${label}.crt`);
  const keyFile = join(world.dir, `cpu-tls-${label}.key`);
  writeFileSync(certFile, leaf.cert);
  writeFileSync(keyFile, leaf.key);
  const port = await freePort();
  const child = spawn(opts.executable ?? EXECUTABLE, ['serve'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      HTTP_PORT: String(port),
      HEALTH_PORT: 'off',
      TLS_CERT_FILE: certFile,
      TLS_KEY_FILE: keyFile,
      TRUST_POLICY_PATH: world.policyPath,
      PLC_DIRECTORY: world.net.plcUrl,
      HANDLE_RESOLVER: world.net.pdsUrl,
      ALLOW_PRIVATE_NETWORK: 'true',
      REGISTRY_PLAIN_HTTP: 'true',
      CACHE_ENABLED: 'true',
      LOG_LEVEL: 'error',
      REQUEST_BUDGET: '2900ms',
      // For finding where the time goes or trying a V8 flag, never for the reported figures:
      // e.g. `--cpu-prof --cpu-prof-dir=D`, or `--perf-basic-prof` for `perf record`.
      ...(opts.nodeOptions ? { NODE_OPTIONS: opts.nodeOptions } : {}),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `https://127.0.0.1:${port}/provide`;
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert });
  const close = () => {
    agent.destroy();
    child.kill('SIGTERM');
    ca.dispose();
  };
  try {
    for (let i = 0; ; i++) {
      try {
        await post(agent, url, firstKey);
        break;
      } catch {
        if (i > 200) throw new Error('provider did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (err) {
    close();
    throw err;
  }
  return {
    pid: child.pid!,
    async verified(reference) {
      const value = await post(agent, url, reference);
      if (!value.isSuccess) throw new Error(`not verified: ${value.message}`);
    },
    close,
  };
}

/** One round: the provider's CPU per key (schedstat, else /proc ticks), user and system, keys/s. */
async function measureRound(provider: RunningProvider, keys: { reference: string }[]) {
  const before = cpuMsOf(provider.pid);
  const preciseBefore = preciseCpuMsOf(provider.pid);
  const started = performance.now();
  for (const image of keys) await provider.verified(image.reference);
  const seconds = (performance.now() - started) / 1000;
  const after = cpuMsOf(provider.pid);
  const preciseAfter = preciseCpuMsOf(provider.pid);
  const ticks = (after.user + after.system - before.user - before.system) / keys.length;
  return {
    cpuMsPerKey: preciseBefore !== undefined && preciseAfter !== undefined ? (preciseAfter - preciseBefore) / keys.length : ticks,
    userMsPerKey: (after.user - before.user) / keys.length,
    systemMsPerKey: (after.system - before.system) / keys.length,
    keysPerSecond: keys.length / seconds,
  };
}

/**
 * Provider CPU per key for new images of known publishers (issue 12, item 3), in `world`: the
 * provider as deployed (`serve`, HTTPS, keep-alive client), the publishers' DID documents and
 * handles cached by a first key, then `warmupKeys` unmeasured new images, then `rounds` rounds of
 * `keysPerRound` new images, one request at a time.
 */
export async function measureCpuPerNewImage(world: BenchWorld, opts: CpuPerKeyOptions): Promise<CpuPerKeyFigure> {
  // One image per publisher first, so every publisher is known before anything is measured.
  const known = await world.signImages(world.publishers.length, { embedPayload: opts.embed });
  const images = await world.signImages(opts.warmupKeys + opts.rounds * opts.keysPerRound, { embedPayload: opts.embed });
  const provider = await startProvider(world, opts.embed ? 'embed' : 'blob', known[0]!.reference, {
    executable: opts.executable,
    nodeOptions: process.env.CPU_NODE_OPTIONS,
  });
  try {
    for (const image of known.slice(1)) await provider.verified(image.reference);
    for (const image of images.slice(0, opts.warmupKeys)) await provider.verified(image.reference);
    const stealBefore = cpuStealTicks();
    const perKey: number[] = [];
    const userPerKey: number[] = [];
    const systemPerKey: number[] = [];
    const perSecond: number[] = [];
    for (let round = 0; round < opts.rounds; round++) {
      const keys = images.slice(opts.warmupKeys + round * opts.keysPerRound, opts.warmupKeys + (round + 1) * opts.keysPerRound);
      const r = await measureRound(provider, keys);
      perKey.push(r.cpuMsPerKey);
      userPerKey.push(r.userMsPerKey);
      systemPerKey.push(r.systemMsPerKey);
      perSecond.push(r.keysPerSecond);
    }
    const engine = await engineProofCpu(world, images);
    return {
      embeddedPayload: opts.embed,
      warmupKeys: opts.warmupKeys,
      rounds: opts.rounds,
      keysPerRound: opts.keysPerRound,
      medianCpuMsPerKey: median(perKey),
      cpuMsPerKeyByRound: perKey.map((x) => Math.round(x * 1000) / 1000),
      medianUserMsPerKey: median(userPerKey),
      medianSystemMsPerKey: median(systemPerKey),
      medianKeysPerSecond: Math.round(median(perSecond)),
      stealPercent: stealShare(stealBefore, cpuStealTicks()),
      engineProofFirstMs: engine.firstMs,
      engineProofMedianMs: engine.medianMs,
    };
  } finally {
    provider.close();
  }
}

export interface CpuVariant {
  label: string;
  executable?: string;
  nodeOptions?: string;
  /** New images this variant alone verifies after the common warm-up (to see how far the JIT has settled). */
  extraWarmup?: number;
  /** This variant's images carry the payload in the descriptor (`data`), or not; default: the run's. */
  embed?: boolean;
}

/**
 * A before/after comparison on a noisy shared machine: one provider per variant, each warmed with
 * the same new images, then every round's new images sent to each provider in turn (each has its
 * own result cache, so each image is new to each), the order rotating every round. Per variant:
 * median CPU per key; and the median over rounds of each variant's ratio to the first, which
 * drift on the machine hits alike.
 */
export async function compareCpuPerNewImage(world: BenchWorld, variants: CpuVariant[], opts: Omit<CpuPerKeyOptions, 'executable'>) {
  // One set of images per referrer shape the variants ask for, each image new to every provider.
  const extra = Math.max(0, ...variants.map((v) => v.extraWarmup ?? 0));
  const sets = new Map<boolean, { known: { reference: string }[]; extra: { reference: string }[]; images: { reference: string }[] }>();
  for (const embed of new Set(variants.map((v) => v.embed ?? opts.embed))) {
    sets.set(embed, {
      known: await world.signImages(world.publishers.length, { embedPayload: embed }),
      extra: extra ? await world.signImages(extra, { embedPayload: embed }) : [],
      images: await world.signImages(opts.warmupKeys + opts.rounds * opts.keysPerRound, { embedPayload: embed }),
    });
  }
  const setOf = (v: CpuVariant) => sets.get(v.embed ?? opts.embed)!;
  const providers: RunningProvider[] = [];
  try {
    for (const [i, v] of variants.entries()) providers.push(await startProvider(world, `variant${i}`, setOf(v).known[0]!.reference, v));
    for (const [i, provider] of providers.entries()) {
      const { known, images, extra: extraImages } = setOf(variants[i]!);
      const warmup = [...known.slice(1), ...images.slice(0, opts.warmupKeys), ...extraImages.slice(0, variants[i]!.extraWarmup ?? 0)];
      for (const image of warmup) await provider.verified(image.reference);
    }
    const perKey: number[][] = variants.map(() => []);
    for (let round = 0; round < opts.rounds; round++) {
      for (let j = 0; j < providers.length; j++) {
        const i = (round + j) % providers.length;
        const { images } = setOf(variants[i]!);
        const keys = images.slice(opts.warmupKeys + round * opts.keysPerRound, opts.warmupKeys + (round + 1) * opts.keysPerRound);
        perKey[i]!.push((await measureRound(providers[i]!, keys)).cpuMsPerKey);
      }
    }
    return variants.map((v, i) => ({
      label: v.label,
      medianCpuMsPerKey: median(perKey[i]!),
      medianRatioToFirst: median(perKey[i]!.map((x, round) => x / perKey[0]![round]!)),
      cpuMsPerKeyByRound: perKey[i]!.map((x) => Math.round(x * 1000) / 1000),
    }));
  } finally {
    for (const provider of providers) provider.close();
  }
}
