import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCa, type TestCa } from '../harness/certs.js';
import { call, eventually, providerRequest } from './https-client.js';

// `atproto-verifier serve` as Kubernetes runs it (the built CLI, in its own process), stopped
// with SIGTERM while a request is in flight. The request waits on a registry that accepts the
// connection and never answers, so it is still running when the signal arrives.

const CLI = resolve('dist/cli.js');
const BUDGET_MS = 1500;

let dir: string;
let serverCa: TestCa;
let gatekeeperCa: TestCa;
let client: { cert: string; key: string };
let silentRegistry: Server;
const sockets = new Set<Socket>();
let silentPort = 0;

beforeAll(async () => {
  expect(existsSync(CLI), `${CLI} is missing: run node scripts/build.mjs --bundle-only`).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'provider-shutdown-'));
  serverCa = makeTestCa('provider CA');
  gatekeeperCa = makeTestCa('gatekeeper CA');
  const server = serverCa.issue({ cn: 'localhost', ips: ['127.0.0.1'] });
  client = gatekeeperCa.issue({ cn: 'gatekeeper', clientAuth: true });
  writeFileSync(join(dir, 'tls.crt'), server.cert);
  writeFileSync(join(dir, 'tls.key'), server.key);
  writeFileSync(join(dir, 'client-ca.crt'), gatekeeperCa.cert);
  writeFileSync(join(dir, 'policy.yaml'), 'version: "1.0"\ntrustedDIDs:\n  did:plc:aaaaaaaaaaaaaaaaaaaaaaaa: {name: A}\npolicies:\n  - {name: all, scope: "**", trustedDIDs: [did:plc:aaaaaaaaaaaaaaaaaaaaaaaa]}\n');
  silentRegistry = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => silentRegistry.listen(0, '127.0.0.1', r));
  silentPort = (silentRegistry.address() as { port: number }).port;
});

afterAll(() => {
  for (const s of sockets) s.destroy();
  silentRegistry?.close();
  serverCa?.dispose();
  gatekeeperCa?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  lines: Record<string, any>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startServe(): Running {
  const child = spawn(process.execPath, [CLI, 'serve', '--budget', `${BUDGET_MS}ms`, '--plain-http', '--client-ca', join(dir, 'client-ca.crt')], {
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      DOCKER_CONFIG: join(dir, 'docker'),
      HTTP_PORT: '0',
      HEALTH_PORT: '0',
      TLS_CERT_FILE: join(dir, 'tls.crt'),
      TLS_KEY_FILE: join(dir, 'tls.key'),
      TRUST_POLICY_PATH: join(dir, 'policy.yaml'),
      // The silent registry is on loopback, which the address guard refuses otherwise.
      ALLOW_PRIVATE_NETWORK: 'true',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, any>[] = [];
  const collect = (stream: NodeJS.ReadableStream) => {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(JSON.parse(line));
      }
    });
  };
  collect(child.stdout!);
  collect(child.stderr!);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, lines, exited };
}

describe('serve, stopped with SIGTERM', () => {
  it('stops accepting, finishes the in-flight request, then exits 0', async () => {
    const serve = startServe();
    try {
      await eventually(() => serve.lines.some((l) => l.msg === 'provider listening'), 'the provider to listen', 10_000);
      const { port, healthPort, mtls } = serve.lines.find((l) => l.msg === 'provider listening')!;
      expect(mtls).toBe(true);
      expect((await call(`http://127.0.0.1:${healthPort}/ready`)).status).toBe(200);

      const key = `127.0.0.1:${silentPort}/app:v1`;
      const inFlight = call(`https://127.0.0.1:${port}/provide`, { ca: serverCa.cert, ...client, body: providerRequest([key]) });
      await eventually(() => sockets.size > 0, 'the provider to reach the silent registry');
      const signalled = performance.now();
      serve.child.kill('SIGTERM');

      // No new connections once the signal is handled.
      await eventually(() => serve.lines.some((l) => l.msg === 'shutting down: no new connections, finishing in-flight requests'), 'shutdown to start');
      await expect(
        new Promise((resolve, reject) => {
          const s = createConnection({ port, host: '127.0.0.1' }, () => {
            s.destroy();
            resolve('connected');
          });
          s.on('error', reject);
        }),
      ).rejects.toThrow(/ECONNREFUSED/);

      // The request in flight still gets its complete answer, at the budget.
      const reply = await inFlight;
      expect(reply.status).toBe(200);
      expect(reply.headers.connection).toBe('close');
      expect(reply.json.response.items).toEqual([
        expect.objectContaining({ key, error: expect.stringMatching(/^\[DEADLINE_EXCEEDED\]/), value: expect.objectContaining({ isSuccess: false }) }),
      ]);

      const { code, signal } = await serve.exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(performance.now() - signalled).toBeLessThan(BUDGET_MS + 2500);
      const messages = serve.lines.map((l) => l.msg);
      expect(messages.indexOf('provide')).toBeLessThan(messages.indexOf('shut down'));
      expect(serve.lines.find((l) => l.msg === 'signal received')).toMatchObject({ level: 'info', signal: 'SIGTERM' });
    } finally {
      serve.child.kill('SIGKILL');
    }
  });

  it('refuses to start without a certificate, with the reason and a non-zero exit', async () => {
    const child = spawn(process.execPath, [CLI, 'serve'], { env: { PATH: process.env.PATH, HOME: dir, TRUST_POLICY_PATH: join(dir, 'policy.yaml') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/INPUT_INVALID.*TLS certificate and key are required/);
  });
});
