import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The executable an operator copies into /.ratify/plugins: alone in an empty directory, with an
// empty environment (no PATH, so no `node`; no node_modules anywhere near), it must still run.

const EXECUTABLE = resolve('dist/atproto-verifier');
const dir = mkdtempSync(join(tmpdir(), 'lonely-plugin-'));
const lonely = join(dir, 'atproto-verifier');
copyFileSync(EXECUTABLE, lonely);
execFileSync('chmod', ['755', lonely]);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dist/atproto-verifier on its own', () => {
  it('prints its version with no Node and no node_modules beside it', () => {
    const out = spawnSync(lonely, ['--version'], { cwd: dir, env: {}, encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(out.stderr).toBe('');
  });

  it('answers the Ratify protocol from its embedded bundle (a protocol error, exit 1)', () => {
    const out = spawnSync(lonely, [], { cwd: dir, env: { RATIFY_VERIFIER_COMMAND: 'VERIFY' }, input: '{}', encoding: 'utf8' });
    expect(out.status).toBe(1);
    expect(JSON.parse(out.stdout)).toEqual({ code: 4, msg: 'missing env variables [RATIFY_VERIFIER_VERSION,RATIFY_VERIFIER_SUBJECT]' });
  });

  it('runs its CLI too', () => {
    const out = spawnSync(lonely, ['--help'], { cwd: dir, env: {}, encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('verify');
  });
});
