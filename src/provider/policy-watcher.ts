import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { asVerificationError } from '../errors.js';
import { loadTrustPolicy, type TrustPolicy } from '../policy/trust-policy.js';
import type { Logger } from './log.js';
import type { ProviderMetrics } from './metrics.js';

/**
 * Keeps the trust policy in step with its file. A Kubernetes ConfigMap volume updates by swapping
 * a symlink in the directory, so the directory is watched, not the file; fs.watch can miss events
 * (network filesystems, some container runtimes), so the file is also polled. A new file that
 * does not parse or validate is refused: the policy in use stays, the reason is logged and shown
 * by /ready, and `atproto_verifier_policy_valid` drops to 0 until the file is fixed.
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
      policy = await loadTrustPolicy(this.path);
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
}
