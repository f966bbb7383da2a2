import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { verifyRecordProof } from '../src/atproto/record-proof.js';
import { freePort } from '../src/devnet/registry-server.js';
import { resolveDid } from '../src/identity/resolve-did.js';
import { makeTestCa } from '../test/harness/certs.js';
import { startWorld } from './fixtures.js';
import { EXECUTABLE } from './paths.js';

/**
 * Issue 12 item 3: provider CPU per key for a NEW image of a KNOWN publisher: the publisher's DID
 * document and handle are cached (one image verified first), the result cache is cold (every key
 * is an image never seen). The provider runs as deployed (`serve`, HTTPS, keep-alive client);
 * keys are sent one at a time so the figure is one verification's CPU, TLS and HTTP included.
 * CPU comes from /proc/<pid>/stat (10 ms ticks), so each round answers enough keys to make the
 * tick small against the total. Run: node scripts/build.mjs && node bench/run-cpu-per-key.mjs
 * (ATPROTO_VERIFIER_EXECUTABLE=... to measure another build).
 */

const ROUNDS = Number(process.env.CPU_ROUNDS ?? 5);
const KEYS_PER_ROUND = Number(process.env.CPU_KEYS ?? 40);
/**
 * New images verified before the measured rounds: a provider runs for days, so the figure is its
 * steady state, with V8's optimising compiler done with the hot paths (the first hundred keys
 * cost about twice as much).
 */
const WARMUP_KEYS = Number(process.env.CPU_WARMUP ?? 300);
/** CPU_EMBED=1: the payload also travels in the layer descriptor, as `sign` writes it (one registry request fewer). */
const EMBED = process.env.CPU_EMBED === '1';

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
async function engineProofCpu(world: Awaited<ReturnType<typeof startWorld>>, images: { reference: string; did: string }[]): Promise<{ firstMs: number; medianMs: number }> {
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

async function main(): Promise<void> {
  const world = await startWorld({ publishers: 1 });
  const ca = makeTestCa('cpu bench');
  const leaf = ca.issue({ cn: 'localhost', ips: ['127.0.0.1'] });
  writeFileSync(join(world.dir, 'tls.crt'), leaf.cert);
  writeFileSync(join(world.dir, 'tls.key'), leaf.key);
  const images = await world.signImages(1 + WARMUP_KEYS + ROUNDS * KEYS_PER_ROUND, { embedPayload: EMBED });
  const port = await freePort();
  const child = spawn(EXECUTABLE, ['serve'], {
    env: {
      ...(process.env as Record<string, string>),
      HTTP_PORT: String(port),
      HEALTH_PORT: 'off',
      TLS_CERT_FILE: join(world.dir, 'tls.crt'),
      TLS_KEY_FILE: join(world.dir, 'tls.key'),
      TRUST_POLICY_PATH: world.policyPath,
      PLC_DIRECTORY: world.net.plcUrl,
      HANDLE_RESOLVER: world.net.pdsUrl,
      ALLOW_PRIVATE_NETWORK: 'true',
      REGISTRY_PLAIN_HTTP: 'true',
      CACHE_ENABLED: 'true',
      LOG_LEVEL: 'error',
      REQUEST_BUDGET: '2900ms',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `https://127.0.0.1:${port}/provide`;
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert });
  try {
    for (let i = 0; ; i++) {
      try {
        await post(agent, url, images[0]!.reference); // the known publisher: DID document and handle now cached
        break;
      } catch {
        if (i > 200) throw new Error('provider did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    for (const image of images.slice(1, 1 + WARMUP_KEYS)) {
      const value = await post(agent, url, image.reference);
      if (!value.isSuccess) throw new Error(`not verified: ${value.message}`);
    }
    const perKey: number[] = [];
    const userPerKey: number[] = [];
    const systemPerKey: number[] = [];
    const perSecond: number[] = [];
    const precisePerKey: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const keys = images.slice(1 + WARMUP_KEYS + round * KEYS_PER_ROUND, 1 + WARMUP_KEYS + (round + 1) * KEYS_PER_ROUND);
      const before = cpuMsOf(child.pid!);
      const preciseBefore = preciseCpuMsOf(child.pid!);
      const started = performance.now();
      for (const image of keys) {
        const value = await post(agent, url, image.reference);
        if (!value.isSuccess) throw new Error(`not verified: ${value.message}`);
      }
      const seconds = (performance.now() - started) / 1000;
      const after = cpuMsOf(child.pid!);
      const preciseAfter = preciseCpuMsOf(child.pid!);
      if (preciseBefore !== undefined && preciseAfter !== undefined) precisePerKey.push((preciseAfter - preciseBefore) / keys.length);
      userPerKey.push((after.user - before.user) / keys.length);
      systemPerKey.push((after.system - before.system) / keys.length);
      perKey.push((after.user + after.system - before.user - before.system) / keys.length);
      perSecond.push(keys.length / seconds);
    }
    const engine = await engineProofCpu(world, images);
    console.log(JSON.stringify({ executable: EXECUTABLE, embeddedPayload: EMBED, engineProofFirstMs: engine.firstMs, engineProofMedianMs: engine.medianMs, warmupKeys: WARMUP_KEYS, rounds: ROUNDS, keysPerRound: KEYS_PER_ROUND, cpuMsPerKey: perKey, medianCpuMsPerKey: median(perKey), medianUserMsPerKey: median(userPerKey), medianSystemMsPerKey: median(systemPerKey), medianKeysPerSecond: Math.round(median(perSecond)), ...(precisePerKey.length ? { preciseCpuMsPerKey: precisePerKey.map((x) => Math.round(x * 1000) / 1000), medianPreciseCpuMsPerKey: median(precisePerKey), minPreciseCpuMsPerKey: Math.min(...precisePerKey) } : {}) }));
  } finally {
    agent.destroy();
    child.kill('SIGTERM');
    ca.dispose();
    await world.close();
  }
}

await main();
