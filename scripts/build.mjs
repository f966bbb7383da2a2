// Builds the product:
//   dist/main.cjs        entry and plugin face (the npm bin dist/cli.js runs it under the caller's Node)
//   dist/cli-face.cjs    CLI and provider face, loaded by main.cjs only for a command
//   dist/atproto-verifier-linux-x64, dist/atproto-verifier-linux-arm64
//                        Node single executable applications (SEA) embedding the pinned Node runtime
//                        (scripts/node-runtime.mjs), never the Node that runs this build
//   dist/SHA256SUMS      checksums of both executables, in `sha256sum -c` format
//   dist/atproto-verifier  the executable for this machine's architecture (a hard link)
// `--bundle-only` stops after the bundles.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ARCHES, ensureRuntime, runtimeVersion } from './node-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const withExecutable = !process.argv.includes('--bundle-only');
const started = Date.now();

mkdirSync(dist, { recursive: true });

// The payload schema is compiled to a standalone validator first (see compile-schemas.mjs).
execFileSync(process.execPath, [join(root, 'scripts/compile-schemas.mjs')], { stdio: 'inherit' });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // BUILD_MINIFY=0 keeps names, for reading a CPU profile; what ships is minified.
  minify: process.env.BUILD_MINIFY !== '0',
  legalComments: 'linked',
  define: { __VERSION__: JSON.stringify(version) },
  // Development-only: the embedded demo network is loaded lazily from node_modules by `demo`.
  external: ['@atproto/dev-env', '@atproto/api', '@atproto/crypto', '@did-plc/lib'],
  logLevel: 'warning',
  metafile: true,
};

const CLI_FACE = 'cli-face.cjs';

/**
 * src/main.ts imports the CLI face; in the entry bundle that import becomes a loader of the
 * separate CLI bundle, so that a plugin run neither parses nor initialises the CLI, the provider,
 * commander, prom-client or the other modules only they use.
 */
