import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { BoundedLru } from '../../src/registry/bounded-lru.js';
import { nextLink } from '../../src/registry/client.js';
import { DEFAULT_MAX_CLIENTS, RegistryPool } from '../../src/registry/registry-pool.js';
import { registryNetworkFor } from '../../src/verify/registry-admission.js';

const dir = mkdtempSync(join(tmpdir(), 'registry-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const closed = { allowPrivateNetwork: false, useHttp: false };

describe('registry pool: bounded state keyed by the canonical host', () => {
  it('gives every spelling of one registry the same client', () => {
    const configPath = join(dir, 'empty.json');
    writeFileSync(configPath, '{}');
    const p = new RegistryPool({ networkFor: () => closed, dockerConfigPath: configPath });
    const a = p.clientFor('Docker.IO');
    expect(p.clientFor('index.docker.io')).toBe(a);
    expect(p.clientFor('registry-1.docker.io:443')).toBe(a);
    expect(p.clientFor('GHCR.io')).toBe(p.clientFor('ghcr.io:443'));
    expect(p.size).toBe(2);
    p.closeAll();
  });

  it(`keeps at most ${DEFAULT_MAX_CLIENTS} clients however many registries are named`, () => {
    const configPath = join(dir, 'bounded.json');
    writeFileSync(configPath, '{}');
    const pool = new RegistryPool({ networkFor: () => closed, dockerConfigPath: configPath });
    for (let i = 0; i < 1000; i++) pool.clientFor(`r${i}.example`);
    expect(pool.size).toBe(DEFAULT_MAX_CLIENTS);
    pool.closeAll();
  });

  it('reads the docker config once per reload, not per registry', () => {
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify({ auths: {} }));
    const pool = new RegistryPool({ networkFor: () => closed, dockerConfigPath: configPath });
    pool.clientFor('one.example');
    writeFileSync(configPath, 'not json');
    expect(() => pool.clientFor('two.example')).not.toThrow();
    pool.reload();
    expect(() => pool.clientFor('three.example')).toThrow(VerificationError);
    writeFileSync(configPath, '{}');
    pool.reload();
    expect(() => pool.clientFor('three.example')).not.toThrow();
    pool.closeAll();
  });

  it('asks the network rules for the canonical host, per registry', () => {
    const policy = { registries: [{ host: 'mirror.corp:5000', allowPrivateNetwork: true }, { host: '*.plain.corp', allowHttp: true }] };
    const global = { allowPrivateNetwork: false, plainHttp: false };
    expect(registryNetworkFor(policy, 'MIRROR.corp:5000', global)).toEqual({ allowPrivateNetwork: true, useHttp: false });
    expect(registryNetworkFor(policy, 'mirror.corp:5001', global)).toEqual({ allowPrivateNetwork: false, useHttp: false });
    expect(registryNetworkFor(policy, 'r.plain.corp', global)).toEqual({ allowPrivateNetwork: false, useHttp: true });
    expect(registryNetworkFor(undefined, 'mirror.corp:5000', { allowPrivateNetwork: true, plainHttp: true })).toEqual({ allowPrivateNetwork: true, useHttp: true });
  });
});

describe('bounded LRU', () => {
  it('evicts the least recently used entry and tells the owner', () => {
    const evicted: string[] = [];
    const lru = new BoundedLru<string, number>(2, (k) => evicted.push(k));
    lru.set('a', 1);
    lru.set('b', 2);
    lru.get('a');
    lru.set('c', 3);
    expect(evicted).toEqual(['b']);
    expect(lru.get('a')).toBe(1);
    expect(lru.size).toBe(2);
  });
});

describe('referrers Link header stays on the registry', () => {
  const base = new URL('https://reg.example');
  it.each([
    ['</v2/app/referrers/sha256:aa?n=2>; rel="next"', '/v2/app/referrers/sha256:aa?n=2'],
    ['<https://reg.example/v2/app/referrers/x?last=1>; rel=next', '/v2/app/referrers/x?last=1'],
    [undefined, undefined],
  ])('follows %s', (header, path) => {
    expect(nextLink(header, base)).toBe(path);
  });
  it.each([
    ['<//evil.example/v2/app/referrers/x>; rel="next"'],
    ['<https://evil.example/v2/app/referrers/x>; rel="next"'],
    ['<http://reg.example/v2/app/referrers/x>; rel="next"'],
    ['<https://reg.example//evil.example/v2/x>; rel="next"'],
    ['</\\evil.example/v2/x>; rel="next"'],
    ['<\\\\evil.example/v2/x>; rel="next"'],
    ['</admin/secret>; rel="next"'],
    ['</v2/../admin>; rel="next"'],
  ])('refuses %s', (header) => {
    expect(() => nextLink(header, base)).toThrow(/off the registry/);
  });
});
