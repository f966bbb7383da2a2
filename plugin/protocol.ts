/**
 * Ratify's external verifier exec protocol (SPEC section 1, Ratify v1.x `pkg/verifier/plugin`):
 * environment + one JSON document on stdin in; one result JSON line on stdout out. This module
 * only translates; it holds no verification logic.
 */

export const ENV_COMMAND = 'RATIFY_VERIFIER_COMMAND';
export const ENV_SUBJECT = 'RATIFY_VERIFIER_SUBJECT';
export const ENV_VERSION = 'RATIFY_VERIFIER_VERSION';
export const VERIFY_COMMAND = 'VERIFY';
/** Protocol versions this plugin speaks (Ratify's skeleton supports 1.0.0). */
export const SUPPORTED_VERSIONS = ['1.0.0'];

/** Ratify's plugin error codes (pkg/common/plugin/errors). */
export const PluginErrorCode = {
  Unknown: 0,
  ConfigParsing: 1,
  InvalidVerifierConfig: 2,
  UnknownCommand: 3,
  MissingEnvironmentVariables: 4,
  IOFailure: 5,
  VersionNotSupported: 6,
  ArgsParsing: 7,
  CommandFailure: 8,
  Internal: 999,
} as const;
export type PluginErrorCode = (typeof PluginErrorCode)[keyof typeof PluginErrorCode];

export class PluginError extends Error {
  constructor(
    readonly code: PluginErrorCode,
    message: string,
    readonly details = '',
  ) {
    super(message);
  }

  toJSON(): { code: number; msg: string; details: string } {
    return { code: this.code, msg: this.message, details: this.details };
  }
}

export interface ReferenceDescriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  artifactType?: string;
  [extra: string]: unknown;
}

export interface StoreConfig {
  version?: string;
  pluginBinDirs?: string[] | null;
  store: { name: string; useHttp?: boolean; cosignEnabled?: boolean; authProvider?: { name?: string; [k: string]: unknown }; [k: string]: unknown };
}

export interface PluginRequest {
  subject: string;
  version: string;
  config: Record<string, unknown> & { name: string; type?: string };
  storeConfig: StoreConfig;
  referenceDesc: ReferenceDescriptor;
}

/** Reads the environment and stdin into a request, or throws the PluginError Ratify expects. */
export function parsePluginRequest(env: NodeJS.ProcessEnv, stdin: string): PluginRequest {
  const missing = [ENV_COMMAND, ENV_SUBJECT, ENV_VERSION].filter((k) => !env[k]);
  if (missing.length > 0) {
    throw new PluginError(PluginErrorCode.MissingEnvironmentVariables, `missing environment variables: ${missing.join(', ')}`);
  }
  const version = env[ENV_VERSION]!;
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new PluginError(PluginErrorCode.VersionNotSupported, `protocol version ${version} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(stdin);
  } catch (err) {
    throw new PluginError(PluginErrorCode.ConfigParsing, 'stdin is not a JSON document', err instanceof Error ? err.message : String(err));
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new PluginError(PluginErrorCode.ConfigParsing, 'stdin must be a JSON object with config, storeConfig and referenceDesc');
  }
  const { config, storeConfig, referenceDesc } = doc as Record<string, unknown>;
  if (!isObject(config) || typeof config.name !== 'string' || config.name === '') {
    throw new PluginError(PluginErrorCode.InvalidVerifierConfig, 'verifier config is missing "name"');
  }
  if (!isObject(storeConfig) || !isObject(storeConfig.store) || typeof storeConfig.store.name !== 'string') {
    throw new PluginError(PluginErrorCode.ConfigParsing, 'storeConfig.store.name is missing');
  }
  if (!isObject(referenceDesc) || typeof referenceDesc.digest !== 'string') {
    throw new PluginError(PluginErrorCode.ArgsParsing, 'referenceDesc.digest is missing');
  }
  // Same order as Ratify's Go skeleton: environment, version, stdin, then the command.
  if (env[ENV_COMMAND] !== VERIFY_COMMAND) {
    throw new PluginError(PluginErrorCode.UnknownCommand, `unknown command "${env[ENV_COMMAND]}": only ${VERIFY_COMMAND} is supported`);
  }
  return {
    subject: env[ENV_SUBJECT]!,
    version,
    config: config as PluginRequest['config'],
    storeConfig: storeConfig as unknown as StoreConfig,
    referenceDesc: referenceDesc as ReferenceDescriptor,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Ratify's VerifierResult as this plugin writes it. */
export interface VerifierResult {
  isSuccess: boolean;
  name: string;
  type: string;
  verifierName: string;
  verifierType: string;
  message: string;
  errorReason: string;
  remediation: string;
  extensions: Record<string, unknown>;
}

/**
 * Ratify reads stderr then stdout with a line scanner whose lines stop at 64 KiB: one longer line
 * ends the scan and loses the result. Every line this plugin writes stays far below that.
 */
export const MAX_LINE_CHARS = 8 * 1024;

export function clip(text: string, max = MAX_LINE_CHARS / 4): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Log lines for Ratify: plain text with a level prefix, never JSON. Ratify takes any line that
 * contains `{` and parses as JSON as (part of) the result, and silently drops one that contains
 * `{` but does not parse, so braces are replaced.
 */
export function logLine(level: 'info' | 'warn' | 'debug', message: string): string {
  return `${level}: ${clip(message.replace(/[\r\n]+/g, ' ').replace(/[{}]/g, (c) => (c === '{' ? '(' : ')')), MAX_LINE_CHARS)}\n`;
}
