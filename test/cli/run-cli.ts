import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** The npm bin, as a user runs it (`npx atproto-verifier ...`): the built bundle under this Node. */
export const CLI = resolve('dist/cli.js');

export function cliIsBuilt(): boolean {
  return existsSync(CLI);
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI in a child process, with stdout and stderr piped (so not a terminal: no progress
 * lines) and a docker config directory that holds no credentials unless the test gives one.
 */
export function runCli(args: string[], opts: { env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<CliRun> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, DOCKER_CONFIG: '/nonexistent-docker-config', ...opts.env })) {
    if (v !== undefined && !k.startsWith('RATIFY_VERIFIER_')) env[k] = v;
  }
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`atproto-verifier ${args.join(' ')} did not exit within ${opts.timeoutMs ?? 30_000} ms\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
  });
}
