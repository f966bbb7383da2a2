import http from 'node:http';
import type { RegistryServer } from '../../src/devnet/registry-server.js';

/** What the relay answers itself instead of the registry (a referrers API distribution 2.8 lacks). */
export type RelayAnswer = { status: number; contentType: string; body: string } | undefined;

export interface RegistryRelay {
  /** host:port of the relay, to use as the registry's name. */
  host: string;
  /** `GET /v2/<repo>/<path>` of every request seen, digests written `<digest>`. */
  asked: string[];
  close(): Promise<void>;
}

/**
 * A recording HTTP relay in front of a real docker-registry: it logs every request and forwards
 * it, except those `answer` takes over (a registry feature distribution 2.8 cannot produce, such
 * as the referrers API or its NAME_UNKNOWN errors). Say so in a test that uses `answer`.
 */
export async function startRegistryRelay(registry: RegistryServer, answer: (path: string) => RelayAnswer = () => undefined): Promise<RegistryRelay> {
  const asked: string[] = [];
  const port = Number(registry.host.split(':')[1]);
  const relay = http.createServer((req, res) => {
    const path = req.url ?? '/';
    asked.push(`${req.method} ${path.split('?')[0]!.replace(/sha256[:-][0-9a-f]{64}/, '<digest>')}`);
    const own = answer(path);
    if (own) {
      res.writeHead(own.status, { 'content-type': own.contentType }).end(own.body);
      return;
    }
    const upstream = http.request({ host: '127.0.0.1', port, path, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(relay.address() as { port: number }).port}`,
    asked,
    close: () => new Promise<void>((resolve) => relay.close(() => resolve())),
  };
}
