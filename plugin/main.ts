import { closeIdleConnections, shareSignal } from '../src/net/guarded-fetch.js';
import { checkCommand, clip, logLine, PluginError, PluginErrorCode, parsePluginRequest } from './protocol.js';
import { createReferrerStore } from './store.js';
import { readSettings, verifyReference } from './verify-reference.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The whole VERIFY call's deadline unless the `timeout` parameter says otherwise. */
export const DEFAULT_PLUGIN_TIMEOUT_MS = 2_700;

/** Stdin larger than this is not a Ratify request (a few KiB at most). */
const MAX_STDIN_BYTES = 1024 * 1024;

/**
 * The Ratify plugin face: env + stdin in, one VerifierResult line (exit 0) or one error JSON
 * line (exit 1) on stdout. Logs go to stderr as prefixed plain text.
 */
export async function runPlugin(version: string): Promise<void> {
  const log = (level: 'info' | 'warn' | 'debug', message: string) => process.stderr.write(logLine(level, message));
  let exitCode = 0;
  const finished = new AbortController();
  try {
    let stdin: string;
    try {
      stdin = await readStdin();
    } catch (err) {
      throw new PluginError(PluginErrorCode.IOFailure, `error reading from stdin: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (Buffer.byteLength(stdin) > MAX_STDIN_BYTES) {
      throw new PluginError(PluginErrorCode.IOFailure, `stdin is larger than ${MAX_STDIN_BYTES} bytes`);
    }
    const request = parsePluginRequest(process.env, stdin);
    const store = createReferrerStore(request.storeConfig);
    checkCommand(request);
    const { settings, warnings } = readSettings(request, { log });
    log('debug', `atproto-verifier ${version}: verifying ${request.subject} referrer ${request.referenceDesc.digest}`);
    // Ratify kills the plugin at its executor's deadline (2.9 s by default; with the Helm chart
    // validationTimeoutSeconds * 1000 - 100 ms), so finish first, with a result that says which
    // step ran out of time rather than Ratify's bare timeout. Set `timeout` below it (README, "Deadlines").
    const signal = shareSignal(AbortSignal.any([AbortSignal.timeout(settings.timeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS), finished.signal]));
    const result = await verifyReference(request, settings, store, { log, warnings, signal });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    const error =
      err instanceof PluginError
        ? err
        : new PluginError(PluginErrorCode.CommandFailure, 'plugin command VERIFY failed', clip(err instanceof Error ? err.message : String(err)));
    process.stdout.write(`${JSON.stringify(error)}\n`);
    exitCode = 1;
  } finally {
    // Work the answer did not wait for (a prefetched DID the artifact did not name) must not hold the process open.
    finished.abort();
    closeIdleConnections();
  }
  process.exitCode = exitCode;
}
