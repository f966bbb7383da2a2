import { readFile } from 'node:fs/promises';
import { VerificationError } from '../errors.js';
import { locateDid } from '../identity/did.js';
import { loadTrustPolicy, parseTrustPolicy, type TrustPolicy } from '../policy/trust-policy.js';
import { RegistryClient } from '../registry/client.js';
import { loadRegistryCredentials } from '../registry/docker-config.js';
import { settingsFromParameters, type VerifierSettings } from '../verify/settings.js';

/** Flags shared by the commands that verify (commander turns `--plc-directory` into `plcDirectory`). */
export interface EngineFlags {
  policy?: string;
  trustedDid?: string[];
  plcDirectory?: string;
  didResolverTimeout?: string;
  pdsTimeout?: string;
  cache?: boolean;
  cacheDir?: string;
  cacheTtl?: string;
  allowPrivateNetwork?: boolean;
  plainHttp?: boolean;
  caFile?: string;
  /** XRPC service that resolves handles (a PDS), instead of DNS and /.well-known/atproto-did. */
  handleResolver?: string;
  /** Registries whose paths are ATCR layout, replacing the default atcr.io (`--atcr-registry`, repeatable). */
  atcrRegistry?: string[];
}

export function settingsFromFlags(flags: EngineFlags): VerifierSettings {
  const { settings } = settingsFromParameters({
    plcDirectory: flags.plcDirectory,
    didResolverTimeout: flags.didResolverTimeout,
    pdsTimeout: flags.pdsTimeout,
    cacheEnabled: flags.cache,
    cacheDir: flags.cacheDir,
    cacheTTL: flags.cacheTtl,
    allowPrivateNetwork: flags.allowPrivateNetwork,
    trustPolicyPath: flags.policy,
    handleResolver: flags.handleResolver,
    atcrRegistries: flags.atcrRegistry,
  });
  return settings;
}

/**
 * The trust policy for a command: a file, or DIDs trusted for every image on the command line
 * (like cosign's identity flags). Verifying without either is refused: a valid proof from an
 * identity nobody chose to trust proves nothing useful.
 */
export async function trustPolicyFromFlags(flags: EngineFlags): Promise<TrustPolicy> {
  const dids = flags.trustedDid ?? [];
  if (flags.policy && dids.length > 0) {
    throw new VerificationError('INPUT_INVALID', 'pass either --policy FILE or --trusted-did DID, not both: the policy file alone decides whom to trust');
  }
  if (flags.policy) return loadTrustPolicy(flags.policy);
  if (dids.length === 0) {
    throw new VerificationError('INPUT_INVALID', 'a trust policy is required: pass --policy FILE or --trusted-did DID');
  }
  for (const did of dids) {
    try {
      locateDid(did, true);
    } catch (err) {
      throw new VerificationError('INPUT_INVALID', `--trusted-did ${did.slice(0, 100)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const unique = [...new Set(dids)];
  const entries = unique.map((d) => `  ${JSON.stringify(d)}: {}`).join('\n');
  return parseTrustPolicy(
    `version: "1.0"\ntrustedDIDs:\n${entries}\npolicies:\n  - name: command-line\n    scope: "**"\n    trustedDIDs: [${unique.map((d) => JSON.stringify(d)).join(', ')}]\n    action: enforce\n`,
    '--trusted-did',
  );
}

export async function caFromFlags(flags: EngineFlags): Promise<string | undefined> {
  return flags.caFile ? readFile(flags.caFile, 'utf8') : undefined;
}

/** A registry client per registry host, closed together when the command is done. */
export interface RegistryFactory {
  (registry: string): RegistryClient;
  closeAll(): void;
}

/** Registry clients with credentials from the docker config.json, as `docker` and Ratify use. */
export function registryFactory(flags: { plainHttp?: boolean }): RegistryFactory {
  const clients = new Map<string, RegistryClient>();
  const factory = (registry: string): RegistryClient => {
    let client = clients.get(registry);
    if (!client) {
      const credentials = loadRegistryCredentials(registry);
      client = new RegistryClient({ registry, useHttp: flags.plainHttp === true, ...(credentials ? { credentials } : {}) });
      clients.set(registry, client);
    }
    return client;
  };
  return Object.assign(factory, {
    closeAll(): void {
      for (const client of clients.values()) client.close();
      clients.clear();
    },
  });
}
