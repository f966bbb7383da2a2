import { watch, type BigIntStats, type FSWatcher } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { asVerificationError, VerificationError } from '../errors.js';
import { MAX_POLICY_BYTES, parseTrustPolicy, type TrustPolicy } from '../policy/trust-policy.js';
import type { Logger } from './log.js';
import type { ProviderMetrics } from './metrics.js';

/**
 * Keeps the trust policy in step with its file. A Kubernetes ConfigMap volume updates by swapping
 * a symlink in the directory, so the directory is watched, not the file; fs.watch can miss events
 * (network filesystems, some container runtimes), so the file is also polled. A new file that
 * does not parse or validate is refused: the policy in use stays, the reason is logged and shown
 * by /ready, and `atproto_verifier_policy_valid` drops to 0 until the file is fixed.
 *
 * A file written in place (an editor, `cp`) can be caught half-written, and a truncated policy
 * may still parse, with fewer rules (issue 20, item 3). So the file is read once, whole, only when
 * it has been quiet for SETTLE_MS, and its identity, size, mtime and ctime must be the same before
 * the read, through it and after it; otherwise nothing is decided and it is read again later.
 * Start-up reads it the same way, and every accepted text passes parseTrustPolicy's checks.
 *
 * Quiet for SETTLE_MS is not proof of a complete file: a writer may pause longer between chunks
 * (adversarial review). So a CHANGED file is adopted only after two reads at least CONFIRM_MS
 * apart gave the same bytes from the same, unchanged file; the very first load reads once, since
 * nothing is being replaced then. A file modified in place (same inode, new mtime) is also logged
 * as a warning: updates must replace the file by rename, as ConfigMap volumes do.
 */

export interface PolicyStatus {
  path: string;
  /** A valid policy is in use (perhaps an older one than the file on disk). */
  loaded: boolean;
  digest?: string;
  loadedAt?: string;
  /** Why the file on disk is not in use; absent when it is. */
  lastError?: string;
  lastCheckedAt?: string;
}

export interface PolicyWatcherOptions {
  pollMs: number;
  log: Logger;
  metrics?: ProviderMetrics;
  /** Called with each newly loaded policy (the first one included). */
  onPolicy?: (policy: TrustPolicy) => void;
}

/** Editors and ConfigMap updates fire several events per change: wait for them to settle. */
const DEBOUNCE_MS = 100;
/** A file changed less than this long ago may still be being written (a writer pausing between chunks). */
export const SETTLE_MS = 200;
/** How long one reload waits for a file that keeps changing before it gives up until the next one. */
const MAX_SETTLE_WAIT_MS = 5_000;
/** A changed file must read the same twice, this far apart, before it replaces the policy in use. */
export const CONFIRM_MS = 1_000;
/** How many reads one reload makes to confirm a file that keeps changing before it gives up. */
const MAX_CONFIRM_READS = 6;

/** One complete read: the text and the file it came from. */
interface FileRead {
  text: string;
  stats: BigIntStats;
}

export class PolicyWatcher {
  private current: TrustPolicy | undefined;
  private loadedAt: Date | undefined;
  private lastError: string | undefined;
  private lastCheckedAt: Date | undefined;
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** The last read confirmed by a second identical one (or the start-up read): no need to wait on it again. */
  private confirmed: FileRead | undefined;
  /** The mtime last warned about for an in-place modification, so each change is warned about once. */
  private warnedInPlace: bigint | undefined;
  /** Only the first load (start-up: nothing to replace) may adopt a single read. */
  private firstLoad = true;

  constructor(
    readonly path: string,
    private readonly opts: PolicyWatcherOptions,
  ) {}

  get policy(): TrustPolicy | undefined {
    return this.current;
  }

