/**
 * The PLC directory and the PDS misbehaving (hang, reset, 500, drip, 1 GiB, garbage): every
 * verification must end in its typed code within the configured timeout, read no more than the
 * cap of a hostile body, and leave nothing behind: the same verification run as a separate Node
 * process (verify-child.ts, bundled with esbuild) must exit by itself right after answering.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import type { ErrorCode } from '../../src/errors.js';
import { DEFAULT_SETTINGS, type VerifierSettings } from '../../src/verify/settings.js';
import { Verifier } from '../../src/verify/verifier.js';
import { loadCorpus } from '../adversarial/corpus.js';
import { FAULT_MODES, startFaultServer, type FaultMode, type FaultServer } from './fault-server.js';

const TIMEOUT_MS = 500;
/** Scheduling slack on a shared 2-core machine; a missed timeout would take seconds, not this. */
const SLACK_MS = 1500;
const SUBJECT = `sha256:${'ab'.repeat(32)}`;
const RKEY = '3lbk2ozq2dk2a';

const PLC_EXPECT: Record<FaultMode, ErrorCode> = {
  hang: 'DID_RESOLUTION_FAILED',
  reset: 'DID_RESOLUTION_FAILED',
  resetmidbody: 'DID_RESOLUTION_FAILED',
  error: 'DID_RESOLUTION_FAILED',
  drip: 'DID_RESOLUTION_FAILED',
  huge: 'RESPONSE_TOO_LARGE',
  hugedeclared: 'RESPONSE_TOO_LARGE',
  garbage: 'DID_RESOLUTION_FAILED',
};
const PDS_EXPECT: Record<FaultMode, ErrorCode> = {
  hang: 'PDS_FETCH_FAILED',
  reset: 'PDS_FETCH_FAILED',
  resetmidbody: 'PDS_FETCH_FAILED',
  error: 'PDS_FETCH_FAILED',
  drip: 'PDS_FETCH_FAILED',
  huge: 'RESPONSE_TOO_LARGE',
  hugedeclared: 'RESPONSE_TOO_LARGE',
  garbage: 'CAR_INVALID',
};

let server: FaultServer;
let bundleDir: string;
let bundle: string;

beforeAll(async () => {
  server = await startFaultServer(loadCorpus().world.signers.k256.publicKeyMultibase);
  bundleDir = mkdtempSync(join(tmpdir(), 'verify-child-'));
  bundle = join(bundleDir, 'verify-child.cjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./verify-child.ts', import.meta.url))],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'error',
  });
});
afterEach(() => server.dropConnections());
afterAll(async () => {
  await server?.close();
  rmSync(bundleDir, { recursive: true, force: true });
});

function settings(overrides: Partial<VerifierSettings> = {}): VerifierSettings {
  return {
    ...DEFAULT_SETTINGS,
    plcDirectory: server.plcDirectory,
    allowPrivateNetwork: true,
    cacheEnabled: false,
    didResolverTimeoutMs: TIMEOUT_MS,
    pdsTimeoutMs: TIMEOUT_MS,
    ...overrides,
  };
}

const payloadFor = (did: string) => buildSignaturePayload({ subjectDigest: SUBJECT, did, recordUri: `at://${did}/io.atcr.manifest/${RKEY}` });

/** A case: the PLC directory misbehaving (any DID), or the PDS misbehaving (a DID naming the mode). */
function faultCase(target: 'plc' | 'pds', mode: FaultMode): { settings: VerifierSettings; did: string } {
  if (target === 'plc') return { settings: settings({ plcDirectory: server.faultyPlc(mode) }), did: 'did:plc:faultyplc222222222222222' };
  return { settings: settings(), did: server.didFor(mode) };
}

async function verifyTimed(target: 'plc' | 'pds', mode: FaultMode, signal?: AbortSignal) {
  const { settings: s, did } = faultCase(target, mode);
  const started = Date.now();
  const outcome = await new Verifier(s, { handleResolver: async () => undefined }).verify({ subjectDigest: SUBJECT, payload: payloadFor(did), ...(signal ? { signal } : {}) });
  return { code: outcome.isSuccess ? 'OK' : outcome.error!.code, ms: Date.now() - started, outcome };
}

