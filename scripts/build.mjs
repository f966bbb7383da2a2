// Builds the product: one esbuild bundle, then a Node single executable application (SEA) at
// dist/atproto-verifier that runs with no node_modules and no Node install beside it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const withExecutable = !process.argv.includes('--bundle-only');

mkdirSync(dist, { recursive: true });

// The payload schema is compiled to a standalone validator first (see compile-schemas.mjs).
execFileSync(process.execPath, [join(root, 'scripts/compile-schemas.mjs')], { stdio: 'inherit' });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'linked',
  define: { __VERSION__: JSON.stringify(version) },
  // Development-only: the embedded demo network is loaded lazily from node_modules by `demo`.
  external: ['@atproto/dev-env', '@atproto/api', '@atproto/crypto', '@did-plc/lib'],
  logLevel: 'warning',
};

// SEA runs CommonJS only; the npm bin (dist/cli.js) is the same entry for `npx atproto-verifier`.
await build({ ...common, entryPoints: [join(root, 'src/main.ts')], outfile: join(dist, 'main.cjs'), format: 'cjs' });
writeFileSync(join(dist, 'cli.js'), "#!/usr/bin/env node\nrequire('./main.cjs');\n");
writeFileSync(join(dist, 'package.json'), '{"type":"commonjs"}\n');
chmodSync(join(dist, 'cli.js'), 0o755);

if (withExecutable) {
  const seaConfig = join(dist, 'sea-config.json');
  const blob = join(dist, 'sea-prep.blob');
  const exe = join(dist, 'atproto-verifier');
  writeFileSync(seaConfig, JSON.stringify({ main: join(dist, 'main.cjs'), output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }));
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: 'inherit' });
  rmSync(exe, { force: true });
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  const postject = join(root, 'node_modules/postject/dist/cli.js');
  execFileSync(process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  rmSync(blob, { force: true });
  rmSync(seaConfig, { force: true });
  console.log(`built ${exe} (${version})`);
}
