/**
 * Ratify's external verifier exec protocol (SPEC section 1, Ratify v1.x `pkg/verifier/plugin`):
 * environment + one JSON document on stdin in; one result JSON line on stdout out. This module
 * only translates; it holds no verification logic.
 */
import { parseImageReference, type ImageReference } from '../src/registry/reference.js';

export const ENV_COMMAND = 'RATIFY_VERIFIER_COMMAND';
export const ENV_SUBJECT = 'RATIFY_VERIFIER_SUBJECT';
export const ENV_VERSION = 'RATIFY_VERIFIER_VERSION';
export const VERIFY_COMMAND = 'VERIFY';
/** Protocol versions this plugin speaks (Ratify's skeleton supports 1.0.0). */
// 1.0.0 is what Ratify sends for Verifier CRs; 0.1.0 is its default for verifiers declared in a
// config.json. The protocol is the same for both.
export const SUPPORTED_VERSIONS = ['1.0.0', '0.1.0'];

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

  /** plugin.Error's JSON: `details` is omitempty in Go. */
  toJSON(): { code: number; msg: string; details?: string } {
    return { code: this.code, msg: this.message, ...(this.details ? { details: this.details } : {}) };
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
  command: string;
  subject: string;
  /** The subject as parsed; `digest` is absent when Ratify passed a tag reference. */
  subjectRef: ImageReference;
  version: string;
  config: Record<string, unknown> & { name: string; type?: string };
  storeConfig: StoreConfig;
  referenceDesc: ReferenceDescriptor;
}

/**
 * Reads the environment and stdin into a request, in the order and with the codes of Ratify's Go
 * plugin skeleton (v1.4.0 pkg/verifier/plugin/skel): missing variables (4), unparseable subject
 * (7), unsupported version (6), stdin not JSON (1), verifier name missing (2). The store (7) and
 * the command (3) are checked after, by the caller, in that order too.
 */
export function parsePluginRequest(env: NodeJS.ProcessEnv, stdin: string): PluginRequest {
  const missing = [ENV_COMMAND, ENV_VERSION, ENV_SUBJECT].filter((k) => !env[k]);
  if (missing.length > 0) {
    throw new PluginError(PluginErrorCode.MissingEnvironmentVariables, `missing env variables [${missing.join(',')}]`);
  }
  const subject = env[ENV_SUBJECT]!;
  let subjectRef: ImageReference;
  try {
    subjectRef = parseImageReference(subject);
  } catch (err) {
    throw new PluginError(PluginErrorCode.ArgsParsing, `cannot parse subject reference ${clip(subject, 300)}`, err instanceof Error ? err.message : String(err));
  }
  const version = env[ENV_VERSION]!;
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new PluginError(PluginErrorCode.VersionNotSupported, `plugin doesn't support version ${clip(version, 100)} (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(stdin);
  } catch (err) {
    throw new PluginError(PluginErrorCode.ConfigParsing, 'error unmarshall verifier config: stdin is not a JSON document', err instanceof Error ? err.message : String(err));
  }
  if (!isObject(doc)) {
    throw new PluginError(PluginErrorCode.ConfigParsing, 'error unmarshall verifier config: stdin must be a JSON object with config, storeConfig and referenceDesc');
  }
  const { config, storeConfig, referenceDesc } = doc;
  if (config !== undefined && config !== null && !isObject(config)) {
    throw new PluginError(PluginErrorCode.ConfigParsing, 'error unmarshall verifier config: "config" must be an object');
  }
  if (!isObject(config) || typeof config.name !== 'string' || config.name === '') {
    throw new PluginError(PluginErrorCode.InvalidVerifierConfig, 'missing verifier name');
  }
  const store = isObject(storeConfig) && isObject(storeConfig.store) ? (storeConfig as unknown as StoreConfig) : { store: { name: '' } };
  return {
    command: env[ENV_COMMAND]!,
    subject,
    subjectRef,
    version,
    config: config as PluginRequest['config'],
    storeConfig: store,
    referenceDesc: isObject(referenceDesc) ? (referenceDesc as ReferenceDescriptor) : { digest: '' },
  };
}

/** The command check, which Ratify's skeleton makes last, after building the store. */
export function checkCommand(request: PluginRequest): void {
  if (request.command !== VERIFY_COMMAND) {
    throw new PluginError(PluginErrorCode.UnknownCommand, `unknown ${ENV_COMMAND}: ${clip(request.command, 100)}`);
  }
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
