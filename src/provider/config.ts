import { VerificationError } from '../errors.js';
import { MAX_TIMER_MS, parseDuration } from '../policy/duration.js';
import { DEFAULT_SETTINGS, settingsFromParameters, type VerifierSettings } from '../verify/settings.js';
import { isLogLevel, type LogLevel } from './log.js';

/**
 * The provider's configuration: environment variables (SPEC section 4, the names a Kubernetes
 * Deployment sets), overridden by `serve` flags. Every bad value is INPUT_INVALID naming the
 * variable or flag, and is reported before the server listens.
 */

/** `serve` flags as commander hands them over (`--client-ca` becomes `clientCa`). */
export interface ServeFlags {
  port?: string;
  healthPort?: string;
  cert?: string;
  key?: string;
  clientCa?: string;
  policy?: string;
  plcDirectory?: string;
  handleResolver?: string;
  budget?: string;
  cacheDir?: string;
  logLevel?: string;
  plainHttp?: boolean;
  allowPrivateNetwork?: boolean;
}

export interface ProviderConfig {
  /** HTTPS port for /provide (and /health, /ready, /metrics for clients that pass mTLS). */
  port: number;
  /** Listen address; Node's default (all interfaces) when unset. */
  host?: string;
  /**
   * Plain-HTTP port for /health, /ready and /metrics only: kubelet probes and Prometheus present
   * no client certificate, so with mTLS they cannot use the HTTPS port. null: not served.
   */
  healthPort: number | null;
  tls: { certFile: string; keyFile: string; clientCaFile?: string };
  trustPolicyPath: string;
  logLevel: LogLevel;
  /** Every /provide and /mutate response is sent within this, under the Provider timeout (README, "Deadlines"). */
  budgetMs: number;
  /** Hard limit of one verification; it may outlive a request's budget to warm the cache. */
  verifyTimeoutMs: number;
  /** Keys per request above this are a system error: a Pod has a few images, not thousands. */
  maxKeys: number;
  /** Verifications running at once, across requests; the rest wait (inside their budget). */
  maxConcurrentVerifications: number;
  /** Result cache bound (LRU), per pinned digest and trust policy. */
  cacheMaxEntries: number;
  /** Polling interval of the trust policy file (fs.watch is the fast path). */
  policyPollMs: number;
  /** Talk to registries over plain HTTP (test registries only). */
  plainHttp: boolean;
  settings: VerifierSettings;
}

export const DEFAULT_PORT = 8443;
export const DEFAULT_HEALTH_PORT = 8080;
export const DEFAULT_BUDGET_MS = 3000;
export const DEFAULT_VERIFY_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_KEYS = 256;
export const DEFAULT_MAX_CONCURRENT = 32;
export const DEFAULT_CACHE_MAX_ENTRIES = 10_000;
export const DEFAULT_POLICY_POLL_MS = 10_000;
/**
 * The Provider timeout gatekeeper/provider-crd.yaml sets (4 s, under the 5 s webhook timeout of
 * gatekeeper-values.yaml). The budget must end at least PROVIDER_MARGIN_MS before it, for TLS and
 * queueing, or Gatekeeper gives up first and reports a bare timeout instead of our reasons.
 */
export const PROVIDER_TIMEOUT_MS = 4000;
export const PROVIDER_MARGIN_MS = 1000;

/** Every environment variable the provider reads, for the docs and the manifests test. */
export const ENVIRONMENT_VARIABLES = [
  'HTTP_PORT',
  'HEALTH_PORT',
  'TLS_CERT_FILE',
  'TLS_KEY_FILE',
  'CLIENT_CA_FILE',
  'TRUST_POLICY_PATH',
  'LOG_LEVEL',
  'REQUEST_BUDGET',
  'VERIFY_TIMEOUT',
  'MAX_KEYS',
  'MAX_CONCURRENT_VERIFICATIONS',
  'CACHE_ENABLED',
  'CACHE_TTL',
  'CACHE_MAX_ENTRIES',
  'CACHE_DIR',
  'DID_RESOLVER_TIMEOUT',
  'PDS_TIMEOUT',
  'PLC_DIRECTORY',
  'HANDLE_RESOLVER',
  'ATCR_REGISTRIES',
  'POLICY_POLL_INTERVAL',
  'REGISTRY_PLAIN_HTTP',
  'ALLOW_PRIVATE_NETWORK',
  'OFFLINE',
] as const;

type Env = Record<string, string | undefined>;

