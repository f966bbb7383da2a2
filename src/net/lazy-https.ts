import type https from 'node:https';

/**
 * node:https, loaded on first use. Loading it loads TLS and OpenSSL's TLS state: about 15 ms of
 * CPU per process on Node 24, which the plugin (a new process per referrer) should pay only when
 * it talks to an https URL, not when its registry and PDS are plain HTTP.
 */
export function httpsModule(): typeof https {
  return process.getBuiltinModule('node:https');
}
