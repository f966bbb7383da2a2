import { closeIdleConnections } from '../src/net/guarded-fetch.js';
import { clip, logLine, PluginError, PluginErrorCode, parsePluginRequest } from './protocol.js';
import { verifyReference } from './verify-reference.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The Ratify plugin face: env + stdin in, one VerifierResult line (exit 0) or one error JSON
 * line (exit 1) on stdout. Logs go to stderr as prefixed plain text.
 */
export async function runPlugin(version: string): Promise<void> {
  const log = (level: 'info' | 'warn' | 'debug', message: string) => process.stderr.write(logLine(level, message));
  let exitCode = 0;
  try {
    const request = parsePluginRequest(process.env, await readStdin());
    log('debug', `atproto-verifier ${version}: verifying ${request.subject} referrer ${request.referenceDesc.digest}`);
    const result = await verifyReference(request, { log });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    const error =
      err instanceof PluginError ? err : new PluginError(PluginErrorCode.CommandFailure, 'plugin command VERIFY failed', clip(err instanceof Error ? err.message : String(err)));
    process.stdout.write(`${JSON.stringify(error)}\n`);
    exitCode = 1;
  } finally {
    closeIdleConnections();
  }
  process.exitCode = exitCode;
}
