import http from 'node:http';
import https from 'node:https';

/** An HTTP(S) call as Gatekeeper or curl would make it (a fresh connection unless given an agent), with timing. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
  ms: number;
}

export interface CallOptions {
  method?: string;
  body?: string | object;
  /** Trust anchors for the server certificate. */
  ca?: string;
  /** Client certificate and key (mTLS). */
  cert?: string;
  key?: string;
  /** Name to verify the server certificate against, when dialling an IP. */
  servername?: string;
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  timeoutMs?: number;
  /** A keep-alive agent (carrying its own TLS options) instead of a fresh connection. */
  agent?: http.Agent;
}

export function call(url: string, opts: CallOptions = {}): Promise<Reply> {
  const started = performance.now();
  const target = new URL(url);
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const options: https.RequestOptions = {
    method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
    agent: opts.agent ?? false,
    headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    timeout: opts.timeoutMs ?? 15_000,
    ...(opts.ca ? { ca: opts.ca } : {}),
    ...(opts.cert ? { cert: opts.cert } : {}),
    ...(opts.key ? { key: opts.key } : {}),
    ...(opts.servername ? { servername: opts.servername } : {}),
    ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
  };
  const lib = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(target, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, ms: performance.now() - started });
      });
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export function providerRequest(keys: unknown[]): object {
  return { apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'ProviderRequest', request: { keys } };
}

/** Waits until `check` returns true, polling; fails with `what` after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The value of one Prometheus sample (0 when absent) from the text exposition format. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (wanted.every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}
