import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/devnet/registry-server.js';
import { makeTestCa } from '../test/harness/certs.js';
import type { BenchWorld } from './fixtures.js';
import { canMeasureRss } from './measure-process.js';
import { EXECUTABLE, ROOT } from './paths.js';
import { fmt, percentile } from './stats.js';

/**
 * Section 4: the Gatekeeper provider, run as it is deployed (`atproto-verifier serve`, HTTPS),
 * loaded by a client that keeps its connections open as Gatekeeper does. One key per request, so
 * keys/s is requests/s and the latency is a key's. Keys cycle over the signed images.
 */
export interface ProviderConfig {
  requests: number;
  concurrency: number[];
  memoryRequests: number;
  /** Requests per concurrency level when every key is verified afresh. */
  uncachedRequests?: number;
}

export interface ProviderFigures {
  sections: string[];
}

interface LoadResult {
  concurrency: number;
  requests: number;
  keysPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  failures: number;
}

interface Provider {
  url: string;
  pid: () => number | undefined;
  /** Stops the provider; resolves with its peak RSS (kB) when measurable. */
  stop(): Promise<number | undefined>;
}

export function serveSupported(): boolean {
  return existsSync(join(ROOT, 'src/provider/serve-command.ts'));
}

async function startProvider(world: BenchWorld, dir: string, cached: boolean): Promise<Provider> {
  const [port, healthPort] = [await freePort(), await freePort()];
  const rssFile = join(dir, `rss-${port}`);
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    HTTP_PORT: String(port),
    HEALTH_PORT: String(healthPort),
    TLS_CERT_FILE: join(dir, 'tls.crt'),
    TLS_KEY_FILE: join(dir, 'tls.key'),
    TRUST_POLICY_PATH: world.policyPath,
    PLC_DIRECTORY: world.net.plcUrl,
    HANDLE_RESOLVER: world.net.pdsUrl,
    ALLOW_PRIVATE_NETWORK: 'true',
    REGISTRY_PLAIN_HTTP: 'true',
    CACHE_ENABLED: cached ? 'true' : 'false',
    LOG_LEVEL: 'error',
    // A loaded 2-core machine: do not let the budget turn slow verifications into errors.
    REQUEST_BUDGET: '2900ms',
    VERIFY_TIMEOUT: '10s',
  };
  const [command, args] = canMeasureRss ? ['/usr/bin/time', ['-f', '%M', '-o', rssFile, EXECUTABLE, 'serve']] : [EXECUTABLE, ['serve']];
  const child: ChildProcess = spawn(command, args as string[], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`provider exited: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`provider did not become ready: ${stderr}`);
    const ready = await fetch(`http://127.0.0.1:${healthPort}/health`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // Under GNU time the provider is time's only child.
  const pid = (): number | undefined => {
    if (!child.pid) return undefined;
    if (!canMeasureRss) return child.pid;
    try {
      return Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]) || undefined;
    } catch {
      return undefined;
    }
  };
  return {
    url: `https://127.0.0.1:${port}/provide`,
    pid,
    async stop() {
      const target = pid();
      if (target) process.kill(target, 'SIGTERM');
      else child.kill('SIGTERM');
      await exited;
      if (!existsSync(rssFile)) return undefined;
      const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
      const value = Number(lines[lines.length - 1]);
      return Number.isFinite(value) ? value : undefined;
    },
  };
}

/** CPU time (user + system, ms) a process has used, from /proc (clock ticks of 10 ms). */
function cpuMsOf(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // After "pid (comm) ", utime and stime are fields 12 and 13 (0-based), in USER_HZ (100).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

function rssOf(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function providerRequest(keys: string[]): string {
  return JSON.stringify({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys } });
}

function post(agent: https.Agent, url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `total` requests from `concurrency` workers, each key one of `keys` in turn. */
async function load(url: string, ca: string, keys: string[], total: number, concurrency: number, onProgress?: (done: number) => void): Promise<LoadResult> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca });
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  let firstFailure = '';
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const key = keys[i % keys.length]!;
      const t0 = performance.now();
      const reply = await post(agent, url, providerRequest([key]));
      latencies.push(performance.now() - t0);
      let ok = false;
      try {
        const item = (JSON.parse(reply.text) as { response?: { items?: { value?: { isSuccess?: boolean } }[] } }).response?.items?.[0];
        ok = reply.status === 200 && item?.value?.isSuccess === true;
      } catch {
        ok = false;
      }
      if (!ok) {
        failures++;
        firstFailure ||= `${reply.status} ${reply.text.slice(0, 300)}`;
      }
      onProgress?.(i + 1);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  const elapsed = (performance.now() - started) / 1000;
  if (failures > 0) process.stderr.write(`bench: provider: ${failures} of ${total} keys not verified, e.g. ${firstFailure}\n`);
  return { concurrency, requests: total, keysPerSecond: total / elapsed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), failures };
}

