/**
 * A registry that lies or stalls, through RegistryClient and fetchSignatureArtifact. A real
 * registry (distribution) cannot be made to serve bytes that do not match their digest, hang or
 * answer a gigabyte, so a small node:http server stands in for it here, serving the corpus's real
 * referrer manifest and payload (test/adversarial/cases/manifest) and then tampering with them.
 * Each mode lives under its own repository: /v2/<mode>/app/...
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchSignatureArtifact } from '../../src/artifact/fetch-signature-artifact.js';
import type { ErrorCode } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import { codeOf, corpusBytes, loadCorpus } from '../adversarial/corpus.js';

const TIMEOUT_MS = 500;
const SLACK_MS = 1500;
const GIB = 1024 * 1024 * 1024;
const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const world = loadCorpus().world;
const REFERRER = corpusBytes('cases/manifest/valid.json');
const REFERRER_DIGEST = sha256(REFERRER);
const PAYLOAD = corpusBytes('cases/manifest/blobs/payload-valid.json');
const OTHER_PAYLOAD = corpusBytes('cases/manifest/blobs/payload-other-image.json');
const SUBJECT_MANIFEST = corpusBytes(world.registry.subjectManifest);
/** A referrer whose signature layer digest is a path, not a digest (served under its true digest). */
const PATH_LAYER = new TextEncoder().encode(
  new TextDecoder().decode(REFERRER).replace(sha256(PAYLOAD), 'sha256:../../../../v2/private/app/blobs/sha256:' + 'a'.repeat(64)),
);

let server: http.Server;
let registry: string;
const sockets = new Set<Socket>();
const bytesWritten = new Map<string, number>();
const requests: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://registry.invalid');
    if (url.pathname === '/v2/') return void res.writeHead(200).end('{}');
    const [, , mode, , kind, ...ref] = url.pathname.split('/'); // /v2/<mode>/app/<manifests|blobs>/<ref>
    const reference = decodeURIComponent(ref.join('/'));
    const send = (bytes: Uint8Array, type = 'application/vnd.oci.image.manifest.v1+json', headers: Record<string, string> = {}) =>
      res.writeHead(200, { 'content-type': type, 'content-length': String(bytes.length), ...headers }).end(Buffer.from(bytes));
    switch (mode) {
      case 'tampered-manifest':
        // The referrer asked for by its digest, with its subject swapped for another image.
        return send(new TextEncoder().encode(new TextDecoder().decode(REFERRER).replace(world.subjectDigest, world.otherDigest)));
      case 'tampered-blob':
        if (kind === 'manifests') return send(REFERRER);
        return send(OTHER_PAYLOAD, 'application/octet-stream');
      case 'honest':
        if (kind === 'manifests' && reference === REFERRER_DIGEST) return send(REFERRER);
        if (kind === 'manifests' && reference === sha256(PATH_LAYER)) return send(PATH_LAYER);
        if (kind === 'manifests' && reference === 'latest') return send(SUBJECT_MANIFEST, undefined, { 'docker-content-digest': REFERRER_DIGEST });
        if (kind === 'blobs' && reference === sha256(PAYLOAD)) return send(PAYLOAD, 'application/octet-stream');
        return void res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
      case 'hang':
        return;
      case 'reset':
        return void req.socket.resetAndDestroy();
      case 'error':
        return void res.writeHead(500).end('{"errors":[{"code":"UNKNOWN"}]}');
      case 'redirect-loop':
        return void res.writeHead(307, { location: req.url }).end();
      case 'redirect-file':
        return void res.writeHead(307, { location: 'file:///etc/passwd' }).end();
      case 'huge': {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent < GIB && !res.destroyed) {
            sent += chunk.length;
            bytesWritten.set(mode, (bytesWritten.get(mode) ?? 0) + chunk.length);
            if (!res.write(chunk)) return;
          }
          res.end();
        };
        res.on('drain', pump);
        return pump();
      }
      default:
        res.writeHead(404).end();
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  registry = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(() => {
  for (const s of sockets) s.destroy();
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

async function fetchFrom(mode: string, referrer = REFERRER_DIGEST): Promise<{ code: string; ms: number }> {
  const client = new RegistryClient({ registry, allowPrivateNetwork: true, useHttp: true, timeoutMs: TIMEOUT_MS });
  const started = Date.now();
  try {
    const code = await codeOf(() => fetchSignatureArtifact(client, `${mode}/app`, referrer, world.subjectDigest));
    return { code, ms: Date.now() - started };
  } finally {
    client.close();
  }
}

describe('a registry that lies', () => {
  it('control: the honest stand-in serves the corpus referrer and payload, which fetch cleanly', async () => {
    expect((await fetchFrom('honest')).code).toBe('OK');
  });

  it.each([
    ['tampered-manifest', 'ARTIFACT_DIGEST_MISMATCH', 'a manifest whose bytes do not hash to the digest asked for'],
    ['tampered-blob', 'ARTIFACT_DIGEST_MISMATCH', 'a payload blob whose bytes do not hash to its descriptor'],
  ] as [string, ErrorCode, string][])('%s is %s (%s)', async (mode, code) => {
    expect((await fetchFrom(mode)).code).toBe(code);
  });

  it('a tag resolves to the digest of the bytes served, never the Docker-Content-Digest header', async () => {
    const client = new RegistryClient({ registry, allowPrivateNetwork: true, useHttp: true, timeoutMs: TIMEOUT_MS });
    try {
      expect(await client.resolveDigest('honest/app', 'latest')).toBe(world.subjectDigest);
    } finally {
      client.close();
    }
  });

  it('a referrer or layer "digest" that is a path is refused before any request is built from it', async () => {
    requests.length = 0;
    expect((await fetchFrom('honest', 'sha256:../../../private/app/manifests/latest')).code).toBe('ARTIFACT_INVALID');
    expect(requests).toEqual([]);
    expect((await fetchFrom('honest', sha256(PATH_LAYER))).code).toBe('ARTIFACT_INVALID');
    expect(requests.some((r) => r.includes('private'))).toBe(false);
  });
});

describe('a registry that stalls or fails', () => {
  it.each([
    ['hang', 'REGISTRY_UNREACHABLE'],
    ['reset', 'REGISTRY_UNREACHABLE'],
    ['error', 'REGISTRY_ERROR'],
    ['redirect-loop', 'REGISTRY_ERROR'],
    ['redirect-file', 'NETWORK_DENIED'],
    ['huge', 'RESPONSE_TOO_LARGE'],
  ] as [string, ErrorCode][])('%s is %s, within the timeout', async (mode, code) => {
    bytesWritten.clear();
    const timers = activeTimers();
    const { code: got, ms } = await fetchFrom(mode);
    expect(got).toBe(code);
    expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    // The per-request timer is cleared whatever the outcome: nothing is left to fire later.
    expect(activeTimers()).toBeLessThanOrEqual(timers);
    if (mode === 'huge') expect(bytesWritten.get('huge') ?? 0).toBeLessThan(8 * 1024 * 1024);
  });
});

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}
