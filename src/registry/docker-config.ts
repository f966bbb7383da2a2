import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { VerificationError } from '../errors.js';

/** Registry credentials as a docker config.json `auths` entry holds them. */
export type RegistryCredentials =
  | { kind: 'basic'; username: string; password: string }
  /** An OAuth2 refresh token (`identitytoken`), exchanged at the token realm like ORAS does. */
  | { kind: 'identityToken'; username: string; token: string };

/** The config.json path Docker and Ratify's dockerConfig provider read, in their order. */
export function dockerConfigPath(configPath?: string): string {
  if (configPath) return configPath;
  const dir = process.env.DOCKER_CONFIG || join(homedir(), '.docker');
  return join(dir, 'config.json');
}

// Docker Hub credentials live under the legacy index URL.
const HUB_KEYS = ['https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io'];

function keysFor(host: string): string[] {
  const keys = [host, `https://${host}`, `http://${host}`, `https://${host}/v1/`, `https://${host}/v2/`];
  return host === 'docker.io' ? [...keys, ...HUB_KEYS] : keys;
}

/** A docker config.json read once: credentials looked up per host without touching the disk again. */
export interface DockerConfig {
  path: string;
  credentialsFor(host: string): RegistryCredentials | undefined;
}

/**
 * Reads the docker config once (the provider re-reads it only on reload, never per image).
 * An absent default file means anonymous access; a file that exists but cannot be read as JSON,
 * or an explicit path that is missing, is an error rather than silently anonymous.
 */
export function readDockerConfig(options: { configPath?: string } = {}): DockerConfig {
  const path = dockerConfigPath(options.configPath);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !options.configPath) return { path, credentialsFor: () => undefined };
    throw new VerificationError('REGISTRY_AUTH_FAILED', `cannot read docker config ${path}: ${(err as Error).message}`);
  }
  let config: { auths?: Record<string, unknown> };
  try {
    config = JSON.parse(text);
  } catch {
    throw new VerificationError('REGISTRY_AUTH_FAILED', `docker config ${path} is not valid JSON`);
  }
  const auths = typeof config?.auths === 'object' && config.auths !== null ? config.auths : {};
  return {
    path,
    credentialsFor(host: string): RegistryCredentials | undefined {
      for (const key of keysFor(host)) {
        if (Object.prototype.hasOwnProperty.call(auths, key)) return credentialsFrom(auths[key], `${path} auths["${key}"]`);
      }
      return undefined;
    },
  };
}

/**
 * Finds the credentials for `host` (exact host and port, as Ratify matches them). Returns
 * undefined when the file or the entry is absent: anonymous access is then tried. A file that
 * exists but cannot be read as JSON is an error, not silently anonymous.
 */
export function loadRegistryCredentials(host: string, options: { configPath?: string } = {}): RegistryCredentials | undefined {
  return readDockerConfig(options).credentialsFor(host);
}

function credentialsFrom(entry: unknown, where: string): RegistryCredentials | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as { auth?: unknown; username?: unknown; password?: unknown; identitytoken?: unknown };
  let username = typeof e.username === 'string' ? e.username : '';
  let password = typeof e.password === 'string' ? e.password : '';
  if (typeof e.auth === 'string' && e.auth.length > 0) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new VerificationError('REGISTRY_AUTH_FAILED', `${where}.auth is not base64 of "username:password"`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (typeof e.identitytoken === 'string' && e.identitytoken.length > 0) {
    return { kind: 'identityToken', username, token: e.identitytoken };
  }
  if (username || password) return { kind: 'basic', username, password };
  return undefined;
}
