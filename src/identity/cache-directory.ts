import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync, realpathSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';

/**
 * A cache directory that is ours (issue 20 item 1). A disk cache shared between processes is a
 * trust boundary: whoever can write it chooses the DID documents and handles we read back. So:
 *
 * - At open, every level of the path is checked with lstat, from `/` down: a real directory
 *   owned by us or root, and not writable by group or others unless the sticky bit is set (as on
 *   /tmp, where others cannot rename or delete what is ours). A symlink is followed only when we
 *   or root own it, and its target is then checked the same way. The last level (created 0700 if
 *   missing) must be ours and writable by us alone. Anything else: a warning naming the level,
 *   and no disk cache at all (never fail open).
 * - Node has no openat(), so the directory cannot be held open and used relative to a handle.
 *   Instead each read and write first checks that the path still names the same directory
 *   (device and inode recorded at open: a swapped folder at any level is a different inode),
 *   then opens the file with O_NOFOLLOW and checks the open file itself (fstat): a regular
 *   file, ours, one link, not writable by others. A failed check disables the disk cache.
 */
export interface CacheDirectory {
  readonly path: string;
  /** The file's text, or undefined when absent, unsafe or unreadable. */
  read(name: string): string | undefined;
  /** Writes atomically (temporary file + rename); failures only cost a later network fetch. */
  write(name: string, text: string): void;
}

export type CacheWarning = (message: string) => void;

/** A cache file larger than this is not one we wrote. */
const MAX_FILE_BYTES = 1024 * 1024;
/** Symlinks followed while checking one path (loops and chains end here). */
const MAX_SYMLINKS = 16;

/** Warnings go once per directory and reason: a plugin process per verification must not flood Ratify's log. */
const warned = new Set<string>();

export function defaultCacheWarning(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  // The Ratify plugin protocol's log format (`warn: ` prefix, plain text on stderr), readable in the CLI too.
  process.stderr.write(`warn: ${message}\n`);
}

class UnsafeDirectory extends Error {}

function currentUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

function describeMode(st: Stats): string {
  return (st.mode & 0o7777).toString(8).padStart(4, '0');
}

/** Why a directory at this level cannot be trusted, or undefined. */
function levelProblem(st: Stats, uid: number, last: boolean): string | undefined {
  if (!st.isDirectory()) return 'is not a directory';
  if (last) {
    if (st.uid !== uid) return `is owned by uid ${st.uid}, not by this process (uid ${uid})`;
    if ((st.mode & 0o022) !== 0) return `is writable by group or others (mode ${describeMode(st)})`;
    return undefined;
  }
  if (st.uid !== uid && st.uid !== 0) return `is owned by uid ${st.uid}, neither this process (uid ${uid}) nor root`;
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) return `is writable by group or others without the sticky bit (mode ${describeMode(st)})`;
  return undefined;
}

/**
 * Walks `target` from `/`, checking each level; creates missing levels 0700. Returns the real
 * path and the final directory's stat. Throws UnsafeDirectory naming the level that failed.
 */
function checkPath(target: string, uid: number): { real: string; st: Stats } {
  let pending = target.split(sep).filter(Boolean);
  let current: string = sep;
  let symlinks = 0;
  const rootProblem = levelProblem(lstatSync(sep), uid, false);
  if (rootProblem) throw new UnsafeDirectory(`${sep} ${rootProblem}`);
  while (pending.length > 0) {
    const part = pending.shift()!;
    const last = pending.length === 0;
    const level = join(current, part);
    let st: Stats;
    try {
      st = lstatSync(level);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      try {
        mkdirSync(level, { mode: 0o700 });
      } catch (mkdirErr) {
        // Another process created it first: Ratify starts the plugin processes for a Pod's images
        // at once, and they race to create a fresh cacheDir. Whatever is there now is checked
        // below like any existing level (in a sticky parent, another user's is refused).
        if ((mkdirErr as NodeJS.ErrnoException).code !== 'EEXIST') throw mkdirErr;
      }
      // The parent passed its check: only we, root, or (sticky parent) a name's creator can
      // change what this name is between the mkdir and the lstat, and the lstat sees who.
      st = lstatSync(level);
    }
    if (st.isSymbolicLink()) {
      if (st.uid !== uid && st.uid !== 0) throw new UnsafeDirectory(`${level} is a symlink owned by uid ${st.uid}, neither this process (uid ${uid}) nor root`);
      if (++symlinks > MAX_SYMLINKS) throw new UnsafeDirectory(`${level}: too many symlinks`);
      // Follow it, then check the target's own path from the top.
      const real = realpathSync(level);
      pending = [...real.split(sep).filter(Boolean), ...pending];
      current = sep;
      continue;
    }
    const problem = levelProblem(st, uid, last);
    if (problem) throw new UnsafeDirectory(`${level} ${problem}`);
    current = level;
    if (last) return { real: current, st };
  }
  throw new UnsafeDirectory(`${target} is the root directory`);
}