  get status(): PolicyStatus {
    return {
      path: this.path,
      loaded: this.current !== undefined,
      ...(this.current ? { digest: this.current.digest } : {}),
      ...(this.loadedAt ? { loadedAt: this.loadedAt.toISOString() } : {}),
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.lastCheckedAt ? { lastCheckedAt: this.lastCheckedAt.toISOString() } : {}),
    };
  }

  /** Loads the policy once, then watches. An invalid first file is not fatal: /ready says why. */
  async start(): Promise<void> {
    await this.reload();
    this.startWatching();
    this.poller = setInterval(() => void this.reload(), this.opts.pollMs);
    this.poller.unref();
  }

  /** Re-reads the file now; reloads are serialised so two never race to install a policy. */
  reload(): Promise<void> {
    this.chain = this.chain.then(() => this.load());
    return this.chain;
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.poller);
    clearTimeout(this.debounce);
  }

  private startWatching(): void {
    const file = basename(this.path);
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, name) => {
        // ConfigMap swaps touch `..data` and timestamped dirs, not the file name: react to all.
        if (name && name !== file && !name.startsWith('..')) return;
        clearTimeout(this.debounce);
        this.debounce = setTimeout(() => void this.reload(), DEBOUNCE_MS);
      });
      this.watcher.on('error', (err) => {
        this.opts.log.warn('trust policy watch failed; polling only', { path: this.path, reason: err.message });
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.opts.log.warn('cannot watch the trust policy directory; polling only', { path: this.path, reason: asVerificationError(err).message });
    }
  }

  private async load(): Promise<void> {
    if (this.closed) return;
    this.lastCheckedAt = new Date();
    const { log, metrics } = this.opts;
    let policy: TrustPolicy;
    try {
      const read = await this.confirmedRead();
      if (read.kind === 'unsettled') {
        // Not a verdict on the policy: the file is still being written. Decide nothing now.
        log.warn('trust policy file keeps changing; not read this time', { path: this.path, reason: read.why });
        return;
      }
      policy = parseTrustPolicy(read.text, this.path);
    } catch (err) {
      const reason = asVerificationError(err).message;
      if (reason !== this.lastError) {
        metrics?.policyReloads.inc({ result: 'invalid' });
        const kept = this.current ? `keeping policy ${this.current.digest.slice(0, 12)}` : 'no policy in use: every image is refused';
        log.error(`trust policy file rejected; ${kept}`, { path: this.path, reason });
      }
      this.lastError = reason;
      metrics?.policyValid.set(0);
      return;
    }
    const recovered = this.lastError !== undefined;
    this.lastError = undefined;
    metrics?.policyValid.set(1);
    if (this.current?.digest === policy.digest) {
      if (recovered) log.info('trust policy file is valid again (unchanged from the one in use)', { path: this.path, digest: policy.digest });
      return;
    }
    const previous = this.current?.digest;
    this.current = policy;
    this.loadedAt = new Date();
    metrics?.policyReloads.inc({ result: 'loaded' });
    log.info(previous ? 'trust policy reloaded' : 'trust policy loaded', {
      path: this.path,
      digest: policy.digest,
      ...(previous ? { previous } : {}),
      trustedDIDs: policy.trustedDIDs.size,
      policies: policy.policies.map((p) => p.name),
    });
    this.opts.onPolicy?.(policy);
  }

  /**
   * The file's text, confirmed: unchanged from the last confirmed read, or read at start-up, or
   * read twice CONFIRM_MS apart with the same bytes from the same unchanged file. A half-written
   * file whose writer pauses (longer than SETTLE_MS, shorter than CONFIRM_MS) reads differently
   * the second time and is not adopted; the finished file then confirms itself on the next reads.
   */
  private async confirmedRead(): Promise<SettledRead> {
    const initial = this.firstLoad;
    this.firstLoad = false;
    let first = await readSettledFile(this.path, () => this.closed);
    if (first.kind === 'unsettled') return first;
    const previous = this.confirmed;
    if (initial || (previous && sameRead(previous, first))) {
      this.confirmed = { text: first.text, stats: first.stats };
      return first;
    }
    if (previous) this.warnIfModifiedInPlace(previous.stats, first.stats);
    for (let reads = 1; reads < MAX_CONFIRM_READS && !this.closed; reads++) {
      await sleep(CONFIRM_MS);
      const again = await readSettledFile(this.path, () => this.closed);
      if (again.kind === 'unsettled') return again;
      if (sameRead(first, again)) {
        this.confirmed = { text: again.text, stats: again.stats };
        return again;
      }
      first = again;
    }
    return { kind: 'unsettled', why: `it read differently on each of ${MAX_CONFIRM_READS} reads ${CONFIRM_MS} ms apart` };
  }

  private warnIfModifiedInPlace(before: BigIntStats, now: BigIntStats): void {
    if (before.dev !== now.dev || before.ino !== now.ino || before.mtimeNs === now.mtimeNs || this.warnedInPlace === now.mtimeNs) return;
    this.warnedInPlace = now.mtimeNs;
    this.opts.log.warn(
      'trust policy file was modified in place (same inode, new mtime): a reader can catch it half-written. Update it by writing a new file and renaming it over the old one (ConfigMap volumes do); the change is adopted only once two reads 1 s apart agree',
      { path: this.path },
    );
  }
}

