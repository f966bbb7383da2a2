import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real CNCF distribution 2.8 registry (Debian's `docker-registry`) on loopback. */
export interface RegistryServer {
  /** `127.0.0.1:<port>`, the registry part of image references. */
  host: string;
  /** `http://…` or `https://…` base URL. */
  url: string;
  close(): Promise<void>;
}

export interface RegistryServerOptions {
  /** Require Basic auth (htpasswd, bcrypt) for this user. */
  htpasswd?: { username: string; password: string };
  /** Require bearer tokens from this token service (distribution token auth), signed by rootCert. */
  token?: { realm: string; service: string; issuer: string; rootCert: string };
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string; ca: string };
  binary?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Starts the registry with filesystem storage in a fresh temp dir; resolves once /v2/ answers. */
export async function startRegistry(options: RegistryServerOptions = {}): Promise<RegistryServer> {
  const dir = mkdtempSync(join(tmpdir(), 'atproto-verifier-registry-'));
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log: {level: error, accesslog: {disabled: true}}',
    `storage: {filesystem: {rootdirectory: "${join(dir, 'data')}"}, delete: {enabled: true}}`,
  ];
  if (options.tls) {
    writeFileSync(join(dir, 'cert.pem'), options.tls.cert);
    writeFileSync(join(dir, 'key.pem'), options.tls.key);
    lines.push(`http: {addr: "127.0.0.1:${port}", secret: devnet, tls: {certificate: "${join(dir, 'cert.pem')}", key: "${join(dir, 'key.pem')}"}}`);
  } else {
    lines.push(`http: {addr: "127.0.0.1:${port}", secret: devnet}`);
  }
  if (options.htpasswd) {
    const entry = execFileSync('htpasswd', ['-Bbn', options.htpasswd.username, options.htpasswd.password], { encoding: 'utf8' });
    writeFileSync(join(dir, 'htpasswd'), entry.trim() + '\n');
    lines.push(`auth: {htpasswd: {realm: devnet, path: "${join(dir, 'htpasswd')}"}}`);
  }
  if (options.token) {
    writeFileSync(join(dir, 'token-root.pem'), options.token.rootCert);
    const t = options.token;
    lines.push(`auth: {token: {realm: "${t.realm}", service: "${t.service}", issuer: "${t.issuer}", rootcertbundle: "${join(dir, 'token-root.pem')}"}}`);
  }
  writeFileSync(join(dir, 'config.yml'), lines.join('\n') + '\n');
  const child: ChildProcess = spawn(options.binary ?? 'docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const server: RegistryServer = {
    host: `127.0.0.1:${port}`,
    url,
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitUntilUp(url, options.tls?.ca, () => child.exitCode !== null);
  } catch (err) {
    await server.close();
    throw new Error(`docker-registry did not start: ${(err as Error).message}\n${stderr}`);
  }
  return server;
}

async function waitUntilUp(url: string, ca: string | undefined, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (exited()) throw new Error('the process exited');
    const status = await new Promise<number>((resolve) => {
      const transport = url.startsWith('https') ? https : http;
      const req = transport.get(`${url}/v2/`, { ...(ca ? { ca } : {}), agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
    });
    if (status === 200 || status === 401) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out waiting for /v2/');
}
