/**
 * Issue 15 through the two faces that take image strings from others: the Gatekeeper provider
 * (over HTTPS with mTLS, in-process) and `verify` (verifyImageWithFlags, what the command runs).
 *
 * Real loopback servers play every part. One seam, as in ssrf.test.ts: 127.0.0.2 counts as a
 * public address (the address policy is wrapped; every other address is judged by the real one),
 * so the "public registry" an attacker runs can live on this machine. 127.0.0.1 is the internal
 * network: a service that must never be reached, and that records any connection it gets.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verificationJson, verifyImageWithFlags } from '../../src/cli/verify-command.js';
import { formatVerification } from '../../src/cli/report.js';
import { createLogger, type LogLevel } from '../../src/provider/log.js';
import { startMtlsProvider, type MtlsProvider } from '../harness/mtls-provider.js';
import { call, providerRequest } from '../provider/https-client.js';

vi.mock('../../src/net/address-policy.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/net/address-policy.js')>();
  return { ...real, isNonPublicAddress: (address: string) => (address === '127.0.0.2' ? false : real.isNonPublicAddress(address)) };
});

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const SECRET_BODY = 'SECRET-BODY-aws-key-AKIA0000';
const SECRET_PASSWORD = 'SECRET-PASSWORD-hunter2';
const SECRET_REFRESH = 'SECRET-REFRESH-TOKEN-xyz';

interface Recorder {
  server: http.Server;
  port: number;
  connections: number;
  requests: { method: string; url: string; authorization?: string; body: string }[];
}

async function listen(host: string, handler: (rec: Recorder, req: http.IncomingMessage, res: http.ServerResponse, body: string) => void): Promise<Recorder> {
  const rec: Recorder = { server: undefined as unknown as http.Server, port: 0, connections: 0, requests: [] };
  rec.server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      rec.requests.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), body });
      handler(rec, req, res, body);
    });
  });
  rec.server.on('connection', () => rec.connections++);
  await new Promise<void>((resolve) => rec.server.listen(0, host, resolve));
  rec.port = (rec.server.address() as AddressInfo).port;
  return rec;
}

let internal: Recorder;
let collector: Recorder;
/** Two "public" registries on 127.0.0.2: one with Basic credentials, one with an identity token. */
let basicRegistry: Recorder;
let tokenRegistry: Recorder;
let dir: string;
let savedDockerConfig: string | undefined;

/** What the attacker's registry does, chosen by the first repository component. */
function attackerRegistry(rec: Recorder, req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const scenario = path.split('/')[2] ?? '';
  const go = (location: string): void => void res.writeHead(307, { location }).end();
  switch (scenario) {
    case 'redirect-private':
      return go(`http://127.0.0.1:${internal.port}/latest/meta-data/iam/security-credentials/`);
    case 'redirect-localhost':
      return go(`http://localhost:${internal.port}/admin`);
    case 'realm-private':
      return void res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${internal.port}/token",service="x"` }).end();
    case 'collector-bearer':
      return go(`http://127.0.0.2:${collector.port}/bearer${path}`);
    case 'collector-basic':
      return go(`http://127.0.0.2:${collector.port}/basic${path}`);
    case 'link-relative':
    case 'link-absolute': {
      if (!path.includes('/referrers/')) return void res.writeHead(404).end();
      const next =
        scenario === 'link-relative'
          ? `//127.0.0.2:${collector.port}/v2/app/referrers/${DIGEST}?page=2`
          : `http://127.0.0.2:${collector.port}/v2/app/referrers/${DIGEST}?page=2`;
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', link: `<${next}>; rel="next"` });
      return void res.end(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
    }
    case 'secret-500':
      return void res.writeHead(500, { 'content-type': 'text/plain' }).end(SECRET_BODY);
    case 'secret-404':
      return void res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: SECRET_BODY }] }));
    case 'secret-403':
      return void res.writeHead(403).end(`${SECRET_BODY}\u001b[2J\r\nforged: log line`);
    default:
      return void res.writeHead(404).end();
  }
}

beforeAll(async () => {
  internal = await listen('127.0.0.1', (_rec, _req, res) => res.end(SECRET_BODY));
  collector = await listen('127.0.0.2', (_rec, req, res) => {
    if ((req.url ?? '').startsWith('/basic')) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="collector"' }).end();
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.2:${collector.port}/token",service="collector"` }).end();
  });
  basicRegistry = await listen('127.0.0.2', attackerRegistry);
  tokenRegistry = await listen('127.0.0.2', attackerRegistry);
  dir = mkdtempSync(join(tmpdir(), 'registry-confinement-'));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      auths: {
        [`127.0.0.2:${basicRegistry.port}`]: { auth: Buffer.from(`alice:${SECRET_PASSWORD}`).toString('base64') },
        [`127.0.0.2:${tokenRegistry.port}`]: { identitytoken: SECRET_REFRESH },
      },
    }),
  );
  savedDockerConfig = process.env.DOCKER_CONFIG;
  process.env.DOCKER_CONFIG = dir;
});

