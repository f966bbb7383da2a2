import { readFile } from 'node:fs/promises';
import { VerificationError } from '../errors.js';
import { locateDid } from '../identity/did.js';
import { loadTrustPolicy, parseTrustPolicy, type TrustPolicy } from '../policy/trust-policy.js';
import type { RegistryClient } from '../registry/client.js';
import { RegistryPool } from '../registry/registry-pool.js';
import { registryNetworkFor } from '../verify/registry-admission.js';
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
  /** The operator's choice to accept embedded proofs for DIDs marked `offline: allowed` (revocation not checked). */
  offline?: boolean;
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
    offline: flags.offline,
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

/**
 * Registry clients with credentials from the docker config.json, as `docker` and Ratify use,
 * behind the address guard: a private or loopback registry needs --allow-private-network, or
 * `allowPrivateNetwork: true` on its entry in the policy's `registries` section.
 */
export function registryFactory(flags: { plainHttp?: boolean; allowPrivateNetwork?: boolean }, policy?: Pick<TrustPolicy, 'registries'>): RegistryFactory {
  const global = { allowPrivateNetwork: flags.allowPrivateNetwork === true, plainHttp: flags.plainHttp === true };
  const pool = new RegistryPool({ networkFor: (host) => registryNetworkFor(policy, host, global) });
  return Object.assign((registry: string) => pool.clientFor(registry), { closeAll: () => pool.closeAll() });
}
