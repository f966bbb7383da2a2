import { asVerificationError } from '../errors.js';
import { BoundedLru } from './bounded-lru.js';
import { RegistryClient } from './client.js';
import { readDockerConfig, type DockerConfig } from './docker-config.js';
import { canonicalRegistryHost } from './reference.js';

/** What the operator allows for one registry host (policy `registries[]`, or the global setting). */
export interface RegistryNetwork {
  /** The registry, its redirects and token realm may be private/loopback/link-local addresses. */
  allowPrivateNetwork: boolean;
  /** Spoken to over plain http (and its token realm may be http). */
  useHttp: boolean;
}

export interface RegistryPoolOptions {
  /** The network rules for a canonical registry host. */
  networkFor: (host: string) => RegistryNetwork;
  /** Per-request deadline of each client. */
  timeoutMs?: number;
  /** Most clients kept (each holds a keep-alive agent); least recently used are retired. */
  maxClients?: number;
  /** docker config.json path; default $DOCKER_CONFIG/config.json or ~/.docker/config.json. */
  dockerConfigPath?: string;
  ca?: string;
  debug?: (message: string) => void;
}

export const DEFAULT_MAX_CLIENTS = 64;

/**
 * Registry clients for a long-lived process (issue 15 item 5): registry names come from whoever
 * creates Pods, so clients are kept per canonical host in a bounded LRU (an evicted client closes
 * its connections once its requests finish), and the docker config is read once per reload,
 * never per image.
 */
export class RegistryPool {
  private readonly clients: BoundedLru<string, RegistryClient>;
  private docker: { config: DockerConfig } | { error: unknown } | undefined;

  constructor(private readonly options: RegistryPoolOptions) {
    this.clients = new BoundedLru(options.maxClients ?? DEFAULT_MAX_CLIENTS, (_, client) => client.retire());
  }

  get size(): number {
    return this.clients.size;
  }

  /** The client for `registry` (any spelling); throws the docker config's error if it cannot be read. */
  clientFor(registry: string, opts: { signal?: AbortSignal } = {}): RegistryClient {
    const host = canonicalRegistryHost(registry);
    // A per-call signal belongs to one verification: such a client is not shared.
    if (opts.signal) return this.create(host, opts.signal);
    let client = this.clients.get(host);
    if (!client) {
      client = this.create(host);
      this.clients.set(host, client);
    }
    return client;
  }

  /** Re-reads the docker config on next use and drops every client (the rules may have changed). */
  reload(): void {
    this.docker = undefined;
    for (const client of this.clients.values()) client.retire();
    this.clients.clear();
  }

  closeAll(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private create(host: string, signal?: AbortSignal): RegistryClient {
    const network = this.options.networkFor(host);
    const credentials = this.dockerConfig().credentialsFor(host);
    return new RegistryClient({
      registry: host,
      useHttp: network.useHttp,
      allowPrivateNetwork: network.allowPrivateNetwork,
      ...(credentials ? { credentials } : {}),
      ...(this.options.timeoutMs !== undefined ? { timeoutMs: this.options.timeoutMs } : {}),
      ...(this.options.ca ? { ca: this.options.ca } : {}),
      ...(this.options.debug ? { debug: this.options.debug } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  private dockerConfig(): DockerConfig {
    if (!this.docker) {
      try {
        this.docker = { config: readDockerConfig(this.options.dockerConfigPath ? { configPath: this.options.dockerConfigPath } : {}) };
      } catch (err) {
        this.docker = { error: err };
      }
    }
    if ('error' in this.docker) throw asVerificationError(this.docker.error);
    return this.docker.config;
  }
}
