/**
 * Issue 20 items 1 and 2: the disk cache is used only in a directory that is ours at every level,
 * each file is read through O_NOFOLLOW and an owner check, entries live only within the TTL and
 * carry the verifier version. The attacker is a second local user, created here (we run as root)
 * and removed afterwards; every attacker action runs under that user's uid.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TtlCache } from '../../src/identity/ttl-cache.js';
import { VERIFIER_VERSION } from '../../src/version.js';

const USER = `atv-other-${process.pid}`;
const KEY = 'did:web:victim.example';
const TTL = 60_000;
let other: { uid: number; gid: number } | undefined;
let root: string;

function hasUseradd(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v useradd && command -v userdel'], { stdio: 'ignore' });
    return typeof process.getuid === 'function' && process.getuid() === 0;
  } catch {
    return false;
  }
}

const skipReason = hasUseradd() ? undefined : 'useradd/userdel are not available or the tests do not run as root: a second local user cannot be created';
/** Tests that need the second user: skipped, with the reason printed, when it cannot be created. */
const withOtherUser = skipReason ? it.skip : it;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'cache-owner-'));
  chmodSync(root, 0o755);
  if (skipReason) return;
  execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', USER], { stdio: 'ignore' });
  const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }).trim());
  other = { uid, gid };
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  if (other) execFileSync('userdel', [USER], { stdio: 'ignore' });
});

/** Runs a shell script as the other user. */
function asOther(script: string): void {
  execFileSync('sh', ['-c', `set -e\n${script}`], { uid: other!.uid, gid: other!.gid, stdio: 'pipe' });
}

function cache(dir: string, warnings: string[] = [], opts: { ttlMs?: number; now?: () => number } = {}): TtlCache<string> {
  return new TtlCache<string>('did', { enabled: true, ttlMs: opts.ttlMs ?? TTL, dir, warn: (m) => warnings.push(m) }, opts.now);
}

/** A genuine entry for KEY, written by us in a private directory: its file name and text. */
function genuineEntry(): { name: string; text: string } {
  const dir = mkdtempSync(join(root, 'genuine-'));
  cache(dir).set(KEY, 'genuine');
  const name = readdirSync(join(dir, 'did')).find((f) => f.endsWith('.json'))!;
  return { name, text: readFileSync(join(dir, 'did', name), 'utf8') };
}

/** The attacker's copy of the entry: same key and name, their value. */
function forgedText(): { name: string; text: string } {
  const { name, text } = genuineEntry();
  return { name, text: text.replace('"genuine"', '"forged"') };
}

function fresh(name: string, mode: number): string {
  const dir = join(root, name);
  mkdirSync(dir);
  chmodSync(dir, mode);
  return dir;
}