describe.each(['plc', 'pds'] as const)('%s faults, in process', (target) => {
  const expected = target === 'plc' ? PLC_EXPECT : PDS_EXPECT;
  it.each(FAULT_MODES)(`${target} %s`, async (mode) => {
    server.bytesWritten.clear();
    const rssBefore = process.memoryUsage().rss;
    const { code, ms, outcome } = await verifyTimed(target, mode);
    expect(code, outcome.message).toBe(expected[mode]);
    expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    if (mode === 'huge' || mode === 'hugedeclared') {
      // The cap (1 MiB for a PLC audit log, 2 MiB for a proof) trips while streaming: the server
      // got to write only what fits in the cap plus socket buffers, never the gigabyte.
      expect(server.bytesWritten.get(mode) ?? 0).toBeLessThan(16 * 1024 * 1024);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(128 * 1024 * 1024);
    }
  });
});

describe('one deadline over the whole verification', () => {
  it.each(['plc', 'pds'] as const)('a hanging %s with generous per-step timeouts is cut by the request signal (DEADLINE_EXCEEDED)', async (target) => {
    const { settings: s, did } = faultCase(target, 'hang');
    const started = Date.now();
    const outcome = await new Verifier({ ...s, didResolverTimeoutMs: 30_000, pdsTimeoutMs: 30_000 }, { handleResolver: async () => undefined }).verify({
      subjectDigest: SUBJECT,
      payload: payloadFor(did),
      signal: AbortSignal.timeout(300),
    });
    expect(outcome.error?.code).toBe('DEADLINE_EXCEEDED');
    expect(Date.now() - started).toBeLessThan(300 + SLACK_MS);
  });
});

describe('keep-alive connections the server closed meanwhile', () => {
  it('do not fail the next verification (the stale pooled socket is retried once on a fresh one)', async () => {
    const first = await verifyTimed('pds', 'garbage');
    expect(first.code).toBe('CAR_INVALID');
    server.dropConnections(); // as a PLC or PDS does with idle keep-alive connections, here racing the next request
    const second = await verifyTimed('pds', 'garbage');
    expect(second.code, second.outcome.message).toBe('CAR_INVALID');
  });
});

describe('no leaked sockets or timers: the verification as its own process exits right after answering', () => {
  const runs = [...FAULT_MODES.map((m) => ['plc', m] as const), ...FAULT_MODES.map((m) => ['pds', m] as const)];
  it(`${runs.length} faults, each in a fresh Node process`, async () => {
    const results: string[] = [];
    // Two at a time: the machine has two cores.
    for (let i = 0; i < runs.length; i += 2) {
      const batch = runs.slice(i, i + 2);
      const done = await Promise.all(batch.map(([target, mode]) => runChild(target, mode)));
      for (const [j, r] of done.entries()) {
        const [target, mode] = batch[j]!;
        results.push(`${target} ${mode}: ${r.code} answered in ${r.answeredMs} ms, exited ${r.exitedMs - r.answeredMs} ms later`);
        expect(r.code, `${target} ${mode}`).toBe((target === 'plc' ? PLC_EXPECT : PDS_EXPECT)[mode]);
        expect(r.answeredMs, `${target} ${mode} answer`).toBeLessThan(TIMEOUT_MS + SLACK_MS);
        // Exit follows the answer at once: nothing (socket, interval, ref'd timer) holds the loop.
        expect(r.exitedMs - r.answeredMs, `${target} ${mode} exit`).toBeLessThan(1000);
      }
    }
    console.log(results.join('\n'));
  }, 60_000);
});

async function runChild(target: 'plc' | 'pds', mode: FaultMode): Promise<{ code: string; answeredMs: number; exitedMs: number }> {
  const { settings: s, did } = faultCase(target, mode);
  const input = { settings: s, subjectDigest: SUBJECT, payload: payloadFor(did) };
  const child = spawn(process.execPath, [bundle, JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let started = 0;
  let answeredAt = 0;
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!answeredAt && out.includes('\n')) answeredAt = Date.now();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exitedAt = await new Promise<number>((resolve, reject) => {
    const kill = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${target} ${mode}: child did not exit within 10 s (leaked handle?) stdout=${out} stderr=${err}`));
    }, 10_000);
    child.on('close', () => {
      clearTimeout(kill);
      resolve(Date.now());
    });
  });
  const answer = JSON.parse(out.trim() || '{}') as { code?: string; ms?: number };
  if (!answer.code) throw new Error(`${target} ${mode}: no answer; stderr=${err}`);
  // The child's own clock measures the verification; exit is timed from when its answer arrived.
  started = answeredAt - (answer.ms ?? 0);
  return { code: answer.code, answeredMs: answer.ms ?? 0, exitedMs: exitedAt - started };
}
