import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { providerConfig } from '../../src/provider/config.js';
import { createLogger, type Logger } from '../../src/provider/log.js';
import { startProviderServer, type ProviderServer } from '../../src/provider/server.js';
import { makeTestCa, type TestCa } from './certs.js';

/**
 * The provider as Gatekeeper meets it, in-process: HTTPS with a server certificate from a CA made
 * for the test, and mTLS requiring a client certificate from a second CA (Gatekeeper's).
 */
export interface MtlsProvider {
  server: ProviderServer;
  serverCa: TestCa;
  gatekeeperCa: TestCa;
  /** What Gatekeeper trusts and presents: spread into call() options or an https.Agent. */
  asGatekeeper: { ca: string; cert: string; key: string };
  /** The client CA file the provider reads (re-read every tlsReloadMs): rewrite it to rotate. */
  clientCaPath: string;
  close(): Promise<void>;
}

export async function startMtlsProvider(opts: {
  /** Provider environment (TRUST_POLICY_PATH, PLC_DIRECTORY, ...); wins over the TLS defaults. */
  env: Record<string, string>;
  version: string;
  log?: Logger;
  tlsReloadMs?: number;
}): Promise<MtlsProvider> {
  const dir = mkdtempSync(join(tmpdir(), 'mtls-provider-'));
  const serverCa = makeTestCa('provider CA');
  const gatekeeperCa = makeTestCa('gatekeeper CA');
  const serverCert = serverCa.issue({ cn: 'localhost', dns: ['localhost'], ips: ['127.0.0.1'] });
  const clientCert = gatekeeperCa.issue({ cn: 'gatekeeper-webhook-service.gatekeeper-system.svc', clientAuth: true });
  const clientCaPath = join(dir, 'gatekeeper-ca.crt');
  writeFileSync(join(dir, 'tls.crt'), serverCert.cert);
  writeFileSync(join(dir, 'tls.key'), serverCert.key);
  writeFileSync(clientCaPath, gatekeeperCa.cert);
  const { config } = providerConfig({
    HTTP_PORT: '0',
    TLS_CERT_FILE: join(dir, 'tls.crt'),
    TLS_KEY_FILE: join(dir, 'tls.key'),
    CLIENT_CA_FILE: clientCaPath,
    ...opts.env,
  });
  const server = await startProviderServer({
    config: { ...config, host: '127.0.0.1' },
    version: opts.version,
    log: opts.log ?? createLogger('error', () => {}),
    ...(opts.tlsReloadMs !== undefined ? { tlsReloadMs: opts.tlsReloadMs } : {}),
  });
  return {
    server,
    serverCa,
    gatekeeperCa,
    asGatekeeper: { ca: serverCa.cert, ...clientCert },
    clientCaPath,
    async close() {
      await server.shutdown();
      serverCa.dispose();
      gatekeeperCa.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
