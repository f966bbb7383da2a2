import { asVerificationError } from '../src/errors.js';
import { RegistryClient } from '../src/registry/client.js';
import { loadRegistryCredentials } from '../src/registry/docker-config.js';
import type { RegistryNetwork } from '../src/registry/registry-pool.js';
import { PluginError, PluginErrorCode, type StoreConfig } from './protocol.js';

/** The referrer store a VERIFY call reads through, built from Ratify's `storeConfig`. */
export interface ReferrerStore {
  clientFor(registry: string, opts: { timeoutMs: number; signal?: AbortSignal; network?: RegistryNetwork }): RegistryClient;
}

function storeError(why: string): PluginError {
  return new PluginError(PluginErrorCode.ArgsParsing, `create store from input config failed with error ${why}`);
}

/**
 * Builds the equivalent of Ratify's ORAS store in-process, as its Go skeleton does (an external
 * plugin cannot call back into Ratify): OCI distribution over HTTPS, or HTTP with `useHttp`, and
 * the `dockerConfig` auth provider. Anything else is refused by name, never approximated.
 */
export function createReferrerStore(config: StoreConfig): ReferrerStore {
  const store = config.store;
  if (store.name !== 'oras') {
    throw storeError(`store "${store.name || '(missing storeConfig.store.name)'}" is not supported: this plugin reads referrers through the ORAS (OCI distribution) store`);
  }
  const provider = store.authProvider?.name ?? 'dockerConfig';
  if (provider !== 'dockerConfig') {
    throw storeError(`auth provider "${String(provider)}" is not supported by this plugin: use dockerConfig (a docker config.json with the registry credentials)`);
  }
  const configPath = store.authProvider?.configPath;
  if (configPath !== undefined && typeof configPath !== 'string') throw storeError('authProvider.configPath must be a string');
  if (store.useHttp !== undefined && typeof store.useHttp !== 'boolean') throw storeError('useHttp must be true or false');
  return {
    clientFor(registry, { timeoutMs, signal, network }) {
      let credentials;
      try {
        credentials = loadRegistryCredentials(registry, configPath ? { configPath } : {});
      } catch (err) {
        throw storeError(asVerificationError(err).message);
      }
      return new RegistryClient({
        registry,
        // Ratify's useHttp, or the policy's allowHttp for this registry; private addresses only when allowed.
        useHttp: store.useHttp === true || network?.useHttp === true,
        allowPrivateNetwork: network?.allowPrivateNetwork === true,
        timeoutMs,
        ...(credentials ? { credentials } : {}),
        ...(signal ? { signal } : {}),
      });
    },
  };
}