function invalid(source: string, why: string): VerificationError {
  return new VerificationError('INPUT_INVALID', `${source}: ${why}`);
}

/** A flag wins over its variable; empty strings count as unset (a blank `value:` in YAML). */
function pick(env: Env, name: string, flag: string | undefined, flagName: string): { value: string; source: string } | undefined {
  if (flag !== undefined && flag !== '') return { value: flag, source: flagName };
  const value = env[name];
  return value !== undefined && value.trim() !== '' ? { value: value.trim(), source: name } : undefined;
}

function port(v: { value: string; source: string } | undefined, fallback: number): number {
  if (!v) return fallback;
  if (!/^\d{1,5}$/.test(v.value) || Number(v.value) > 65535) throw invalid(v.source, `${JSON.stringify(v.value)} is not a port number (0-65535)`);
  return Number(v.value);
}

function positiveInt(v: { value: string; source: string } | undefined, fallback: number): number {
  if (!v) return fallback;
  if (!/^\d{1,9}$/.test(v.value) || Number(v.value) < 1) throw invalid(v.source, `${JSON.stringify(v.value)} is not a positive integer`);
  return Number(v.value);
}

function duration(v: { value: string; source: string } | undefined, fallback: number, min = 1): number {
  if (!v) return fallback;
  const ms = parseDuration(v.value, v.source);
  if (ms < min) throw invalid(v.source, `${v.value} is too short (at least ${min} ms)`);
  // A Node timer waits at most MAX_TIMER_MS; beyond it, it fires after 1 ms.
  if (ms > MAX_TIMER_MS) throw invalid(v.source, `${v.value} is too long (at most ${MAX_TIMER_MS} ms, the longest a Node timer waits)`);
  return ms;
}

function boolean(v: { value: string; source: string } | undefined, fallback: boolean): boolean {
  if (!v) return fallback;
  if (/^(true|1|yes)$/i.test(v.value)) return true;
  if (/^(false|0|no)$/i.test(v.value)) return false;
  throw invalid(v.source, `${JSON.stringify(v.value)} is not true or false`);
}

/**
 * Builds the configuration. Returns warnings for settings that are legal but probably wrong
 * (no mTLS, a budget Gatekeeper will not wait for), which `serve` logs at startup.
 */
