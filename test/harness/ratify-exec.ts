import { spawn } from 'node:child_process';

/**
 * Runs a verifier plugin the way Ratify v1.4.0's executor does (pkg/common/plugin/exec.go,
 * pkg/verifier/plugin): the parent's environment plus the three RATIFY_VERIFIER_* variables, the
 * input document on stdin, and on exit 0 the output parsed as Ratify parses it: stderr then stdout,
 * line by line; every line containing "{" whose first JSON value decodes is appended to the result
 * bytes, other lines are log messages. A non-zero exit is an error carrying both streams.
 */
export interface RatifyRun {
  exitCode: number;
  /** What Ratify keeps of the result (types.GetVerifierResult): only these fields survive. */
  result?: { isSuccess: boolean; message: string; name: string; type: string; extensions: Record<string, unknown> };
  /** The raw concatenated JSON, as Ratify would hand it to json.Unmarshal. */
  json: string;
  logs: string[];
  stdout: string;
  stderr: string;
  /** Ratify's error message on a non-zero exit. */
  error?: string;
}

export interface RatifyInvocation {
  executable: string;
  subject?: string;
  command?: string;
  version?: string;
  stdin: string;
  env?: Record<string, string | undefined>;
  /** Drop these RATIFY_VERIFIER_* variables, to test the missing-variable error. */
  omit?: string[];
  timeoutMs?: number;
  /** Start the executable through this CPU emulator (another architecture, no binfmt_misc; see emulation.ts). */
  emulator?: string;
}

const MAX_SCAN_LINE = 64 * 1024; // bufio.Scanner's default token limit

export async function runLikeRatify(inv: RatifyInvocation): Promise<RatifyRun> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...inv.env })) if (v !== undefined) env[k] = v;
  const ratifyVars: Record<string, string | undefined> = {
    RATIFY_VERIFIER_COMMAND: inv.command ?? 'VERIFY',
    RATIFY_VERIFIER_SUBJECT: inv.subject,
    RATIFY_VERIFIER_VERSION: inv.version ?? '1.0.0',
  };
  for (const [k, v] of Object.entries(ratifyVars)) if (v !== undefined && !inv.omit?.includes(k)) env[k] = v;

  const [command, args] = inv.emulator ? [inv.emulator, [inv.executable]] : [inv.executable, []];
  const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.end(inv.stdin);
  const exitCode = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`plugin did not exit within ${inv.timeoutMs ?? 30_000} ms`));
    }, inv.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code ?? -1);
    });
  });
  const stdout = Buffer.concat(out).toString('utf8');
  const stderr = Buffer.concat(err).toString('utf8');
  if (exitCode !== 0) {
    return { exitCode, json: '', logs: [], stdout, stderr, error: `plugin failed with error: 'exit status ${exitCode}', msg from stError '${stderr}', msg from stdOut '${stdout}'` };
  }
  let json = '';
  const logs: string[] = [];
  for (const line of `${stderr}${stdout}`.split('\n')) {
    if (line.length > MAX_SCAN_LINE) throw new Error('a line longer than 64 KiB stops Ratify reading the plugin output');
    if (line.includes('{')) {
      const value = firstJsonValue(line);
      if (value !== undefined) json += JSON.stringify(value);
    } else if (line !== '') {
      logs.push(line);
    }
  }
  let result: RatifyRun['result'];
  try {
    const parsed = JSON.parse(json) as Record<string, unknown>;
    result = {
      isSuccess: parsed.isSuccess as boolean,
      message: parsed.message as string,
      name: parsed.name as string,
      type: parsed.type as string,
      extensions: parsed.extensions as Record<string, unknown>,
    };
  } catch {
    result = undefined;
  }
  return { exitCode, result, json, logs, stdout, stderr };
}

/** Go's json.Decoder.Decode reads the first JSON value of the line and ignores what follows. */
function firstJsonValue(line: string): unknown {
  const trimmed = line.trimStart();
  for (let end = trimmed.length; end > 0; end--) {
    try {
      return JSON.parse(trimmed.slice(0, end));
    } catch {
      // keep shrinking: trailing content after the first value is ignored by Go
    }
  }
  return undefined;
}
