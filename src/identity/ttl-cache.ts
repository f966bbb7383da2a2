import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { VERIFIER_VERSION } from '../version.js';
import { defaultCacheWarning, openCacheDirectory, type CacheDirectory, type CacheWarning } from './cache-directory.js';

/**
 * A bounded TTL cache in memory, optionally backed by a directory shared between processes
 * (Ratify starts one plugin process per verification, so memory alone never gets warm).
 *
 * Cached values are raw inputs (DID documents, handle answers), never verdicts: whatever is read
 * back goes through the same parsing and checks as a fresh answer (a PLC log is replayed). What
 * cannot be re-verified on read (a did:web document, a handle's DID) is trusted only because:
 * - it is read only from a directory that is ours at every level (./cache-directory.ts), through
 *   O_NOFOLLOW and an owner check of the open file;
 * - it is used only within its TTL: an entry that has expired, or claims to live longer than this
 *   process's TTL allows, is ignored;
 * - its key carries the verifier version, so entries written by another version are never read.
 */
export interface CacheOptions {
  enabled: boolean;
  ttlMs: number;
  /** Directory shared between processes; memory only when absent. */
  dir?: string;
  /** Memory bound: oldest entries are evicted first. */
  maxEntries?: number;
  /** Where a refused cache directory is reported (default: a `warn: ` line on stderr). */
  warn?: CacheWarning;
}

interface DiskEntry<T> {
  key: string;
  expiresAt: number;
  value: T;
}

export class TtlCache<T> {
  private readonly memory = new Map<string, { expiresAt: number; value: T }>();
  private readonly maxEntries: number;
  private readonly dir: CacheDirectory | undefined;

  constructor(
    private readonly namespace: string,
    private readonly options: CacheOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.dir = options.enabled && options.dir ? openCacheDirectory(join(options.dir, namespace), options.warn ?? defaultCacheWarning) : undefined;
  }

  /** True when entries are also kept on disk (the directory passed its checks). */
  get onDisk(): boolean {
    return this.dir !== undefined;
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
    this.writeDisk({ key: this.diskKey(key), expiresAt, value });
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

  /** The key as stored on disk: version and namespace included, so no other version or cache can answer for it. */
  private diskKey(key: string): string {
    return `atproto-verifier ${VERIFIER_VERSION}\n${this.namespace}\n${key}`;
  }

  private fileName(diskKey: string): string {
    return `${createHash('sha256').update(diskKey).digest('hex')}.json`;
  }

  private readDisk(key: string): { value: T; expiresAt: number } | undefined {
    if (!this.dir) return undefined;
    const diskKey = this.diskKey(key);
    const text = this.dir.read(this.fileName(diskKey));
    if (text === undefined) return undefined;
    try {
      const entry = JSON.parse(text) as DiskEntry<T>;
      const now = this.now();
      // The key is stored in full so a hash collision or a renamed file cannot answer for another key.
      if (typeof entry !== 'object' || entry === null || entry.key !== diskKey || typeof entry.expiresAt !== 'number') return undefined;
      // Only within the TTL: expired, or claiming a longer life than this process allows, is ignored.
      if (entry.expiresAt <= now || entry.expiresAt > now + this.options.ttlMs) return undefined;
      return { value: entry.value, expiresAt: entry.expiresAt };
    } catch {
      return undefined;
    }
  }

  private writeDisk(entry: DiskEntry<T>): void {
    this.dir?.write(this.fileName(entry.key), JSON.stringify(entry));
  }
}
