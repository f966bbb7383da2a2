import { readFileSync } from 'node:fs';

/**
 * A Dockerfile read as its build stages, enough to compare runtime contracts (WORKDIR, USER,
 * ENTRYPOINT, ENV, EXPOSE, COPY destinations): comments dropped, continuation lines joined.
 * dockerfile-utils lints; this only reads.
 */
export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string | undefined>;
  stages: Stage[];
}

export function readDockerfile(path: string): Dockerfile {
  const lines: string[] = [];
  let pending = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    if (raw.endsWith('\\')) {
      pending += `${raw.slice(0, -1)} `;
      continue;
    }
    const line = (pending + raw).trim();
    pending = '';
    if (line) lines.push(line);
  }
  const out: Dockerfile = { globalArgs: {}, stages: [] };
  for (const line of lines) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const parts = args.split(/\s+/).filter((p) => !p.startsWith('--'));
      out.stages.push({ from: parts[0]!, ...(parts[1]?.toUpperCase() === 'AS' ? { name: parts[2] } : {}), instructions: [] });
    } else if (out.stages.length === 0) {
      if (upper === 'ARG') {
        const [name, value] = args.split('=', 2) as [string, string | undefined];
        out.globalArgs[name] = value;
      }
    } else {
      out.stages.at(-1)!.instructions.push({ keyword: upper, args });
    }
  }
  return out;
}

/** The values of one instruction in a stage, in order. */
export function valuesOf(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** The last instruction of a kind wins (WORKDIR, USER, ENTRYPOINT). */
export function lastOf(stage: Stage, keyword: string): string | undefined {
  return valuesOf(stage, keyword).at(-1);
}

/** ENV and ARG assignments (`K=V` or the legacy `K V`) of a stage. */
export function assignments(stage: Stage, keyword: 'ENV' | 'ARG'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const args of valuesOf(stage, keyword)) {
    const m = /^(\w+)[= ](.*)$/.exec(args);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** COPY destinations with their flags: `--from=x --chown=a:b src dest`. */
export function copies(stage: Stage): { flags: Record<string, string>; sources: string[]; dest: string }[] {
  return valuesOf(stage, 'COPY').map((args) => {
    const parts = args.split(/\s+/);
    const flags: Record<string, string> = {};
    while (parts[0]?.startsWith('--')) {
      const [k, v = ''] = parts.shift()!.slice(2).split('=', 2) as [string, string | undefined];
      flags[k] = v;
    }
    return { flags, sources: parts.slice(0, -1), dest: parts.at(-1)! };
  });
}
