import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { closeIdleConnections } from '../net/guarded-fetch.js';
import type { TrustPolicy } from '../policy/trust-policy.js';
import type { RegistryClient } from '../registry/client.js';
import { RegistryPool } from '../registry/registry-pool.js';
import { registryNetworkFor } from '../verify/registry-admission.js';
import { Verifier } from '../verify/verifier.js';
import { BatchVerifier, type Engine } from './batch.js';
import type { ProviderConfig } from './config.js';
import { API_VERSION, parseProviderRequest, ProtocolError, providerResponse, systemErrorResponse, type ResponseItem } from './gatekeeper-protocol.js';
import type { Logger } from './log.js';
import { createMetrics, type ProviderMetrics } from './metrics.js';
import { mutationAnswer } from './mutation-answer.js';
import { PolicyWatcher, type PolicyStatus } from './policy-watcher.js';
import { readTlsMaterial } from './tls-files.js';

/**
 * The provider's HTTP faces: POST /provide (verdicts) and POST /mutate (the verified digest, for
 * Gatekeeper's Assign mutators) over HTTPS (mTLS when a client CA is configured), and
 * GET /health, /ready, /metrics on the same port and on a plain-HTTP port for kubelet probes and
 * Prometheus, which present no client certificate. Protocol in, BatchVerifier, protocol out: no
 * verification logic lives here.
 */

/** A ProviderRequest is a list of image references: 1 MiB is far more than any Pod needs. */
export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * Idle keep-alive connections stay open longer than Go's http.Transport keeps them (90 s), so
 * Gatekeeper always closes first and never sends a request on a socket we are closing.
 */
const KEEP_ALIVE_TIMEOUT_MS = 120_000;
/** How often the TLS files are re-read for rotations: cheap, and rotations are rare. */
const TLS_RELOAD_MS = 30_000;

export interface ProviderServerOptions {
  config: ProviderConfig;
  version: string;
  log: Logger;
  /** Registry clients per host; by default shared clients with docker config.json credentials. */
  registryFor?: (registry: string) => RegistryClient;
  /** How often the TLS files are re-read (default 30 s). */
  tlsReloadMs?: number;
}

export interface ProviderServer {
  /** `https://host:port` of /provide and /mutate. */
  url: string;
  port: number;
  /** `http://host:port` of the plain health and metrics listener, when enabled. */
  healthUrl?: string;
  metrics: ProviderMetrics;
  batch: BatchVerifier;
  policy: PolicyWatcher;
  /** Stop accepting, finish in-flight requests (at most the budget plus a margin), release everything. */
  shutdown(): Promise<void>;
}

