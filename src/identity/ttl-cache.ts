import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A bounded TTL cache in memory, optionally backed by a directory shared between processes
 * (Ratify starts one plugin process per verification, so memory alone never gets warm).
 *
 * Cached values are raw inputs (DID documents, handle answers), never verdicts: whatever is read
 * back goes through the same parsing and checks as a fresh answer, so a corrupted entry fails
 * closed. The directory is still a trust boundary: it is created 0700 and ignored when others can
 * write to it.
 */
export interface CacheOptions {
  enabled: boolean;
  ttlMs: number;
  /** Directory shared between processes; memory only when absent. */
  dir?: string;
  /** Memory bound: oldest entries are evicted first. */
  maxEntries?: number;
}

interface DiskEntry<T> {
  key: string;
  expiresAt: number;
  value: T;
}

export class TtlCache<T> {
  private readonly memory = new Map<string, { expiresAt: number; value: T }>();
  private readonly maxEntries: number;
  private readonly dir: string | undefined;

  constructor(
    namespace: string,
    private readonly options: CacheOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.dir = options.enabled && options.dir ? usableDirectory(join(options.dir, namespace)) : undefined;
  }

  get(key: string): T | undefined {
    if (!this.options.enabled) return undefined;
    const hit = this.memory.get(key);
    if (hit && hit.expiresAt > this.now()) return hit.value;
    if (hit) this.memory.delete(key);
    const disk = this.readDisk(key);
    if (disk) this.remember(key, disk.value, disk.expiresAt);
    return disk?.value;
  }

  set(key: string, value: T): void {
    if (!this.options.enabled) return;
    const expiresAt = this.now() + this.options.ttlMs;
    this.remember(key, value, expiresAt);
    this.writeDisk({ key, expiresAt, value });
  }

  get size(): number {
    return this.memory.size;
  }

  private remember(key: string, value: T, expiresAt: number): void {
    this.memory.delete(key);
    this.memory.set(key, { expiresAt, value });
    while (this.memory.size > this.maxEntries) {
      const oldest = this.memory.keys().next().value as string;
      this.memory.delete(oldest);
    }
  }

  private path(key: string): string {
    return join(this.dir!, `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  private readDisk(key: string): DiskEntry<T> | undefined {
    if (!this.dir) return undefined;
    try {
      const entry = JSON.parse(readFileSync(this.path(key), 'utf8')) as DiskEntry<T>;
      // The key is stored in full so a hash collision or a renamed file cannot answer for another key.
      if (entry.key !== key || typeof entry.expiresAt !== 'number' || entry.expiresAt <= this.now()) return undefined;
      return entry;
    } catch {
      return undefined;
    }
  }

  private writeDisk(entry: DiskEntry<T>): void {
    if (!this.dir) return;
    try {
      // Write then rename, so a concurrent reader never sees half a file.
      const target = this.path(entry.key);
      const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
      writeFileSync(tmp, JSON.stringify(entry), { mode: 0o600 });
      renameSync(tmp, target);
    } catch {
      // A cache that cannot be written only costs a network round trip next time.
    }
  }
}

/** The directory, created 0700 if missing, or undefined when it is not safe to trust. */
function usableDirectory(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if (!st.isDirectory() || (st.mode & 0o022) !== 0) return undefined;
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}