afterAll(async () => {
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG;
  else process.env.DOCKER_CONFIG = savedDockerConfig;
  await Promise.all([internal, collector, basicRegistry, tokenRegistry].map((r) => r && new Promise((resolve) => r.server.close(resolve))));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function writePolicy(name: string, scope: string, defaultAction = 'deny'): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    `version: "1.0"\ndefaultAction: ${defaultAction}\ntrustedDIDs:\n  ${DID}: {}\npolicies:\n  - name: ${name}\n    scope: "${scope}"\n    trustedDIDs: [${DID}]\n    action: enforce\n`,
  );
  return path;
}

interface Provider {
  mtls: MtlsProvider;
  logs: { level: LogLevel; line: string }[];
  ask(keys: string[]): Promise<{ text: string; items: { key: string; error?: string; value: { isSuccess: boolean; audit: boolean; error?: { code: string } } }[] }>;
}

async function provider(policyPath: string, env: Record<string, string> = {}): Promise<Provider> {
  const logs: { level: LogLevel; line: string }[] = [];
  const mtls = await startMtlsProvider({
    env: { HEALTH_PORT: 'off', TRUST_POLICY_PATH: policyPath, REGISTRY_PLAIN_HTTP: 'true', CACHE_ENABLED: 'false', REQUEST_BUDGET: '2s', ...env },
    version: 'confinement',
    log: createLogger('debug', (level, line) => logs.push({ level, line })),
  });
  return {
    mtls,
    logs,
    async ask(keys) {
      const r = await call(`${mtls.server.url}/provide`, { ...mtls.asGatekeeper, body: providerRequest(keys), timeoutMs: 10_000 });
      expect(r.status).toBe(200);
      return { text: r.text, items: r.json.response.items };
    },
  };
}

const codeOf = (item: { value: { error?: { code: string } } }) => item.value.error?.code;

describe('policy before network: an image no scope covers costs no socket', () => {
  const keys = () => [
    `127.0.0.1:${internal.port}/latest/meta-data:x`,
    `localhost:${internal.port}/a/b:c`,
    `127.0.0.1:${internal.port}/app@${DIGEST}`,
  ];

  it('the provider refuses unscoped images with NO_POLICY and the internal host gets no connection, even with private networks allowed', async () => {
    const p = await provider(writePolicy('unscoped-deny', 'registry.example/**'), { ALLOW_PRIVATE_NETWORK: 'true' });
    try {
      const { items } = await p.ask(keys());
      expect(items.map(codeOf)).toEqual(['NO_POLICY', 'NO_POLICY', 'NO_POLICY']);
      expect(items.every((i) => i.error?.includes('[NO_POLICY]'))).toBe(true);
    } finally {
      await p.mtls.close();
    }
    expect(internal.connections).toBe(0);
  });

  it('with defaultAction allow or audit the default decision applies without network', async () => {
    for (const action of ['allow', 'audit']) {
      const p = await provider(writePolicy(`unscoped-${action}`, 'registry.example/**', action), { ALLOW_PRIVATE_NETWORK: 'true' });
      try {
        const { items } = await p.ask(keys());
        expect(items.map((i) => [i.value.isSuccess, i.value.audit, i.error])).toEqual(keys().map(() => [true, action === 'audit', undefined]));
      } finally {
        await p.mtls.close();
      }
    }
    expect(internal.connections).toBe(0);
  });

  it('verify refuses an unscoped image with NO_POLICY without contacting its registry', async () => {
    const policy = writePolicy('unscoped-verify', 'registry.example/**');
    for (const image of keys()) {
      const result = await verifyImageWithFlags(image, { policy, allowPrivateNetwork: true, plainHttp: true });
      expect(result.isSuccess).toBe(false);
      expect(result.decisive.error?.code).toBe('NO_POLICY');
    }
    expect(internal.connections).toBe(0);
  });
});

describe('registries pass the address guard: scoped is not enough', () => {
  it('a scoped image on a loopback registry is NETWORK_DENIED without allowPrivateNetwork, by IP literal and by name, in both faces', async () => {
    const images = [`127.0.0.1:${internal.port}/app:1`, `localhost:${internal.port}/app:1`, `[::ffff:127.0.0.1]:${internal.port}/app:1`];
    const p = await provider(writePolicy('everything', '**'));
    try {
      const { items } = await p.ask(images);
      expect(items.map(codeOf)).toEqual(['NETWORK_DENIED', 'NETWORK_DENIED', 'NETWORK_DENIED']);
    } finally {
      await p.mtls.close();
    }
    const policy = writePolicy('everything-verify', '**');
    for (const image of images) {
      expect((await verifyImageWithFlags(image, { policy, plainHttp: true })).decisive.error?.code).toBe('NETWORK_DENIED');
    }
    expect(internal.connections).toBe(0);
  });

  it('redirects and token realms are checked at each hop: a public registry cannot bounce us onto the internal network', async () => {
    const reg = `127.0.0.2:${basicRegistry.port}`;
    const images = [`${reg}/redirect-private/app:1`, `${reg}/redirect-localhost/app:1`, `${reg}/realm-private/app:1`];
    const p = await provider(writePolicy('public', `${reg}/**`));
    try {
      const { items, text } = await p.ask(images);
      expect(items.map(codeOf)).toEqual(['NETWORK_DENIED', 'NETWORK_DENIED', 'NETWORK_DENIED']);
      // Where the registry tried to send us is its word: not in the answer.
      expect(text).not.toContain(String(internal.port));
      expect(text).not.toContain('localhost:');
    } finally {
      await p.mtls.close();
    }
    const policy = writePolicy('public-verify', `${reg}/**`);
    for (const image of images) {
      const result = await verifyImageWithFlags(image, { policy, plainHttp: true });
      expect(result.decisive.error?.code).toBe('NETWORK_DENIED');
      expect(JSON.stringify(verificationJson(result))).not.toContain(String(internal.port));
    }
    expect(internal.connections).toBe(0);
  });
});

