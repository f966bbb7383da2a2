/**
 * Issue 20 item 1, in the deployment: Ratify starts the plugin processes for a Pod's images at
 * once, and on a fresh container they race to create cacheDir and its namespaces. Losing that
 * race (mkdir fails with EEXIST) must not cost the disk cache, and must not let in a directory
 * that another user created: what is there is checked like any existing level. The race window
 * is a few microseconds between lstat and mkdir, so the winner is simulated: mkdirSync is wrapped
 * to create the directory first (as the other process would), then run the real call.
 */
import { chownSync, mkdirSync as realMkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const race = vi.hoisted(() => ({ winner: undefined as undefined | ((path: string) => void) }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const mkdirSync = ((path: string, options?: unknown) => {
    const winner = race.winner;
    race.winner = undefined;
    winner?.(path);
    return (fs.mkdirSync as (p: string, o?: unknown) => unknown)(path, options);
  }) as typeof fs.mkdirSync;
  return { ...fs, default: { ...fs, mkdirSync }, mkdirSync };
});

const { openCacheDirectory } = await import('../../src/identity/cache-directory.js');

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
let base: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'cache-race-'));
});

afterEach(() => {
  race.winner = undefined;
  rmSync(base, { recursive: true, force: true });
});

describe('two processes creating a fresh cache directory at once', () => {
  it('the one whose mkdir fails with EEXIST still uses the directory the other created', () => {
    const warnings: string[] = [];
    const dir = join(base, 'atproto-verifier-cache');
    let raced = '';
    race.winner = (path) => {
      raced = path;
      realMkdirSync(path, { mode: 0o700 });
    };
    const opened = openCacheDirectory(dir, (m) => warnings.push(m));
    expect(raced).toBe(dir);
    expect(warnings).toEqual([]);
    expect(opened).toBeDefined();
    opened!.write('entry.json', '{"k":1}');
    expect(opened!.read('entry.json')).toBe('{"k":1}');
  });

  it.runIf(asRoot)('a directory another user slipped in first is refused, naming its owner (the check still runs)', () => {
    const warnings: string[] = [];
    const dir = join(base, 'atproto-verifier-cache');
    race.winner = (path) => {
      realMkdirSync(path, { mode: 0o700 });
      chownSync(path, 54321, 54321);
    };
    expect(openCacheDirectory(dir, (m) => warnings.push(m))).toBeUndefined();
    expect(statSync(dir).uid).toBe(54321);
    expect(warnings.join('\n')).toContain(`${dir} is owned by uid 54321, not by this process`);
  });

  it('any other mkdir failure is still a refusal with the reason, never a silent fallback', () => {
    const warnings: string[] = [];
    const dir = join(base, 'atproto-verifier-cache');
    race.winner = () => {
      throw Object.assign(new Error('EACCES: permission denied, mkdir'), { code: 'EACCES' });
    };
    expect(openCacheDirectory(dir, (m) => warnings.push(m))).toBeUndefined();
    expect(warnings.join('\n')).toMatch(/cannot be checked \(EACCES/);
  });
});