/** Two reads of the same, unchanged file with the same bytes. */
function sameRead(a: FileRead, b: FileRead): boolean {
  return a.text === b.text && sameFile(a.stats, b.stats);
}

type SettledRead = ({ kind: 'text' } & FileRead) | { kind: 'unsettled'; why: string };

/**
 * The whole text of `path` from one read during which it did not change, taken once the file has
 * been quiet for SETTLE_MS (by its mtime, or, for an mtime in the future or too coarse, by seeing
 * it unchanged for that long). Missing, oversized or non-regular files throw POLICY_INVALID as
 * loadTrustPolicy does. `closed` stops the wait when the watcher closes.
 */
export async function readSettledFile(path: string, closed: () => boolean = () => false): Promise<SettledRead> {
  const started = Date.now();
  let unchangedSince: { stats: BigIntStats; at: number } | undefined;
  let why = 'no read yet';
  while (!closed() && Date.now() - started <= MAX_SETTLE_WAIT_MS) {
    const before = await statPolicy(path);
    const now = Date.now();
    if (!unchangedSince || !sameFile(unchangedSince.stats, before)) unchangedSince = { stats: before, at: now };
    const age = now - Number(before.mtimeMs);
    const quiet = age >= SETTLE_MS || now - unchangedSince.at >= SETTLE_MS;
    if (quiet) {
      const read = await readOnce(path, before);
      if (read !== undefined) return { kind: 'text', text: read, stats: before };
      why = 'it changed while it was read';
    } else {
      why = `it was written ${Math.max(0, Math.round(age))} ms ago`;
    }
    await sleep(SETTLE_MS / 4);
  }
  return { kind: 'unsettled', why };
}

/** One read of the file through a single handle; undefined if anything about it changed meanwhile. */
async function readOnce(path: string, before: BigIntStats): Promise<string | undefined> {
  const handle = await open(path, 'r');
  let bytes: Buffer;
  let opened: BigIntStats;
  let read: BigIntStats;
  try {
    opened = await handle.stat({ bigint: true });
    bytes = await handle.readFile();
    read = await handle.stat({ bigint: true });
  } finally {
    await handle.close();
  }
  const after = await statPolicy(path);
  const stable = sameFile(before, opened) && sameFile(opened, read) && sameFile(read, after) && BigInt(bytes.length) === after.size;
  return stable ? bytes.toString('utf8') : undefined;
}

async function statPolicy(path: string): Promise<BigIntStats> {
  let info: BigIntStats;
  try {
    info = await stat(path, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${err instanceof Error ? err.message : String(err)})`;
    throw new VerificationError('POLICY_INVALID', `trust policy file ${path} ${why}`, { cause: err });
  }
  if (!info.isFile()) throw new VerificationError('POLICY_INVALID', `trust policy ${path} is not a regular file`);
  if (info.size > BigInt(MAX_POLICY_BYTES)) {
    throw new VerificationError('POLICY_INVALID', `trust policy ${path} is ${info.size} bytes, above the ${MAX_POLICY_BYTES} byte cap`);
  }
  return info;
}

/** The same file (device and inode: a ConfigMap swap or a rename is another file), unchanged. */
function sameFile(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}