describe('credentials stay home', () => {
  it('a collector behind a cross-origin redirect gets neither Basic credentials nor the identity token, from either face', async () => {
    const registries = [`127.0.0.2:${basicRegistry.port}`, `127.0.0.2:${tokenRegistry.port}`];
    const images = registries.flatMap((reg) => [`${reg}/collector-bearer/app:1`, `${reg}/collector-basic/app:1`]);
    const p = await provider(writePolicy('collect', '127.0.0.2:*/**'));
    try {
      const { items } = await p.ask(images);
      expect(items.map(codeOf)).toEqual(images.map(() => 'REGISTRY_AUTH_FAILED'));
    } finally {
      await p.mtls.close();
    }
    const policy = writePolicy('collect-verify', '127.0.0.2:*/**');
    for (const image of images) {
      expect((await verifyImageWithFlags(image, { policy, plainHttp: true })).decisive.error?.code).toBe('REGISTRY_AUTH_FAILED');
    }
    // The collector was reached (the redirect is legitimate for blobs), but learned nothing.
    expect(collector.requests.length).toBeGreaterThan(0);
    expect(collector.requests.filter((r) => r.authorization !== undefined)).toEqual([]);
    expect(collector.requests.filter((r) => r.url.startsWith('/token'))).toEqual([]);
    const seen = JSON.stringify(collector.requests);
    expect(seen).not.toContain(SECRET_REFRESH);
    expect(seen).not.toContain(Buffer.from(`alice:${SECRET_PASSWORD}`).toString('base64'));
  });

  it('a referrers Link header cannot move the next page to another host (protocol-relative or absolute)', async () => {
    const before = collector.requests.length;
    const reg = `127.0.0.2:${basicRegistry.port}`;
    const images = [`${reg}/link-relative/app@${DIGEST}`, `${reg}/link-absolute/app@${DIGEST}`];
    const p = await provider(writePolicy('link', `${reg}/**`));
    try {
      const { items } = await p.ask(images);
      expect(items.map(codeOf)).toEqual(['REGISTRY_ERROR', 'REGISTRY_ERROR']);
    } finally {
      await p.mtls.close();
    }
    const policy = writePolicy('link-verify', `${reg}/**`);
    for (const image of images) expect((await verifyImageWithFlags(image, { policy, plainHttp: true })).decisive.error?.code).toBe('REGISTRY_ERROR');
    expect(collector.requests.length).toBe(before);
  });
});

describe('nothing a remote host says is echoed', () => {
  it('a secret error body never reaches the response, the verify output, or the logs above debug', async () => {
    const reg = `127.0.0.2:${basicRegistry.port}`;
    const images = [`${reg}/secret-500/app:1`, `${reg}/secret-404/app:1`, `${reg}/secret-403/app:1`];
    const p = await provider(writePolicy('secret', `${reg}/**`));
    try {
      const { items, text } = await p.ask(images);
      expect(items.map(codeOf)).toEqual(['REGISTRY_ERROR', 'REGISTRY_ERROR', 'REGISTRY_AUTH_FAILED']);
      expect(text).not.toContain('SECRET');
      expect(p.logs.filter((l) => l.level !== 'debug' && l.line.includes('SECRET'))).toEqual([]);
      // At debug level the body may be logged: truncated, quoted, control characters escaped.
      const debug = p.logs.filter((l) => l.level === 'debug' && l.line.includes('SECRET'));
      expect(debug.length).toBeGreaterThan(0);
      for (const l of debug) {
        expect(l.line).not.toContain('\u001b');
        expect(l.line.split('\n')).toHaveLength(1);
      }
    } finally {
      await p.mtls.close();
    }
    const policy = writePolicy('secret-verify', `${reg}/**`);
    for (const image of images) {
      const result = await verifyImageWithFlags(image, { policy, plainHttp: true });
      expect(result.isSuccess).toBe(false);
      expect(JSON.stringify(verificationJson(result))).not.toContain('SECRET');
      expect(formatVerification(result)).not.toContain('SECRET');
    }
  });
});