/**
 * Opens `dir` as a cache directory, or returns undefined (after `warn`) when any level of it
 * fails the checks above.
 */
export function openCacheDirectory(dir: string, warn: CacheWarning = defaultCacheWarning): CacheDirectory | undefined {
  const uid = currentUid();
  if (uid === undefined) {
    warn(`cache directory ${dir} is not used: this platform cannot check its owner; going on without a disk cache`);
    return undefined;
  }
  const path = isAbsolute(dir) ? dir : resolve(dir);
  let opened: { real: string; st: Stats };
  try {
    opened = checkPath(path, uid);
  } catch (err) {
    const why = err instanceof UnsafeDirectory ? err.message : `cannot be checked (${(err as Error).message})`;
    warn(`cache directory ${path} is not used: ${why}; going on without a disk cache`);
    return undefined;
  }
  return new CheckedDirectory(path, opened.real, opened.st, uid, warn);
}

class CheckedDirectory implements CacheDirectory {
  private disabled = false;

  constructor(
    readonly path: string,
    private readonly real: string,
    private readonly identity: Stats,
    private readonly uid: number,
    private readonly warn: CacheWarning,
  ) {}

  /** The path still names the directory checked at open (same device and inode, still ours and private). */
  private stillOurs(): boolean {
    if (this.disabled) return false;
    let st: Stats;
    try {
      st = lstatSync(this.real);
    } catch {
      return this.disable(`${this.real} has disappeared`);
    }
    if (st.dev !== this.identity.dev || st.ino !== this.identity.ino) return this.disable(`${this.real} was replaced by another directory after it was checked`);
    const problem = levelProblem(st, this.uid, true);
    return problem ? this.disable(`${this.real} ${problem}`) : true;
  }

  private disable(why: string): false {
    this.disabled = true;
    this.warn(`cache directory ${this.path} is no longer used: ${why}; going on without a disk cache`);
    return false;
  }

  read(name: string): string | undefined {
    if (!this.stillOurs()) return undefined;
    let fd: number;
    try {
      fd = openSync(join(this.real, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      // Absent, or a symlink (ELOOP): either way nothing we wrote.
      return undefined;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.uid !== this.uid || (st.mode & 0o022) !== 0 || st.nlink !== 1 || st.size > MAX_FILE_BYTES) {
        this.warn(`cache file ${join(this.real, name)} is not used: not a private regular file of this process's user`);
        return undefined;
      }
      const buffer = Buffer.alloc(st.size);
      let offset = 0;
      while (offset < st.size) {
        const n = readSync(fd, buffer, offset, st.size - offset, offset);
        if (n === 0) break;
        offset += n;
      }
      return buffer.subarray(0, offset).toString('utf8');
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  write(name: string, text: string): void {
    if (!this.stillOurs()) return;
    const target = join(this.real, name);
    const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      // rename() replaces the name itself, never what a symlink there points to.
      renameSync(tmp, target);
    } catch {
      try {
        unlinkSync(tmp);
      } catch {
        // Nothing was created.
      }
    }
  }
}
