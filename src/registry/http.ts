import http from 'node:http';
import type https from 'node:https';
import type { LookupFunction } from 'node:net';
import { VerificationError } from '../errors.js';
import { connectionTimedOut } from '../net/connection-timeout.js';
import { httpsModule } from '../net/lazy-https.js';

/** One HTTP exchange with a registry or its token service: bounded in time and in bytes. */
export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT';
  url: URL;
  headers?: Record<string, string>;
  body?: Uint8Array;
  maxBytes: number;
  timeoutMs: number;
  agent: http.Agent | https.Agent;
  ca?: string;
  signal?: AbortSignal;
  /** DNS lookup that refuses forbidden addresses before connecting (the address guard). */
  lookup?: LookupFunction;
  /**
   * What to call this exchange in messages, when its URL came from a remote host (a redirect, a
   * token realm): such URLs are never echoed back to the caller.
   */
  label?: string;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Uint8Array;
}

/** Node's socket error codes, told to an operator in words. */
function describeSocketError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name does not resolve';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return 'TLS handshake failed (is the registry plain HTTP? set useHttp)';
    default:
      if (err.code?.startsWith('ERR_TLS') || /certificate|self.signed|unable to verify/i.test(err.message)) {
        return `TLS certificate not trusted (${err.code ?? err.message}); add the registry CA`;
      }
      return err.code ?? err.message;
  }
}

/** A pooled connection the server had already closed: safe to retry an idempotent request once. */
class StaleConnection extends Error {}

/**
 * Sends one request without following redirects; the caller decides about `Location`. A GET or
 * HEAD that fails on a reused keep-alive socket the server closed meanwhile is retried once on a
 * fresh connection (Node's advice for `reusedSocket`), so the long-running provider does not
 * report a spurious REGISTRY_UNREACHABLE.
 */
export async function sendHttp(req: HttpRequest): Promise<HttpResponse> {
  try {
    return await sendOnce(req);
  } catch (err) {
    if (!(err instanceof StaleConnection)) throw err;
    return sendOnce(req, { retried: true });
  }
}

function sendOnce(req: HttpRequest, opts: { retried?: boolean } = {}): Promise<HttpResponse> {
  const where = req.label ?? `${req.method} ${req.url.origin}${req.url.pathname}`;
  return new Promise((resolve, reject) => {
    const isHttps = req.url.protocol === 'https:';
    const transport = isHttps ? httpsModule() : http;
    const started = Date.now();
    // Up once TCP (and TLS for https) is established; a pooled keep-alive socket already is.
    let connected = false;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outgoing.destroy();
      reject(err);
    };
    const timer = setTimeout(
      () =>
        fail(
          new VerificationError(
            'REGISTRY_UNREACHABLE',
            `${where}: ${connected ? `no complete answer within ${req.timeoutMs} ms` : connectionTimedOut(req.url, req.timeoutMs)}`,
          ),
        ),
      req.timeoutMs,
    );
    const onAbort = () =>
      fail(
        new VerificationError(
          'DEADLINE_EXCEEDED',
          `${where}: aborted (deadline reached)${connected ? '' : `; ${connectionTimedOut(req.url, Date.now() - started)}`}`,
        ),
      );
    if (req.signal?.aborted) {
      clearTimeout(timer);
      reject(new VerificationError('DEADLINE_EXCEEDED', `${where}: aborted (deadline reached)`));
      return;
    }
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const outgoing = transport.request(
      req.url,
      {
        method: req.method,
        headers: { 'user-agent': 'atproto-verifier', ...(req.body ? { 'content-length': String(req.body.length) } : {}), ...req.headers },
        agent: req.agent,
        ...(req.ca ? { ca: req.ca } : {}),
        ...(req.lookup ? { lookup: req.lookup } : {}),
      },
      (res) => {
        const declared = Number(res.headers['content-length']);
        // A HEAD answer declares the size of a body it does not send.
        if (req.method !== 'HEAD' && Number.isFinite(declared) && declared > req.maxBytes) {
          res.destroy();
          fail(new VerificationError('RESPONSE_TOO_LARGE', `${where}: response of ${declared} bytes exceeds the ${req.maxBytes}-byte limit`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > req.maxBytes) {
            res.destroy();
            fail(new VerificationError('RESPONSE_TOO_LARGE', `${where}: response exceeds the ${req.maxBytes}-byte limit`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => fail(new VerificationError('REGISTRY_UNREACHABLE', `${where}: ${describeSocketError(err)}`, { cause: err })));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          req.signal?.removeEventListener('abort', onAbort);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: new Uint8Array(Buffer.concat(chunks)) });
        });
      },
    );
    outgoing.on('socket', (socket) => {
      if (outgoing.reusedSocket) connected = true;
      else socket.once(isHttps ? 'secureConnect' : 'connect', () => (connected = true));
    });
    outgoing.on('error', (err: NodeJS.ErrnoException) => {
      // The address guard's own refusal, raised from the DNS lookup: it already says why.
      if (err instanceof VerificationError) {
        fail(err);
        return;
      }
      const idempotent = req.method === 'GET' || req.method === 'HEAD';
      if (idempotent && !opts.retried && outgoing.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
        fail(new StaleConnection(err.message));
        return;
      }
      fail(new VerificationError('REGISTRY_UNREACHABLE', `${where}: ${describeSocketError(err)}`, { cause: err }));
    });
    outgoing.end(req.body ? Buffer.from(req.body) : undefined);
  });
}

/**
 * A remote body for debug logs only (issue 15: nothing a remote host says reaches the caller):
 * at most 300 bytes, quoted, with every non-printable character escaped.
 */
export function bodyForDebug(body: Uint8Array): string {
  const text = Buffer.from(body.subarray(0, 300)).toString('utf8');
  return `${JSON.stringify(text).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}${body.length > 300 ? ' (truncated)' : ''}`;
}
