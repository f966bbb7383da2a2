import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrustPolicyCached } from '../../plugin/policy-cache.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';

// The plugin's parsed-policy cache: the same policy as a fresh parse, keyed by the policy text, and
// never trusted beyond its exact shape.

const POLICY = `version: "1.0"
defaultAction: deny
trustedDIDs:
  did:plc:aaaaaaaaaaaaaaaaaaaaaaaa: {name: "Alice (DevOps)", validFrom: "2024-01-01T00:00:00+02:00", expiresAt: null}
  did:plc:bbbbbbbbbbbbbbbbbbbbbbbb: {name: "Bob", validFrom: "2024-06-01T00:00:00Z", expiresAt: "2030-12-31T23:59:59Z", keys: ["zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"]}
policies:
  - name: production
    scope: "atcr.io/*/prod-*"
    trustedDIDs: [did:plc:aaaaaaaaaaaaaaaaaaaaaaaa, did:plc:bbbbbbbbbbbbbbbbbbbbbbbb]
    action: enforce
  - name: staging
    scope: "atcr.io/**"
    trustedDIDs: [did:plc:bbbbbbbbbbbbbbbbbbbbbbbb]
    action: audit
`;

let dir: string;
let cacheDir: string;
let policyPath: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'policy-cache-'));
  cacheDir = join(dir, 'cache');
  policyPath = join(dir, 'trust-policy.yaml');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function entries(): string[] {
  try {
    return readdirSync(join(cacheDir, 'policy')).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
}

function rewriteEntry(edit: (value: Record<string, unknown>) => void): void {
  const [file] = entries();
  const path = join(cacheDir, 'policy', file!);
  const entry = JSON.parse(readFileSync(path, 'utf8')) as { value: Record<string, unknown> };
  edit(entry.value);
  writeFileSync(path, JSON.stringify(entry));
}

describe('plugin trust policy cache', () => {
  it('parses on a miss, then answers from the cache with the same policy', async () => {
    rmSync(cacheDir, { recursive: true, force: true });
    writeFileSync(policyPath, POLICY);
    const expected = parseTrustPolicy(POLICY, policyPath);
    expect(await loadTrustPolicyCached(policyPath, cacheDir)).toEqual(expected);
    expect(entries()).toHaveLength(1);
    expect(await loadTrustPolicyCached(policyPath, cacheDir)).toEqual(expected);
  });

  it('reads the cached entry instead of parsing again', async () => {
    rewriteEntry((value) => {
      (value.trustedDIDs as { name?: string }[])[0]!.name = 'from the cache';
    });
    const policy = await loadTrustPolicyCached(policyPath, cacheDir);
    expect(policy.trustedDIDs.get('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa')?.name).toBe('from the cache');
  });

  it('never answers an edited policy with the old entry', async () => {
    writeFileSync(policyPath, POLICY.replace('action: audit', 'action: enforce'));
    const policy = await loadTrustPolicyCached(policyPath, cacheDir);
    expect(policy.policies[1]!.action).toBe('enforce');
    expect(policy.trustedDIDs.get('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa')?.name).toBe('Alice (DevOps)');
    expect(entries()).toHaveLength(2);
  });

  it('ignores an entry of the wrong shape and parses again', async () => {
    rmSync(cacheDir, { recursive: true, force: true });
    writeFileSync(policyPath, POLICY);
    await loadTrustPolicyCached(policyPath, cacheDir);
    const expected = parseTrustPolicy(POLICY, policyPath);
    const corruptions: ((v: Record<string, unknown>) => void)[] = [
      (v) => (v.defaultAction = 'allow-everything'),
      (v) => ((v.policies as { action: string }[])[0]!.action = 'maybe'),
      (v) => ((v.policies as { trustedDIDs: string[] }[])[0]!.trustedDIDs.push('did:plc:cccccccccccccccccccccccc')),
      (v) => ((v.trustedDIDs as { validFrom?: string }[])[0]!.validFrom = 'not a date'),
      (v) => (v.format = 0),
    ];
    for (const corrupt of corruptions) {
      rmSync(cacheDir, { recursive: true, force: true });
      await loadTrustPolicyCached(policyPath, cacheDir);
      rewriteEntry(corrupt);
      expect(await loadTrustPolicyCached(policyPath, cacheDir)).toEqual(expected);
    }
  });

  it('still refuses an invalid policy with its location, and caches nothing for it', async () => {
    rmSync(cacheDir, { recursive: true, force: true });
    writeFileSync(policyPath, POLICY.replace('action: enforce', 'action: sometimes'));
    await expect(loadTrustPolicyCached(policyPath, cacheDir)).rejects.toThrow(/trust-policy\.yaml:\d+:\d+/);
    expect(entries()).toHaveLength(0);
  });

  it('reports a missing file as loadTrustPolicy does, with or without a cache directory', async () => {
    const missing = join(dir, 'absent.yaml');
    await expect(loadTrustPolicyCached(missing, cacheDir)).rejects.toMatchObject({ code: 'POLICY_INVALID' });
    await expect(loadTrustPolicyCached(missing, undefined)).rejects.toMatchObject({ code: 'POLICY_INVALID' });
  });
});
