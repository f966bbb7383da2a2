// Bundles bench/cpu-per-key-main.ts (no TypeScript runtime needed) next to node_modules and runs it;
// with --compare, bench/cpu-per-key-compare-main.ts (see there).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compare = process.argv.includes('--compare');
const outfile = join(root, `node_modules/.cache/atproto-verifier-bench/cpu-per-key${compare ? '-compare' : ''}.mjs`);
await build({
  entryPoints: [join(root, compare ? 'bench/cpu-per-key-compare-main.ts' : 'bench/cpu-per-key-main.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile,
  packages: 'external',
  logLevel: 'warning',
});
execFileSync(process.execPath, [outfile], { stdio: 'inherit', cwd: root, env: { ...process.env, BENCH_ROOT: root } });