const faceSplit = {
  name: 'face-split',
  setup(b) {
    b.onResolve({ filter: /^\.\/cli\/main\.js$/ }, (args) => (args.importer.endsWith(join('src', 'main.ts')) ? { path: 'cli-face', namespace: 'face-loader' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'face-loader' }, () => ({ contents: readFileSync(join(root, 'scripts/face-loader.cjs'), 'utf8').replaceAll('__CLI_FACE__', CLI_FACE), loader: 'js', resolveDir: root }));
  },
};

// SEA runs CommonJS only; the npm bin (dist/cli.js) runs the same entry for `npx atproto-verifier`.
const entry = await build({ ...common, entryPoints: [join(root, 'src/main.ts')], outfile: join(dist, 'main.cjs'), format: 'cjs', plugins: [faceSplit] });
await build({ ...common, entryPoints: [join(root, 'src/cli/main.ts')], outfile: join(dist, CLI_FACE), format: 'cjs' });
checkPluginFace(entry.metafile);
writeFileSync(join(dist, 'cli.js'), "#!/usr/bin/env node\nrequire('./main.cjs');\n");
writeFileSync(join(dist, 'package.json'), '{"type":"commonjs"}\n');
chmodSync(join(dist, 'cli.js'), 0o755);

/** The plugin face loads only the rooms below it (STYLE.md): fail the build if the CLI's modules leak in. */
function checkPluginFace(metafile) {
  const inputs = Object.keys(Object.values(metafile.outputs).find((o) => o.entryPoint)?.inputs ?? {});
  const forbidden = [/node_modules\/commander\//, /node_modules\/prom-client\//, /node_modules\/@opentelemetry\//, /^src\/cli\//, /^src\/provider\//, /^src\/publish\//, /^src\/devnet\//];
  const leaked = inputs.filter((i) => forbidden.some((f) => f.test(i)));
  if (leaked.length) throw new Error(`the entry bundle (plugin face) must not contain the CLI or provider; it holds ${leaked.slice(0, 5).join(', ')}`);
  checkPluginStartup(metafile);
}

/**
 * What a plugin run initialises before it knows it needs it: the modules plugin/main.ts reaches
 * by static imports. The YAML parser (a policy cache miss only) and @atproto/did with zod (did:web
 * documents only) must stay behind dynamic imports, where the bundle initialises them on first
 * use: together about 6-8 ms of CPU on every warm VERIFY (bench/README.md). Fail the build if a
 * static import drags one back in.
 */
function checkPluginStartup(metafile) {
  const lazyOnly = [/node_modules\/yaml\//, /node_modules\/zod\//, /node_modules\/@atproto\/did\//];
  const reached = new Set();
  const pending = ['plugin/main.ts'];
  while (pending.length) {
    const path = pending.pop();
    if (reached.has(path) || !metafile.inputs[path]) continue;
    reached.add(path);
    for (const i of metafile.inputs[path].imports) if (i.kind !== 'dynamic-import' && !i.external) pending.push(i.path);
  }
  if (!reached.has('plugin/main.ts')) throw new Error('plugin start-up check: plugin/main.ts is not in the metafile');
  const eager = [...reached].filter((i) => lazyOnly.some((f) => f.test(i)));
  if (eager.length) throw new Error(`the plugin face statically imports ${eager.slice(0, 3).join(', ')}, which its start-up must not initialise: import it lazily where it is needed`);
}

if (!withExecutable) process.exit(0);

const HOST_ARCH = process.arch;
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const sums = [];

for (const arch of ARCHES) {
  const node = ensureRuntime(arch);
  const name = `atproto-verifier-linux-${arch}`;
  const exe = join(dist, name);
  const work = join(dist, `.sea-${arch}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  const blob = join(work, 'sea-prep.blob');
  const config = join(work, 'sea-config.json');
  // Relative paths: the blob must not depend on where the repository is checked out.
  writeFileSync(
    config,
    JSON.stringify({
      main: 'main.cjs',
      output: blob,
      disableExperimentalSEAWarning: true,
      // No V8 code cache (nor startup snapshot): V8 writes its per-process random hash seed into
      // both, so two builds of the same sources would differ, and a cache built with a fixed seed
      // is rejected at run time. Measured on the plugin's warm VERIFY: the code cache saved about
      // 13 ms of CPU (of ~110); a reproducible, checkable release is worth more. Without them the
      // blob is the same bytes whichever architecture's node writes it (checked: x64 and arm64
      // blobs are identical); each architecture's own node still writes its blob (the arm64 one
      // under user-mode emulation, see runTarget), so a future cache cannot silently mismatch.
      useCodeCache: false,
      assets: { [CLI_FACE]: CLI_FACE },
    }),
  );
  execFileSync(...runTarget(node, arch, ['--experimental-sea-config', config]), { cwd: dist, stdio: ['ignore', 'ignore', 'inherit'] });

  // The runtime's binary, with the blob injected as the SEA resource (postject works on any ELF).
  const tmp = join(work, name);
  copyFileSync(node, tmp);
  chmodSync(tmp, 0o755);
  execFileSync(process.execPath, [join(root, 'node_modules/postject/dist/cli.js'), tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  rmSync(exe, { force: true });
  renameSync(tmp, exe);
  rmSync(work, { recursive: true, force: true });
  sums.push(`${sha256File(exe)}  ${name}\n`);
  console.log(`built ${exe} (${version}, node v${runtimeVersion(arch)})`);
}
writeFileSync(join(dist, 'SHA256SUMS'), sums.join(''));

const host = join(dist, 'atproto-verifier');
rmSync(host, { force: true });
if (ARCHES.includes(HOST_ARCH)) {
  linkSync(join(dist, `atproto-verifier-linux-${HOST_ARCH}`), host);
  console.log(`dist/atproto-verifier is dist/atproto-verifier-linux-${HOST_ARCH} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/**
 * The command that runs the target's node on this machine: itself on its own architecture; for
 * another one, through QEMU user-mode emulation (qemu-user-static: binfmt_misc when registered,
 * else qemu-<cpu>-static named explicitly, with the target's libc from dpkg multiarch).
 */
function runTarget(node, arch, args) {
  if (arch === HOST_ARCH) return [node, args];
  const cpu = { arm64: 'aarch64', x64: 'x86_64' }[arch];
  if (existsSync(`/proc/sys/fs/binfmt_misc/qemu-${cpu}`)) return [node, args];
  const qemu = `/usr/bin/qemu-${cpu}-static`;
  if (!existsSync(qemu)) {
    throw new Error(`building the linux-${arch} executable needs ${qemu} (Debian: qemu-user-static, and libc6:${arch} libstdc++6:${arch}); run scripts/install-system-deps.sh`);
  }
  return [qemu, [node, ...args]];
}

function sha256File(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