export async function startProviderServer(opts: ProviderServerOptions): Promise<ProviderServer> {
  const { config, log, version } = opts;
  // Unreadable certificate files are a configuration error: report it before anything starts.
  let tls = readTlsMaterial(config.tls);
  const metrics = createMetrics();
  let engine: Engine | undefined;
  // Registry clients in a bounded LRU keyed by canonical host, with the docker config read once
  // per policy reload; each registry's network rules come from the policy in force (issue 15).
  const pool = new RegistryPool({
    networkFor: (host) => registryNetworkFor(engine?.policy, host, { allowPrivateNetwork: config.settings.allowPrivateNetwork, plainHttp: config.plainHttp }),
    // No per-call signal on shared clients: bound each registry request by the verification limit.
    timeoutMs: Math.min(config.settings.pdsTimeoutMs, config.verifyTimeoutMs),
    debug: (message) => log.debug('registry', { detail: message }),
  });
  const registryFor = opts.registryFor ?? ((registry: string) => pool.clientFor(registry));

  const policy = new PolicyWatcher(config.trustPolicyPath, {
    pollMs: config.policyPollMs,
    log,
    metrics,
    onPolicy: (p: TrustPolicy) => {
      engine = { policy: p, verifier: new Verifier(config.settings, { policy: p }) };
      pool.reload();
    },
  });
  await policy.start();

  const batch = new BatchVerifier({
    budgetMs: config.budgetMs,
    verifyTimeoutMs: config.verifyTimeoutMs,
    maxConcurrent: config.maxConcurrentVerifications,
    cache: { enabled: config.settings.cacheEnabled, ttlMs: config.settings.cacheTtlMs, maxEntries: config.cacheMaxEntries },
    engine: () => engine,
    registryFor,
    metrics,
    log,
  });

  let draining = false;
  const ready = (): { ok: boolean; body: Record<string, unknown> } => {
    const status: PolicyStatus = policy.status;
    if (draining) return { ok: false, body: { status: 'shutting down', version, policy: status } };
    if (!status.loaded) return { ok: false, body: { status: 'not ready', reason: `no valid trust policy: ${status.lastError ?? 'not loaded yet'}`, version, policy: status } };
    return { ok: true, body: { status: 'ready', version, policy: status } };
  };

  const ops = async (req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<boolean> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (path === '/health') sendJson(res, 200, { status: 'ok', version });
    else if (path === '/ready') {
      const r = ready();
      sendJson(res, r.ok ? 200 : 503, r.body);
    } else if (path === '/metrics') {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    } else return false;
    return true;
  };

  /** One external data face: Gatekeeper's request in, items from the shared BatchVerifier out. */
  interface ExternalDataFace {
    name: 'provide' | 'mutate';
    answer(keys: string[]): Promise<ResponseItem[]>;
    requests: ProviderMetrics['requests'];
    duration?: ProviderMetrics['requestDuration'];
  }

  // A Map, not an object literal: a path such as /constructor must not find a prototype member.
  const faces = new Map<string, ExternalDataFace>(Object.entries({
    '/provide': { name: 'provide', answer: (keys) => batch.answer(keys), requests: metrics.requests, duration: metrics.requestDuration },
    '/mutate': {
      name: 'mutate',
      answer: async (keys) => {
        const verdicts = await batch.verdicts(keys);
        return verdicts.map((verdict, i) => {
          const { item, outcome } = mutationAnswer(keys[i]!, verdict);
          metrics.mutations.inc({ result: outcome });
          return item;
        });
      },
      requests: metrics.mutateRequests,
    },
  }));

  const externalData = async (face: ExternalDataFace, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    let status = 200;
    let keys = 0;
    try {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        throw new ProtocolError(`${req.method} is not allowed: POST a ProviderRequest`, 405);
      }
      const body = await readBody(req, MAX_BODY_BYTES);
      const request = parseProviderRequest(body, { maxKeys: config.maxKeys });
      keys = request.keys.length;
      const items = await face.answer(request.keys);
      if (draining) res.setHeader('connection', 'close');
      sendJson(res, 200, providerResponse(request, items));
      const refused = items.filter((i) => i.error !== undefined).length;
      log.info(face.name, { shape: request.shape, keys, refused, durationMs: elapsedMs(started) });
    } catch (err) {
      const e = err instanceof ProtocolError ? err : new ProtocolError(`internal error: ${err instanceof Error ? err.message : String(err)}`, 500);
      status = e.status;
      if (draining) res.setHeader('connection', 'close');
      // Fail closed: a systemError denies every image of the request in the constraint template,
      // and fails the mutation (failurePolicy Fail) for the mutators.
      sendJson(res, status, systemErrorResponse({ shape: e.shape, apiVersion: API_VERSION }, e.message));
      (status >= 500 ? log.error : log.warn)(`${face.name} refused`, { status, keys, reason: e.message, durationMs: elapsedMs(started) });
    } finally {
      face.requests.inc({ status: String(status) });
      face.duration?.observe(elapsedMs(started) / 1000);
    }
  };

  const handler = (withExternalData: boolean) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    void (async () => {
      const face = withExternalData ? faces.get(path) : undefined;
      if (face) return externalData(face, req, res);
      if (await ops(req, res, path)) return;
      sendJson(res, 404, { error: `no route ${req.method} ${path}: POST /provide, POST /mutate, GET /health, /ready, /metrics` });
    })().catch((err: unknown) => {
      log.error('request handler failed', { path, reason: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };

  const server = https.createServer({ ...tls.options, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, handler(true));
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on('tlsClientError', (err: Error & { code?: string }) => {
    log.debug('TLS handshake refused', { reason: err.message, code: err.code });
  });
  const tlsReload = setInterval(() => {
    try {
      const next = readTlsMaterial(config.tls);
      if (next.fingerprint === tls.fingerprint) return;
      server.setSecureContext(next.options);
      tls = next;
      log.info('TLS certificate or client CA reloaded', { certFile: config.tls.certFile, clientCaFile: config.tls.clientCaFile });
    } catch (err) {
      log.error('TLS files unreadable; keeping the ones in use', { reason: err instanceof Error ? err.message : String(err) });
    }
  }, opts.tlsReloadMs ?? TLS_RELOAD_MS);
  tlsReload.unref();

  const health = config.healthPort === null ? undefined : http.createServer(handler(false));

  try {
    await listen(server, config.port, config.host);
    if (health) await listen(health, config.healthPort!, config.host);
  } catch (err) {
    clearInterval(tlsReload);
    server.close();
    health?.close();
    policy.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const host = hostForUrl(config.host);
  const healthPort = health ? (health.address() as AddressInfo).port : undefined;
  log.info('provider listening', {
    version,
    port,
    ...(healthPort !== undefined ? { healthPort } : {}),
    mtls: config.tls.clientCaFile !== undefined,
    budgetMs: config.budgetMs,
    policy: policy.status,
  });

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    shutdownPromise ??= (async () => {
      draining = true;
      log.info('shutting down: no new connections, finishing in-flight requests');
      clearInterval(tlsReload);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (health) {
        health.close();
        health.closeAllConnections();
      }
      // In-flight requests end within the budget; past it plus a margin, cut what is left.
      const grace = new Promise<'grace'>((resolve) => setTimeout(() => resolve('grace'), config.budgetMs + 2000).unref());
      if ((await Promise.race([closed, grace])) === 'grace') {
        log.warn('connections still open after the grace period: closing them');
        server.closeAllConnections();
      }
      batch.close();
      policy.close();
      pool.closeAll();
      closeIdleConnections();
      log.info('shut down');
    })();
    return shutdownPromise;
  };

  return {
    url: `https://${host}:${port}`,
    port,
    ...(healthPort !== undefined ? { healthUrl: `http://${host}:${healthPort}` } : {}),
    metrics,
    batch,
    policy,
    shutdown,
  };
}

function listen(server: http.Server, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if (host) server.listen(port, host, done);
    else server.listen(port, done);
  });
}

function hostForUrl(host: string | undefined): string {
  if (!host || host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

function elapsedMs(started: bigint): number {
  return Number((process.hrtime.bigint() - started) / 1000n) / 1000;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Reads the body up to `max` bytes; more is refused (413) before it is all buffered. */
function readBody(req: http.IncomingMessage, max: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    return Promise.reject(new ProtocolError(`request body of ${declared} bytes is above the ${max} byte limit`, 413));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(new ProtocolError(`request body is above the ${max} byte limit`, 413));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
      } catch {
        reject(new ProtocolError('request body is not valid UTF-8'));
      }
    });
    req.on('error', reject);
  });
}