describe('the cache directory must be ours at every level (second local user)', () => {
  it('runs with a second user, or says why not', () => {
    if (skipReason) console.warn(`second-user cases skipped: ${skipReason}`);
    expect(other !== undefined || skipReason !== undefined).toBe(true);
  });

  withOtherUser('a world-writable parent without the sticky bit: refused at open with the level named, the planted entry never read', () => {
    const parent = fresh('world-writable', 0o777);
    const { name, text } = forgedText();
    asOther(`mkdir -p ${parent}/cache/did && printf '%s' '${text}' > ${parent}/cache/did/${name}`);
    const warnings: string[] = [];
    const c = cache(join(parent, 'cache'), warnings);
    expect(c.onDisk).toBe(false);
    expect(c.get(KEY)).toBeUndefined();
    expect(warnings.join('\n')).toContain(`${parent} is writable by group or others without the sticky bit`);
  });

  withOtherUser('a world-writable parent with the sticky bit (like /tmp) is accepted', () => {
    const parent = fresh('sticky', 0o1777);
    const warnings: string[] = [];
    cache(join(parent, 'cache'), warnings).set(KEY, 'genuine');
    const reader = cache(join(parent, 'cache'), warnings);
    expect(reader.onDisk).toBe(true);
    expect(reader.get(KEY)).toBe('genuine');
    expect(warnings).toEqual([]);
  });

  withOtherUser.each([1, 2, 3, 4])('a symlink by the other user at level %i of the path is refused, naming that level', (level) => {
    // base/l1/l2/l3 is the cache directory and l4 its "did" folder; the levels above the
    // symlink are sticky world-writable (so the other user can create a name there, as in /tmp).
    const base = fresh(`symlink-${level}`, level === 1 ? 0o1777 : 0o755);
    const names = ['l1', 'l2', 'l3', 'did'];
    let dir = base;
    for (let i = 1; i < level; i++) {
      dir = join(dir, names[i - 1]!);
      mkdirSync(dir);
      chmodSync(dir, 0o1777);
    }
    const { name, text } = forgedText();
    const theirs = fresh(`theirs-${level}`, 0o755);
    chownSync(theirs, other!.uid, other!.gid);
    // Behind the symlink, the rest of the path with a forged entry where ours would be.
    const leaf = join(theirs, ...names.slice(level));
    asOther(`mkdir -p ${leaf} && printf '%s' '${text}' > ${join(leaf, name)}`);
    const linkAt = join(dir, names[level - 1]!);
    asOther(`ln -s ${theirs} ${linkAt}`);
    const warnings: string[] = [];
    const c = cache(join(base, 'l1', 'l2', 'l3'), warnings);
    expect(c.onDisk).toBe(false);
    expect(c.get(KEY)).toBeUndefined();
    expect(warnings.join('\n')).toContain(`${linkAt} is a symlink owned by uid ${other!.uid}`);
  });

  withOtherUser('a symlink we or root own, to a directory that passes, is followed', () => {
    const target = fresh('link-target', 0o755);
    const link = join(root, 'our-link');
    symlinkSync(target, link);
    const warnings: string[] = [];
    cache(link, warnings).set(KEY, 'genuine');
    expect(cache(link, warnings).get(KEY)).toBe('genuine');
    expect(warnings).toEqual([]);
  });

  withOtherUser('a folder swapped after the check is never read: the open cache notices and stops using the disk', () => {
    const parent = fresh('swap', 0o755);
    const warnings: string[] = [];
    const reader = cache(parent, warnings);
    cache(parent, warnings).set(KEY, 'genuine');
    expect(reader.onDisk).toBe(true);
    // The parent becomes writable by others (a misconfigured shared directory), and they swap "did".
    chmodSync(parent, 0o777);
    const { name, text } = forgedText();
    asOther(`mv ${parent}/did ${parent}/did.old && mkdir ${parent}/did && printf '%s' '${text}' > ${parent}/did/${name}`);
    expect(reader.get(KEY)).toBeUndefined();
    expect(warnings.join('\n')).toMatch(/was replaced by another directory after it was checked/);
    // And a process opening it now refuses it at once.
    expect(cache(parent, warnings).onDisk).toBe(false);
  });

  withOtherUser('a file in our directory that another user owns, or a symlink, is not read (O_NOFOLLOW and owner of the open file)', () => {
    const parent = fresh('files', 0o755);
    const warnings: string[] = [];
    const c = cache(parent, warnings);
    const { name, text } = forgedText();
    const planted = join(parent, 'did', name);
    writeFileSync(planted, text, { mode: 0o600 });
    chownSync(planted, other!.uid, other!.gid);
    expect(c.get(KEY)).toBeUndefined();
    rmSync(planted);
    const elsewhere = join(fresh('elsewhere', 0o755), 'entry.json');
    writeFileSync(elsewhere, text, { mode: 0o600 });
    symlinkSync(elsewhere, planted);
    expect(cache(parent, warnings).get(KEY)).toBeUndefined();
  });
});

