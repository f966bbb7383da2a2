import { VerificationError } from '../errors.js';
import { parseDuration, parseTimeout } from '../policy/duration.js';

/**
 * The engine's settings, whichever face supplies them: the Ratify Verifier CR's parameters
 * (plugin `config`), the provider's environment, or CLI flags. Names follow SPEC section 4.
 */
export interface VerifierSettings {
  trustPolicyPath?: string;
  plcDirectory: string;
  didResolverTimeoutMs: number;
  pdsTimeoutMs: number;
  cacheEnabled: boolean;
  cacheTtlMs: number;
  /** Shared on-disk cache, so short-lived plugin processes get warm. */
  cacheDir?: string;
  /** Lifts the https-only, public-address-only rules: for test networks only. */
  allowPrivateNetwork: boolean;
  /** Registries whose image paths are `<handle-or-did>/<repository>` (ATCR style). */
  atcrRegistries: string[];
  /**
   * Resolve handles through this XRPC service (`com.atproto.identity.resolveHandle`) instead of
   * DNS and `/.well-known/atproto-did`. Trusting it means trusting its answers about handles only;
   * the DID document must still claim the handle.
   */
  handleResolverUrl?: string;
  /** One deadline for a whole verification (every fetch included); none when unset. */
  timeoutMs?: number;
  /**
   * The operator's choice (never the artifact's): accept embedded proofs verified with keys
   * pinned in the policy, for DIDs marked `offline: allowed`. Revocation is then not checked.
   */
  offline: boolean;
}

export const DEFAULT_SETTINGS: VerifierSettings = {
  plcDirectory: 'https://plc.directory',
  didResolverTimeoutMs: 10_000,
  pdsTimeoutMs: 10_000,
  cacheEnabled: true,
  cacheTtlMs: 300_000,
  allowPrivateNetwork: false,
  atcrRegistries: ['atcr.io'],
  offline: false,
};

/** Parameter names accepted from Ratify's `config` (the Verifier CR's spec.parameters). */
export const SETTING_PARAMETERS = [
  'trustPolicyPath',
  'plcDirectory',
  'didResolverTimeout',
  'pdsTimeout',
  'cacheEnabled',
  'cacheTTL',
  'cacheDir',
  'allowPrivateNetwork',
  'atcrRegistries',
  'handleResolver',
  'timeout',
  'offline',
] as const;

function asBoolean(value: unknown, field: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new VerificationError('INPUT_INVALID', `${field} must be true or false, got ${JSON.stringify(value)}`);
}

function asString(value: unknown, field: string): string {
  if (typeof value === 'string' && value.length > 0) return value;
  throw new VerificationError('INPUT_INVALID', `${field} must be a non-empty string, got ${JSON.stringify(value)}`);
}

function asUrl(value: unknown, field: string): string {
  const text = asString(value, field);
  try {
    const url = new URL(text);
    if (url.protocol === 'https:' || url.protocol === 'http:') return text.replace(/\/+$/, '');
  } catch {
    // fall through
  }
  throw new VerificationError('INPUT_INVALID', `${field} must be an http(s) URL, got ${JSON.stringify(text)}`);
}

function asList(value: unknown, field: string): string[] {
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
  throw new VerificationError('INPUT_INVALID', `${field} must be a list of strings`);
}

/**
 * Builds settings from named parameters (absent ones keep their defaults). Returns the names it
 * did not recognise, so each face can report them instead of silently ignoring a typo.
 */
export function settingsFromParameters(
  params: Record<string, unknown>,
  base: VerifierSettings = DEFAULT_SETTINGS,
): { settings: VerifierSettings; unknown: string[] } {
  const s: VerifierSettings = { ...base, atcrRegistries: [...base.atcrRegistries] };
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    switch (key) {
      case 'trustPolicyPath':
        s.trustPolicyPath = asString(value, key);
        break;
      case 'plcDirectory':
        s.plcDirectory = asUrl(value, key);
        break;
      case 'didResolverTimeout':
        s.didResolverTimeoutMs = parseTimeout(value as string | number, key);
        break;
      case 'pdsTimeout':
        s.pdsTimeoutMs = parseTimeout(value as string | number, key);
        break;
      case 'cacheEnabled':
        s.cacheEnabled = asBoolean(value, key);
        break;
      case 'cacheTTL':
        s.cacheTtlMs = parseDuration(value as string | number, key);
        break;
      case 'cacheDir':
        s.cacheDir = asString(value, key);
        break;
      case 'allowPrivateNetwork':
        s.allowPrivateNetwork = asBoolean(value, key);
        break;
      case 'atcrRegistries':
        s.atcrRegistries = asList(value, key);
        break;
      case 'timeout':
        s.timeoutMs = parseTimeout(value as string | number, key);
        break;
      case 'handleResolver':
        s.handleResolverUrl = asUrl(value, key);
        break;
      case 'offline':
        s.offline = asBoolean(value, key);
        break;
      default:
        unknown.push(key);
    }
  }
  return { settings: s, unknown };
}