export function providerConfig(env: Env, flags: ServeFlags = {}): { config: ProviderConfig; warnings: string[] } {
  const warnings: string[] = [];
  const cert = pick(env, 'TLS_CERT_FILE', flags.cert, '--cert');
  const key = pick(env, 'TLS_KEY_FILE', flags.key, '--key');
  // Gatekeeper (v3.11+) only talks HTTPS to providers: there is no plain-HTTP /provide.
  if (!cert || !key) {
    throw invalid(cert ? '--key / TLS_KEY_FILE' : '--cert / TLS_CERT_FILE', 'a TLS certificate and key are required (Gatekeeper calls providers over HTTPS only)');
  }
  const clientCa = pick(env, 'CLIENT_CA_FILE', flags.clientCa, '--client-ca');
  if (!clientCa) warnings.push('no client CA (CLIENT_CA_FILE / --client-ca): any client that reaches the port can call /provide; mount Gatekeeper\'s CA to require mTLS');

  const policy = pick(env, 'TRUST_POLICY_PATH', flags.policy, '--policy');
  // Without a policy the engine verifies the proof but judges no signer: never admit on that.
  if (!policy) throw invalid('--policy / TRUST_POLICY_PATH', 'a trust policy file is required: the provider never admits an image without one');

  const level = pick(env, 'LOG_LEVEL', flags.logLevel, '--log-level');
  const logLevel = (level?.value.toLowerCase() ?? 'info') as LogLevel;
  if (!isLogLevel(logLevel)) throw invalid(level!.source, `${JSON.stringify(level!.value)} is not one of debug, info, warn, error`);

  const healthRaw = pick(env, 'HEALTH_PORT', flags.healthPort, '--health-port');
  const healthPort = healthRaw && /^(off|none|disabled?)$/i.test(healthRaw.value) ? null : port(healthRaw, DEFAULT_HEALTH_PORT);

  const budgetMs = duration(pick(env, 'REQUEST_BUDGET', flags.budget, '--budget'), DEFAULT_BUDGET_MS, 50);
  if (budgetMs > PROVIDER_TIMEOUT_MS - PROVIDER_MARGIN_MS) {
    warnings.push(
      `REQUEST_BUDGET ${budgetMs} ms leaves less than ${PROVIDER_MARGIN_MS} ms before the Provider timeout of ${PROVIDER_TIMEOUT_MS / 1000} s (provider-crd.yaml): ` +
        'Gatekeeper may give up before the answer arrives; raise the Provider timeout and the webhook timeout above it, or lower the budget',
    );
  }

  const allowPrivateNetwork = flags.allowPrivateNetwork === true || boolean(pick(env, 'ALLOW_PRIVATE_NETWORK', undefined, ''), false);
  const param = (name: string, flag?: string, flagName = '') => pick(env, name, flag, flagName)?.value;
  let settings: VerifierSettings;
  try {
    ({ settings } = settingsFromParameters(
      {
        trustPolicyPath: policy.value,
        plcDirectory: param('PLC_DIRECTORY', flags.plcDirectory, '--plc-directory'),
        didResolverTimeout: param('DID_RESOLVER_TIMEOUT'),
        pdsTimeout: param('PDS_TIMEOUT'),
        cacheEnabled: param('CACHE_ENABLED'),
        cacheTTL: param('CACHE_TTL'),
        cacheDir: param('CACHE_DIR', flags.cacheDir, '--cache-dir'),
        handleResolver: param('HANDLE_RESOLVER', flags.handleResolver, '--handle-resolver'),
        atcrRegistries: param('ATCR_REGISTRIES'),
        offline: param('OFFLINE'),
        allowPrivateNetwork,
      },
      DEFAULT_SETTINGS,
    ));
  } catch (err) {
    // settingsFromParameters names its parameters; say which variable an operator must fix.
    const message = err instanceof Error ? err.message : String(err);
    throw new VerificationError('INPUT_INVALID', `environment: ${renameParameters(message)}`, { cause: err });
  }
  if (settings.offline) warnings.push('OFFLINE is on: for DIDs marked offline: allowed, embedded proofs are accepted and revocation (record deletion, key rotation, takedown) is not checked');
  if (allowPrivateNetwork) warnings.push('ALLOW_PRIVATE_NETWORK is on: PLC, PDS and did:web may be plain http and private addresses (test networks only)');

  const config: ProviderConfig = {
    port: port(pick(env, 'HTTP_PORT', flags.port, '--port'), DEFAULT_PORT),
    healthPort,
    tls: { certFile: cert.value, keyFile: key.value, ...(clientCa ? { clientCaFile: clientCa.value } : {}) },
    trustPolicyPath: policy.value,
    logLevel,
    budgetMs,
    verifyTimeoutMs: duration(pick(env, 'VERIFY_TIMEOUT', undefined, ''), DEFAULT_VERIFY_TIMEOUT_MS, 100),
    maxKeys: positiveInt(pick(env, 'MAX_KEYS', undefined, ''), DEFAULT_MAX_KEYS),
    maxConcurrentVerifications: positiveInt(pick(env, 'MAX_CONCURRENT_VERIFICATIONS', undefined, ''), DEFAULT_MAX_CONCURRENT),
    cacheMaxEntries: positiveInt(pick(env, 'CACHE_MAX_ENTRIES', undefined, ''), DEFAULT_CACHE_MAX_ENTRIES),
    policyPollMs: duration(pick(env, 'POLICY_POLL_INTERVAL', undefined, ''), DEFAULT_POLICY_POLL_MS, 100),
    plainHttp: flags.plainHttp === true || boolean(pick(env, 'REGISTRY_PLAIN_HTTP', undefined, ''), false),
    settings,
  };
  if (config.verifyTimeoutMs < config.budgetMs) {
    warnings.push(`VERIFY_TIMEOUT ${config.verifyTimeoutMs} ms is shorter than REQUEST_BUDGET ${config.budgetMs} ms: verifications are cut before the budget ends`);
  }
  return { config, warnings };
}

const PARAMETER_TO_ENV: Record<string, string> = {
  plcDirectory: 'PLC_DIRECTORY',
  didResolverTimeout: 'DID_RESOLVER_TIMEOUT',
  pdsTimeout: 'PDS_TIMEOUT',
  cacheEnabled: 'CACHE_ENABLED',
  cacheTTL: 'CACHE_TTL',
  cacheDir: 'CACHE_DIR',
  handleResolver: 'HANDLE_RESOLVER',
  atcrRegistries: 'ATCR_REGISTRIES',
  offline: 'OFFLINE',
};

function renameParameters(message: string): string {
  return message.replace(/^(\w+)(?=[: ])/, (name) => PARAMETER_TO_ENV[name] ?? name);
}