/** RSS of the provider sampled ten times over `total` cached requests (16 concurrent, keep-alive). */
async function memoryOverRequests(provider: Provider, ca: string, keys: string[], total: number): Promise<string> {
  const samples: { done: number; rssKb: number }[] = [];
  const step = Math.max(1, Math.floor(total / 10));
  const pid = provider.pid();
  const r = await load(provider.url, ca, keys, total, 16, (done) => {
    if (done % step !== 0) return;
    const rss = rssOf(pid);
    if (rss !== undefined) samples.push({ done, rssKb: rss });
  });
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last) return 'RSS could not be sampled (no /proc here).';
  const max = Math.max(...samples.map((s) => s.rssKb));
  const growth = ((last.rssKb - first.rssKb) / first.rssKb) * 100;
  return [
    `RSS ${fmt.mb(first.rssKb)} after ${first.done.toLocaleString('en-US')} requests, ${fmt.mb(last.rssKb)} after ${last.done.toLocaleString('en-US')}`,
    `(max ${fmt.mb(max)}, ${growth >= 0 ? '+' : ''}${growth.toFixed(1)}% from the first sample); ${fmt.rate(r.keysPerSecond)} keys/s, ${r.failures} failures.`,
    `Samples (requests: MB): ${samples.map((s) => `${s.done / 1000}k: ${(s.rssKb / 1024).toFixed(1)}`).join(', ')}.`,
  ].join(' ');
}

export async function benchProvider(world: BenchWorld, config: ProviderConfig): Promise<ProviderFigures | undefined> {
  if (!serveSupported()) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'atproto-verifier-bench-provider-'));
  const ca = makeTestCa('bench provider CA');
  try {
    const leaf = ca.issue({ cn: 'localhost', dns: ['localhost'], ips: ['127.0.0.1'] });
    writeFileSync(join(dir, 'tls.crt'), leaf.cert);
    writeFileSync(join(dir, 'tls.key'), leaf.key);
    // Images named by the registry itself (not by the latency proxy of section 2b, closed by now).
    const keys = world.images.filter((i) => i.reference.startsWith(`${world.registry.host}/`)).slice(0, 100).map((i) => i.reference);

    const rows: string[][] = [];
    const peaks: string[] = [];
    let memoryLine = '';
    for (const cached of [true, false]) {
      const provider = await startProvider(world, dir, cached);
      try {
        // Cached: every key verified once first, so the timed requests are cache hits.
        if (cached) await load(provider.url, ca.cert, keys, keys.length, 8);
        for (const concurrency of config.concurrency) {
          const total = cached ? config.requests : (config.uncachedRequests ?? Math.max(concurrency * 4, 100));
          const pid = provider.pid();
          const [cpuBefore, ownBefore] = [cpuMsOf(pid), process.cpuUsage()];
          const r = await load(provider.url, ca.cert, keys, total, concurrency);
          const cpuAfter = cpuMsOf(pid);
          const own = process.cpuUsage(ownBefore);
          const perKey = (ms: number | undefined) => (ms === undefined ? 'n/a' : fmt.ms(ms / total));
          rows.push([
            cached ? 'cached' : 'uncached',
            String(concurrency),
            String(r.requests),
            fmt.rate(r.keysPerSecond),
            fmt.ms(r.p50Ms),
            fmt.ms(r.p99Ms),
            String(r.failures),
            perKey(cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined),
            perKey((own.user + own.system) / 1000),
          ]);
        }
        if (cached) memoryLine = await memoryOverRequests(provider, ca.cert, keys, config.memoryRequests);
      } finally {
        const peak = await provider.stop();
        peaks.push(`${cached ? `cached (including the ${config.memoryRequests.toLocaleString('en-US')}-request run)` : 'uncached'} ${fmt.mb(peak)}`);
      }
    }

    return {
      sections: [
        '## 4. Provider (`atproto-verifier serve`, HTTPS, keep-alive client, one key per request)',
        'Cached: every image verified once before timing, so keys are answered from the result cache. Uncached: `CACHE_ENABLED=false`, so every key is verified afresh (DID document, handle, referrer, artifact, PDS proof) against the local PDS and registry, which share these 2 CPUs with the provider and the load generator.',
        'CPU per key: CPU time used by the provider process, and by the benchmark process (load generator, plus the PDS and PLC when uncached), divided by the keys answered. Keys/s on these 2 shared CPUs is bounded by their sum.',
        `| cache | concurrent requests | requests | keys/s | p50 | p99 | failures | provider CPU/key | benchmark CPU/key |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}`,
        `Peak RSS of each provider process: ${peaks.join(', ')}.`,
        `Memory over ${config.memoryRequests.toLocaleString('en-US')} cached requests (16 concurrent): ${memoryLine}`,
      ],
    };
  } finally {
    ca.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
