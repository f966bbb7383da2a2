import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

  it('names the Node runtime it embeds (the pinned one, never the Node that built it) and its platform', () => {
    const pinned = JSON.parse(readFileSync('runtime/package.json', 'utf8')).optionalDependencies[`node-linux-${process.arch}`];
    const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
    const out = spawnSync(lonely, ['--version'], { cwd: dir, env: {}, encoding: 'utf8' });
    expect(out.stdout).toBe(`${version} (node v${pinned}, linux-${process.arch})\n`);
  });

  it('is the host entry of dist/SHA256SUMS, which checks the executables of both architectures', () => {
    const sums = readFileSync('dist/SHA256SUMS', 'utf8').trim().split('\n').map((l) => l.split('  '));
    expect(sums.map(([, name]) => name).sort()).toEqual(['atproto-verifier-linux-arm64', 'atproto-verifier-linux-x64']);
    for (const [sum, name] of sums) expect(createHash('sha256').update(readFileSync(`dist/${name}`)).digest('hex'), name).toBe(sum);
    const own = createHash('sha256').update(readFileSync(EXECUTABLE)).digest('hex');
    expect(sums.find(([, name]) => name === `atproto-verifier-linux-${process.arch}`)?.[0]).toBe(own);
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
