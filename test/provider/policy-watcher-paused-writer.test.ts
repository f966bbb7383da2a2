import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { policyDigest } from '../../src/policy/trust-policy.js';
import { createLogger } from '../../src/provider/log.js';
import { PolicyWatcher } from '../../src/provider/policy-watcher.js';
import { eventually } from './https-client.js';

// Rule: a changed policy file is adopted only after two identical reads at least 1 s apart, so a
// writer rewriting the file in place (O_TRUNC) that pauses longer than the 200 ms settle time
// between chunks never has its half-written file installed. The half file here parses: it has
// defaultAction allow and lacks the enforce rule for prod, so adopting it would admit prod images
// (adversarial review finding). An in-place modification is warned about: use rename.

const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const full = `version: "1.0"
defaultAction: allow
trustedDIDs:
  ${A}: {name: "A"}
policies:
  - {name: dev, scope: "registry.example/dev/**", trustedDIDs: [${A}], action: audit}
  - {name: prod, scope: "registry.example/prod/**", trustedDIDs: [${A}], action: enforce}
`;
const next = full.replace('name: "A"', 'name: "A (renamed)"');
const cut = next.indexOf('  - {name: prod');

let dir: string;
let watcher: PolicyWatcher | undefined;
afterEach(() => {
  watcher?.close();
  rmSync(dir, { recursive: true, force: true });
});

function start(path: string) {
  const logs: { level: string; msg: string }[] = [];
  const loaded: string[] = [];
  watcher = new PolicyWatcher(path, {
    pollMs: 50,
    log: createLogger('debug', (level, line) => logs.push({ level, ...JSON.parse(line) })),
    onPolicy: (p) => loaded.push(p.digest),
  });
  return { watcher, logs, loaded };
}

describe('PolicyWatcher and an in-place writer that pauses between chunks', () => {
  it('never adopts the half-written file when the writer pauses 400 ms, and warns that updates must rename', async () => {
    dir = mkdtempSync(join(tmpdir(), 'paused-writer-'));
    const path = join(dir, 'trust-policy.yaml');
    writeFileSync(path, full);
    const { watcher, logs, loaded } = start(path);
    await watcher.start();
    expect(watcher.policy!.policies.map((p) => p.name)).toEqual(['dev', 'prod']);

    // In-place rewrite (O_TRUNC) to a new policy, in two chunks with a 400 ms pause between;
    // polling every 50 ms and fs.watch both see the half file, quiet for longer than 200 ms.
    const half = next.slice(0, cut);
    const fh = await open(path, 'w');
    await fh.write(half);
    await fh.datasync();
    const seen: string[][] = [];
    const pause = Date.now();
    while (Date.now() - pause < 400) {
      seen.push(watcher.policy!.policies.map((p) => p.name));
      await sleep(20);
    }
    void watcher.reload(); // a reload landing during the pause, as in the review's proof
    await fh.write(next.slice(cut));
    await fh.close();
    await eventually(() => loaded.at(-1) === policyDigest(next), 'the finished file to load', 10_000);
    expect(loaded).not.toContain(policyDigest(half));
    expect(loaded).toEqual([policyDigest(full), policyDigest(next)]);
    expect(new Set(seen.map((s) => s.join(',')))).toEqual(new Set(['dev,prod']));
    expect(logs.filter((l) => l.level === 'warn' && /modified in place.*renam/.test(l.msg))).toHaveLength(1);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  }, 20_000);

  it('a file replaced by rename is adopted (after confirmation) without the in-place warning', async () => {
    dir = mkdtempSync(join(tmpdir(), 'paused-writer-'));
    const path = join(dir, 'trust-policy.yaml');
    writeFileSync(path, full);
    const { watcher, logs, loaded } = start(path);
    await watcher.start();
    writeFileSync(join(dir, 'new.yaml'), next);
    renameSync(join(dir, 'new.yaml'), path);
    await eventually(() => loaded.length === 2, 'the renamed file to load', 10_000);
    expect(watcher.policy!.digest).toBe(policyDigest(next));
    expect(logs.filter((l) => l.level === 'warn')).toEqual([]);
  }, 20_000);
});
