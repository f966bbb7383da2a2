import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `npm run bench` in its short mode (BENCH_SMOKE=1): the benchmark still starts the real network,
// runs every section and writes its table. No timing is asserted: CI machines are too noisy.

const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('benchmark smoke run', () => {
  it('measures every section and writes the results table', () => {
    const out = join(dir, 'RESULTS.md');
    const run = spawnSync(process.execPath, [resolve('bench/run.mjs')], {
      env: { ...process.env, BENCH_SMOKE: '1', BENCH_OUT: out },
      encoding: 'utf8',
      timeout: 110_000,
    });
    expect(run.status, `${run.stderr}\n${run.stdout}`).toBe(0);
    expect(existsSync(out)).toBe(true);
    const table = readFileSync(out, 'utf8');
    expect(table).toMatch(/on \d+ CPUs .*\nNode v\d+\./);
    for (const section of ['## 1. Plugin process startup', '## 2. One Ratify VERIFY per process', '## 2b. Cold VERIFY with', '## 3. Engine in one process', '## 4. Provider', '## 4b. Provider CPU per new image of a known publisher']) {
      expect(table).toContain(section);
    }
    expect(table).toMatch(/\| `atproto-verifier --version` \| [\d.]+ ms \| [\d.]+x \|/);
    expect(table).toMatch(/\| VERIFY, cold cache \| [\d.]+ ms \| [\d.]+x \| .* \| \d+ \(.*\) \| \d+ \|/);
    expect(table).toMatch(/\| VERIFY, warm cache \| [\d.]+ ms \|/);
    // With the payload in the layer descriptor, the cold critical path is the artifact, then the PDS proof.
    expect(table).toMatch(/\| VERIFY, cold cache, payload in descriptor `data` \| .* \| 2 \|/);
    expect(table).toMatch(/\| 5 \| [\d.,]+ \| [\d.,]+ \|/);
    expect(table).toMatch(/\| cached \| 64 \| \d+ \| [\d.,]+ \|/);
    expect(table).toMatch(/\| uncached \| 1 \| \d+ \| [\d.,]+ \|/);
    // The table is the product of a smoke run, and says so; the real one is bench/RESULTS.md.
    expect(table).toContain('smoke run');
  }, 120_000);
});