describe('cached entries are evidence for their TTL and their version only', () => {
  it('an entry claiming to outlive this process TTL, or expired, is ignored', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cache-ttl-'));
    try {
      let now = 1_000_000;
      cache(dir, [], { ttlMs: 10 * TTL, now: () => now }).set(KEY, 'long-lived');
      expect(cache(dir, [], { ttlMs: TTL, now: () => now }).get(KEY)).toBeUndefined();
      expect(cache(dir, [], { ttlMs: 10 * TTL, now: () => now }).get(KEY)).toBe('long-lived');
      now += 10 * TTL;
      expect(cache(dir, [], { ttlMs: 10 * TTL, now: () => now }).get(KEY)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every disk key carries the verifier version (the package version, in tests as in builds)', () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(VERIFIER_VERSION).toBe(version);
    const dir = mkdtempSync(join(tmpdir(), 'cache-version-'));
    try {
      cache(dir).set(KEY, 'genuine');
      const name = readdirSync(join(dir, 'did'))[0]!;
      const path = join(dir, 'did', name);
      const entry = JSON.parse(readFileSync(path, 'utf8')) as { key: string };
      expect(entry.key).toContain(`atproto-verifier ${version}\n`);
      // The same entry under another version's key is not read.
      writeFileSync(path, readFileSync(path, 'utf8').replace(`atproto-verifier ${version}`, 'atproto-verifier 0.0.1'), { mode: 0o600 });
      expect(cache(dir).get(KEY)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The deployed layouts (ratify-patch.yaml, README "Cache directory"), with the plugin as the
 * second user, as in Ratify's container (uid 65532 under root-owned system directories). The
 * real TtlCache runs in that user's own Node process: esbuild bundles src/identity/ttl-cache.ts
 * once, and a child process under the other uid opens, writes and reads back the "did" and
 * "policy" namespaces the verifier and the plugin use.
 */
describe('the cache directory layouts a deployment gives the plugin (second local user)', () => {
  let runner = '';

  beforeAll(async () => {
    if (skipReason) return;
    const { buildSync } = await import('esbuild');
    const dir = mkdtempSync(join(root, 'bundle-'));
    chmodSync(dir, 0o755);
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    buildSync({
      entryPoints: [new URL('../../src/identity/ttl-cache.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: join(dir, 'ttl-cache.cjs'),
      define: { __VERSION__: JSON.stringify(version) },
      logLevel: 'silent',
    });
    runner = join(dir, 'run.cjs');
    writeFileSync(
      runner,
      `const { TtlCache } = require(${JSON.stringify(join(dir, 'ttl-cache.cjs'))});
const dir = process.argv[2];
const warnings = [];
const result = { uid: process.getuid(), warnings, namespaces: {} };
for (const ns of ['did', 'policy']) {
  const options = { enabled: true, ttlMs: 60000, dir, warn: (m) => warnings.push(m) };
  new TtlCache(ns, options).set('key', 'value-' + ns);
  const reader = new TtlCache(ns, options);
  result.namespaces[ns] = { onDisk: reader.onDisk, value: reader.get('key') ?? null };
}
process.stdout.write(JSON.stringify(result));
`,
    );
    chmodSync(join(dir, 'ttl-cache.cjs'), 0o644);
    chmodSync(runner, 0o644);
  });

  /** Opens `dir` as the plugin would, in a Node process of the other user. */
  function openAsOther(dir: string): { uid: number; warnings: string[]; namespaces: Record<string, { onDisk: boolean; value: string | null }> } {
    return JSON.parse(execFileSync(process.execPath, [runner, dir], { uid: other!.uid, gid: other!.gid, encoding: 'utf8', timeout: 30_000 }));
  }

  const mode = (p: string) => statSync(p).mode & 0o7777;

  withOtherUser('Ratify\'s container: cacheDir created by the plugin under the image\'s /tmp (root, 1777) is used, and made private (0700, the plugin\'s user)', () => {
    const imageTmp = fresh('image-tmp', 0o1777);
    const cacheDir = join(imageTmp, 'atproto-verifier-cache');
    const run = openAsOther(cacheDir);
    expect(run.uid).toBe(other!.uid);
    expect(run.warnings).toEqual([]);
    expect(run.namespaces).toEqual({ did: { onDisk: true, value: 'value-did' }, policy: { onDisk: true, value: 'value-policy' } });
    for (const level of [cacheDir, join(cacheDir, 'did'), join(cacheDir, 'policy')]) {
      expect(statSync(level).uid, level).toBe(other!.uid);
      expect(mode(level), level).toBe(0o700);
    }
    // A second plugin process (Ratify starts one per signature) reads what the first wrote.
    expect(openAsOther(cacheDir).namespaces.did).toEqual({ onDisk: true, value: 'value-did' });
  });

  withOtherUser('plugin processes started at once on a fresh cacheDir all use it: losing the race to create a level is not a refusal', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    // The real race is rare (test/identity/cache-directory-race.test.ts forces it); this runs the real thing.
    for (let round = 0; round < 2; round++) {
      const cacheDir = join(fresh(`race-${round}`, 0o1777), 'atproto-verifier-cache');
      const runs = await Promise.all(
        Array.from({ length: 6 }, () => promisify(execFile)(process.execPath, [runner, cacheDir], { uid: other!.uid, gid: other!.gid, encoding: 'utf8', timeout: 30_000 })),
      );
      for (const { stdout } of runs) {
        const run = JSON.parse(stdout) as ReturnType<typeof openAsOther>;
        expect(run.warnings).toEqual([]);
        expect(run.namespaces.did?.onDisk).toBe(true);
      }
    }
  });

  withOtherUser('a Kubernetes emptyDir as the kubelet makes it (root, 0777, no sticky bit) is refused, naming the mount, with or without fsGroup', () => {
    const emptyDir = fresh('emptydir', 0o777);
    const run = openAsOther(emptyDir);
    expect(run.namespaces).toEqual({ did: { onDisk: false, value: null }, policy: { onDisk: false, value: null } });
    expect(run.warnings.join('\n')).toContain(`${emptyDir} is writable by group or others without the sticky bit (mode 0777)`);
    // fsGroup: the kubelet chowns the group to the Pod's fsGroup and adds setgid and group rw, never the sticky bit.
    chownSync(emptyDir, 0, other!.gid);
    chmodSync(emptyDir, 0o2777);
    expect(openAsOther(emptyDir).warnings.join('\n')).toContain(`${emptyDir} is writable by group or others without the sticky bit (mode 2777)`);
    expect(readdirSync(emptyDir)).toEqual([]);
  });

  withOtherUser('the same mount made 1777 (an initContainer\'s chmod, or emptyDir stickyBit) is accepted, the plugin\'s levels below it 0700', () => {
    const mount = fresh('sticky-mount', 0o1777);
    const run = openAsOther(mount);
    expect(run.warnings).toEqual([]);
    expect(run.namespaces.did).toEqual({ onDisk: true, value: 'value-did' });
    expect(mode(join(mount, 'did'))).toBe(0o700);
    expect(statSync(join(mount, 'did')).uid).toBe(other!.uid);
  });
});
