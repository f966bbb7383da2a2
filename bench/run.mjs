// `npm run bench`: builds the product when needed, bundles the TypeScript benchmark (bench/main.ts)
// with esbuild into a cache directory (no TypeScript runtime needed), and runs it.
//   BENCH_SMOKE=1    short run for CI (results to BENCH_OUT or a temp file, not bench/RESULTS.md)
//   BENCH_OUT=path   where to write the results table
//   BENCH_REBUILD=1  rebuild dist/ first even if it looks fresh
//   ATPROTO_VERIFIER_EXECUTABLE=path  benchmark another build of the executable
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ensureRuntime } from '../scripts/node-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const executable = process.env.ATPROTO_VERIFIER_EXECUTABLE ?? join(root, 'dist/atproto-verifier');

/** Newest modification time under the sources the executable is built from. */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of ['src', 'plugin', 'schemas']) if (existsSync(join(root, dir))) walk(join(root, dir));
  return Math.max(newest, statSync(join(root, 'scripts/build.mjs')).mtimeMs, statSync(join(root, 'package.json')).mtimeMs);
}

if (!process.env.ATPROTO_VERIFIER_EXECUTABLE) {
  const missing = !existsSync(executable);
  // A full run measures what the sources build today; the smoke run only needs an executable.
  const stale = !missing && process.env.BENCH_SMOKE !== '1' && statSync(executable).mtimeMs < newestSource();
  if (missing || stale || process.env.BENCH_REBUILD === '1') {
    console.error(`bench: building ${executable} (${missing ? 'missing' : stale ? 'older than its sources' : 'BENCH_REBUILD'})`);
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'inherit', cwd: root });
  }
}

// Inside node_modules so the bundle's bare imports (@atproto/dev-env, ...) resolve from the project.
const outfile = join(root, 'node_modules/.cache/atproto-verifier-bench/bench.mjs');
await build({
  entryPoints: [join(root, 'bench/main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});

const result = spawnSync(process.execPath, ['--enable-source-maps', outfile], {
  stdio: 'inherit',
  cwd: root,
  // The floor is `node -e 0` of the runtime the executable embeds, not of the Node running this.
  env: { ...process.env, BENCH_ROOT: root, BENCH_BASELINE_NODE: process.env.BENCH_BASELINE_NODE ?? ensureRuntime(process.arch) },
});
process.exit(result.status ?? 1);
