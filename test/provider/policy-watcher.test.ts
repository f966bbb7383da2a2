import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { policyDigest } from '../../src/policy/trust-policy.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/provider/log.js';
import { createMetrics } from '../../src/provider/metrics.js';
import { PolicyWatcher } from '../../src/provider/policy-watcher.js';
import { eventually, metricValue } from './https-client.js';

// The trust policy follows its file: on real files, including the symlink swap a Kubernetes
// ConfigMap volume does (`..data` -> a timestamped directory).

const policy = (did: string) =>
  `version: "1.0"\ntrustedDIDs:\n  ${did}: {name: "X"}\npolicies:\n  - {name: all, scope: "**", trustedDIDs: [${did}], action: enforce}\n`;

let dir: string;
let watcher: PolicyWatcher | undefined;
afterEach(() => {
  watcher?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function start(path: string, pollMs = 60_000) {
  const lines: { level: string; msg: string; reason?: string }[] = [];
  const metrics = createMetrics();
  const loaded: string[] = [];
  watcher = new PolicyWatcher(path, {
    pollMs,
    log: createLogger('debug', (level, line) => lines.push({ level, ...JSON.parse(line) })),
    metrics,
    onPolicy: (p) => loaded.push(p.digest),
  });
  return { watcher, lines, metrics, loaded };
}

describe('PolicyWatcher', () => {
  it('reloads on change, refuses an invalid file while keeping the policy in use, and recovers', async () => {
    dir = mkdtempSync(join(tmpdir(), 'policy-watch-'));
    const path = join(dir, 'trust-policy.yaml');
    writeFileSync(path, policy('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'));
    const { watcher, lines, metrics, loaded } = start(path);
    await watcher.start();
    expect(watcher.status).toMatchObject({ path, loaded: true });
    expect(loaded).toHaveLength(1);

    writeFileSync(path, policy('did:plc:bbbbbbbbbbbbbbbbbbbbbbbb'));
    await eventually(() => loaded.length === 2, 'fs.watch to pick up the new file');
    expect(watcher.policy?.trustedDIDs.has('did:plc:bbbbbbbbbbbbbbbbbbbbbbbb')).toBe(true);

    writeFileSync(path, policy('not-a-did'));
    await eventually(() => watcher.status.lastError !== undefined, 'the invalid file to be refused');
    expect(watcher.status.lastError).toMatch(/trust-policy\.yaml:\d+:\d+/);
    expect(watcher.policy?.digest).toBe(loaded[1]);
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(metricValue(await metrics.registry.metrics(), 'atproto_verifier_policy_valid')).toBe(0);
    // The same bad file seen again (polling) is not logged again.
    await watcher.reload();
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);

    writeFileSync(path, policy('did:plc:cccccccccccccccccccccccc'));
    await eventually(() => loaded.length === 3, 'the fixed file to load');
    expect(watcher.status.lastError).toBeUndefined();
    expect(metricValue(await metrics.registry.metrics(), 'atproto_verifier_policy_reloads_total', { result: 'loaded' })).toBe(3);
  });

  it('follows a ConfigMap-style symlink swap', async () => {
    dir = mkdtempSync(join(tmpdir(), 'policy-watch-'));
    const v1 = join(dir, '..2024_01_01_v1');
    const v2 = join(dir, '..2024_01_01_v2');
    mkdirSync(v1);
    mkdirSync(v2);
    writeFileSync(join(v1, 'trust-policy.yaml'), policy('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'));
    writeFileSync(join(v2, 'trust-policy.yaml'), policy('did:plc:dddddddddddddddddddddddd'));
    symlinkSync('..2024_01_01_v1', join(dir, '..data'));
    symlinkSync('..data/trust-policy.yaml', join(dir, 'trust-policy.yaml'));
    const { watcher, loaded } = start(join(dir, 'trust-policy.yaml'));
    await watcher.start();
    // The kubelet's atomic update: a new ..data link renamed over the old one.
    symlinkSync('..2024_01_01_v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await eventually(() => loaded.length === 2, 'the swapped policy to load');
    expect(watcher.policy?.trustedDIDs.has('did:plc:dddddddddddddddddddddddd')).toBe(true);
  });

  it('polls when no event comes, and starts unready on a missing file rather than crashing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'policy-watch-'));
    const path = join(dir, 'sub', 'trust-policy.yaml');
    const { watcher, loaded } = start(path, 100);
    await watcher.start();
    expect(watcher.status).toMatchObject({ loaded: false, lastError: expect.stringMatching(/does not exist/) });
    // The directory did not exist, so there is no watch: only polling can see the file appear.
    mkdirSync(join(dir, 'sub'));
    writeFileSync(path, policy('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'));
    await eventually(() => loaded.length === 1, 'polling to find the file');
    expect(watcher.status.loaded).toBe(true);
  });

  it('never decides with a torn read: a policy written in place in small chunks is installed whole or not at all', async () => {
    dir = mkdtempSync(join(tmpdir(), 'policy-watch-'));
    const path = join(dir, 'trust-policy.yaml');
    const did = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
    const old = `version: "1.0"\ndefaultAction: deny\ntrustedDIDs:\n  ${did}: {name: A}\npolicies:\n  - {name: all, scope: "**", trustedDIDs: [${did}]}\n`;
    // Every line boundary of this file is a valid policy with fewer rules and defaultAction
    // allow: exactly what a torn read of an in-place write would install (issue 20, item 3).
    const lines = ['version: "1.0"\n', 'defaultAction: allow\n', 'trustedDIDs:\n', `  ${did}: {name: A}\n`, 'policies: []\n'];
    const rules = Array.from({ length: 12 }, (_, i) => `  - {name: p${i}, scope: "ghcr.io/team${i}/**", trustedDIDs: [${did}]}\n`);
    const next = [...lines.slice(0, 4), 'policies:\n', ...rules].join('');
    writeFileSync(path, old);
    const { watcher, lines: logs, loaded } = start(path, 15);
    await watcher.start();
    expect(loaded).toEqual([policyDigest(old)]);

    // An in-place writer (like cp or an editor without rename): truncate, then a line at a time.
    const file = await open(path, 'w');
    for (const chunk of [...lines.slice(0, 4), 'policies:\n', ...rules]) {
      await file.write(chunk);
      await file.datasync();
      await sleep(40);
    }
    await file.close();
    await eventually(() => loaded.at(-1) === policyDigest(next), 'the finished file to load');
    expect(loaded).toEqual([policyDigest(old), policyDigest(next)]);
    expect(watcher.policy?.policies).toHaveLength(12);
    // Half-written states are not reported as invalid policies either: they were never judged.
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  }, 20_000);
});
