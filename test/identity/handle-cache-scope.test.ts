import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { handleCacheScope, verifyHandle, type HandleResolver } from '../../src/identity/handle.js';
import { TtlCache } from '../../src/identity/ttl-cache.js';

// Rule: a cached handle -> DID answer is reused only by a verifier with the same resolver and the
// same network allowance. Two configurations sharing one cache directory (two plugin processes,
// a CLI and a provider) must not answer for each other: the answer of a resolver reachable only
// on a private network, or of another XRPC service, is not this configuration's answer.

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const MALLORY = 'did:plc:malloryaaaaaaaaaaaaaaaaa';
const HANDLE = 'alice.example.com';
const dir = mkdtempSync(join(tmpdir(), 'handle-scope-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A cache over the shared directory, as a separate process would open it. */
const openCache = () => new TtlCache<string>('handle', { enabled: true, ttlMs: 60_000, dir, warn: () => undefined });
const answering = (did: string, calls: string[]): HandleResolver => async (h) => {
  calls.push(h);
  return did;
};

describe('handle cache keys carry the resolver identity and the network allowance', () => {
  it('scopes differ for another resolver URL, the standard resolver, an injected resolver, and the allowance', () => {
    const scopes = [
      handleCacheScope({ handleResolverUrl: 'https://pds.example' }, false),
      handleCacheScope({ handleResolverUrl: 'https://pds.example' }, true),
      handleCacheScope({ handleResolverUrl: 'https://other.example' }, false),
      handleCacheScope({}, false),
      handleCacheScope({}, true),
      handleCacheScope({ custom: true }, false),
    ];
    expect(new Set(scopes).size).toBe(scopes.length);
    expect(handleCacheScope({ handleResolverUrl: 'https://pds.example' }, false)).toBe(scopes[0]);
  });

  it('an answer cached on disk under a private-network resolver is not reused by a public-only configuration', async () => {
    const privCalls: string[] = [];
    const privileged = await verifyHandle(HANDLE, MALLORY, {
      resolver: answering(MALLORY, privCalls),
      cache: openCache(),
      cacheScope: handleCacheScope({ handleResolverUrl: 'http://10.0.0.7:2583' }, true),
    });
    expect(privileged.verified).toBe(true);

    const pubCalls: string[] = [];
    const publicOnly = await verifyHandle(HANDLE, MALLORY, {
      resolver: answering(ALICE, pubCalls),
      cache: openCache(),
      cacheScope: handleCacheScope({}, false),
    });
    expect(pubCalls).toEqual([HANDLE]);
    expect(publicOnly).toMatchObject({ verified: false, reason: expect.stringContaining('resolves to another DID') });
  });

  it('the same configuration in another process still reuses its own cached answer', async () => {
    const scope = handleCacheScope({ handleResolverUrl: 'https://pds.example' }, false);
    const first: string[] = [];
    await verifyHandle('bob.example.com', ALICE, { resolver: answering(ALICE, first), cache: openCache(), cacheScope: scope });
    const second: string[] = [];
    const again = await verifyHandle('bob.example.com', ALICE, { resolver: answering(MALLORY, second), cache: openCache(), cacheScope: scope });
    expect(second).toEqual([]);
    expect(again.verified).toBe(true);
  });
});
