import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import type { AtprotoNetwork } from '../../src/devnet/atproto-network.js';
import type { Descriptor } from '../../src/registry/oci.js';
import { runCli } from '../cli/run-cli.js';
import { call, metricValue, providerRequest } from '../provider/https-client.js';
import { startMtlsProvider, type MtlsProvider } from './mtls-provider.js';
import { runLikeRatify, type RatifyRun } from './ratify-exec.js';

/**
 * The three faces of the engine, each run as its user runs it, against one real network: the
 * plugin executable as Ratify execs it, `verify --output json` as a child process, and the
 * provider over mTLS as Gatekeeper calls it. Needs `node scripts/build.mjs` first.
 */

export const EXECUTABLE = process.env.ATPROTO_VERIFIER_EXECUTABLE ?? resolve('dist/atproto-verifier');

export function facesAreBuilt(): boolean {
  return existsSync(EXECUTABLE) && existsSync(resolve('dist/cli.js'));
}

export interface ProviderFace {
  /** The item for one key (value and error) as Gatekeeper receives it. */
  answer(key: string): Promise<{ key: string; value: Record<string, any>; error?: string }>;
  metric(name: string): Promise<number>;
  close(): Promise<void>;
}

export interface Faces {
  /** Writes a trust policy file; returns its path. */
  policy(name: string, yaml: string): string;
  plugin(subject: string, referrer: Descriptor, policyPath: string, config?: Record<string, unknown>): Promise<RatifyRun>;
  verify(image: string, policyPath: string, args?: string[]): Promise<{ code: number; json: any; stdout: string; stderr: string }>;
  provider(policyPath: string, env?: Record<string, string>): Promise<ProviderFace>;
  close(): void;
}

export function threeFaces(net: AtprotoNetwork): Faces {
  const dir = mkdtempSync(join(tmpdir(), 'three-faces-'));
  return {
    policy(name, yaml) {
      const path = join(dir, `${name}.yaml`);
      writeFileSync(path, yaml);
      return path;
    },
    plugin(subject, referrer, policyPath, config = {}) {
      const stdin = JSON.stringify({
        config: {
          name: 'atproto-verifier',
          type: 'atproto-verifier',
          artifactTypes: SIGNATURE_ARTIFACT_TYPE,
          trustPolicyPath: policyPath,
          plcDirectory: net.plcUrl,
          handleResolver: net.pdsUrl,
          allowPrivateNetwork: true,
          cacheEnabled: false,
          ...config,
        },
        storeConfig: { version: '1.0.0', pluginBinDirs: null, store: { name: 'oras', useHttp: true } },
        referenceDesc: { mediaType: referrer.mediaType, digest: referrer.digest, size: referrer.size, artifactType: SIGNATURE_ARTIFACT_TYPE },
      });
      return runLikeRatify({ executable: EXECUTABLE, subject, stdin, env: { DOCKER_CONFIG: join(dir, 'no-docker-config') } });
    },
    async verify(image, policyPath, args = []) {
      const run = await runCli(
        ['verify', image, '--policy', policyPath, '--plc-directory', net.plcUrl, '--handle-resolver', net.pdsUrl, '--allow-private-network', '--plain-http', '--no-cache', '--output', 'json', ...args],
        { timeoutMs: 30_000 },
      );
      let json: unknown;
      try {
        json = JSON.parse(run.stdout);
      } catch {
        json = undefined;
      }
      return { ...run, json };
    },
    async provider(policyPath, env = {}) {
      const mtls: MtlsProvider = await startMtlsProvider({
        env: {
          HEALTH_PORT: 'off',
          TRUST_POLICY_PATH: policyPath,
          PLC_DIRECTORY: net.plcUrl,
          HANDLE_RESOLVER: net.pdsUrl,
          ALLOW_PRIVATE_NETWORK: 'true',
          REGISTRY_PLAIN_HTTP: 'true',
          CACHE_ENABLED: 'false',
          ...env,
        },
        version: '0.0.0-test',
      });
      const tls = mtls.asGatekeeper;
      return {
        async answer(key) {
          const reply = await call(`${mtls.server.url}/provide`, { ...tls, body: providerRequest([key]) });
          if (reply.status !== 200) throw new Error(`provider answered HTTP ${reply.status}: ${reply.text}`);
          return reply.json.response.items[0];
        },
        async metric(name) {
          const reply = await call(`${mtls.server.url}/metrics`, tls);
          return metricValue(reply.text, name);
        },
        close: () => mtls.close(),
      };
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
