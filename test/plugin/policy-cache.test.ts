import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { p256 } from '@noble/curves/nist.js';
import { base58btc } from 'multiformats/bases/base58';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrustPolicyCached } from '../../plugin/policy-cache.js';
import { evaluateTrust } from '../../src/policy/evaluate.js';
import { parseTrustPolicy, type TrustPolicy } from '../../src/policy/trust-policy.js';

// The plugin's policy cache (issues 17 and 20): it holds the policy module's entry, the author's
// document as plain data bound to the text's sha256 and the verifier version, never a built
// policy. A policy read through it is the policy a fresh parse gives, field for field, whatever
// fields TrustPolicy has (the comparison is generic, so new fields are covered without edits).

// A legacy (uncompressed, no multicodec) P-256 key: the cache must keep the canonical form too.
const LEGACY_KEY = base58btc.encode(p256.getPublicKey(new Uint8Array(32).fill(4), false));
const POLICY = `version: "1.0"
defaultAction: audit
trustedDIDs:
  did:plc:aaaaaaaaaaaaaaaaaaaaaaaa: {name: "Alice (DevOps)", validFrom: "2024-01-01T00:00:00+02:00", expiresAt: null}
  did:plc:bbbbbbbbbbbbbbbbbbbbbbbb: {name: "Bob", validFrom: "2024-06-01T00:00:00Z", expiresAt: "2030-12-31T23:59:59Z", keys: ["zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", "${LEGACY_KEY}"]}
  did:web:ci.example.com: {}
policies:
  - name: production
    scope: "atcr.io/*/prod-*"
    require: {signature: true}
    trustedDIDs: [did:plc:aaaaaaaaaaaaaaaaaaaaaaaa, did:plc:bbbbbbbbbbbbbbbbbbbbbbbb]
    action: enforce
  - name: staging
    scope: "atcr.io/**"
    trustedDIDs: [did:plc:bbbbbbbbbbbbbbbbbbbbbbbb]
    action: audit
  - {name: hub, scope: "docker.io/library/nginx", trustedDIDs: [did:web:ci.example.com]}
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

function rewriteEntry(edit: (value: Record<string, any>) => void): void {
  const [file] = entries();
  const path = join(cacheDir, 'policy', file!);
  const entry = JSON.parse(readFileSync(path, 'utf8')) as { value: Record<string, unknown> };
  edit(entry.value);
  writeFileSync(path, JSON.stringify(entry));
}

/** A miss (parse and store), then a hit (decode the entry): both must equal a fresh parse. */
async function throughTheCache(text: string): Promise<{ miss: TrustPolicy; hit: TrustPolicy; fresh: TrustPolicy }> {
  rmSync(cacheDir, { recursive: true, force: true });
  writeFileSync(policyPath, text);
  const miss = await loadTrustPolicyCached(policyPath, cacheDir);
  expect(entries()).toHaveLength(1);
  const hit = await loadTrustPolicyCached(policyPath, cacheDir);
  return { miss, hit, fresh: parseTrustPolicy(text, policyPath) };
}

describe('plugin trust policy cache', () => {
  it.each([
    ['a policy using every field', POLICY],
    ['examples/trust-policy.yaml', readFileSync('examples/trust-policy.yaml', 'utf8')],
  ])('%s read through the cache is, field for field, the policy a fresh parse gives', async (_, text) => {
    const { miss, hit, fresh } = await throughTheCache(text);
    // Generic: every field of TrustPolicy, present and future (registries, require.signers, offline...).
    expect(miss).toEqual(fresh);
    expect(hit).toEqual(fresh);
    expect(hit).not.toBe(miss);
  });

  it('decides as a fresh parse on a table of images and signers', async () => {
    const { hit, fresh } = await throughTheCache(POLICY);
    const now = new Date('2026-01-01T00:00:00Z');
    for (const image of ['atcr.io/alice.example/prod-api', 'ATCR.io/x/y', 'nginx:1.25', 'ghcr.io/other/app']) {
      for (const did of ['did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb', 'did:web:ci.example.com', 'did:plc:eeeeeeeeeeeeeeeeeeeeeeee']) {
        const input = { image, did, signedAt: new Date('2025-01-01T00:00:00Z'), signingKey: LEGACY_KEY, now };
        expect(evaluateTrust(hit, input)).toEqual(evaluateTrust(fresh, input));
      }
    }
  });

  it('decodes a hit from the entry, through the same checks as a fresh parse', async () => {
    await throughTheCache(POLICY);
    rewriteEntry((value) => {
      value.document.trustedDIDs['did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'].name = 'from the cache';
    });
    const policy = await loadTrustPolicyCached(policyPath, cacheDir);
    expect(policy.trustedDIDs.get('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa')?.name).toBe('from the cache');
  });

  it('never answers an edited policy with the old entry', async () => {
    await throughTheCache(POLICY);
    const edited = POLICY.replace('action: audit', 'action: enforce');
    writeFileSync(policyPath, edited);
    const policy = await loadTrustPolicyCached(policyPath, cacheDir);
    expect(policy).toEqual(parseTrustPolicy(edited, policyPath));
    expect(entries()).toHaveLength(2);
  });

  it('ignores an entry bound to another text or version, or one whose document fails any check, and parses again', async () => {
    const fresh = parseTrustPolicy(POLICY, policyPath);
    const corruptions: ((v: Record<string, any>) => void)[] = [
      (v) => (v.digest = '0'.repeat(64)), // made from another text
      (v) => (v.verifierVersion = '0.0.1-old'), // made by another parser
      (v) => (v.format = 'parsed-policy'),
      (v) => delete v.document,
      (v) => (v.document.defaultAction = 'allow-everything'), // schema
      (v) => (v.document.policies[0].action = 'maybe'), // schema
      (v) => (v.document.policies[0].scope = 'docker.io/nginx'), // canonical scope check
      (v) => v.document.policies[0].trustedDIDs.push('did:plc:cccccccccccccccccccccccc'), // undeclared DID
      (v) => (v.document.trustedDIDs['did:plc:bbbbbbbbbbbbbbbbbbbbbbbb'].keys = ['zQ3shNotAKeyAtAll111111111111111111111111111']), // pinned key
      (v) => (v.document.trustedDIDs['did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'].validFrom = '2024-02-30T00:00:00Z'), // calendar
    ];
    for (const corrupt of corruptions) {
      await throughTheCache(POLICY);
      rewriteEntry(corrupt);
      expect(await loadTrustPolicyCached(policyPath, cacheDir)).toEqual(fresh);
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

describe('a policy with registries', () => {
  it('keeps its registries on every load: a cached form without them would drop mirror mappings and ATCR overrides', async () => {
    const path = join(dir, 'with-registries.yaml');
    writeFileSync(path, `${POLICY}registries:\n  - {host: harbor.corp, mirrorOf: atcr.io, stripPrefix: atcr-proxy}\n  - {host: atcr.self, atcr: true}\n`);
    const first = await loadTrustPolicyCached(path, cacheDir);
    const second = await loadTrustPolicyCached(path, cacheDir);
    for (const policy of [first, second]) {
      expect(policy.registries).toEqual([{ host: 'harbor.corp', mirrorOf: 'atcr.io', stripPrefix: 'atcr-proxy' }, { host: 'atcr.self', atcr: true }]);
    }
  });
});

describe('a cached policy keeps require.signers and offline: allowed (issues 14, 17)', () => {
  it('decides exactly as a fresh parse after a read through the cache', async () => {
    const text = `version: "1.0"
trustedDIDs:
  did:plc:aaaaaaaaaaaaaaaaaaaaaaaa: {name: "Alice", keys: ["zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"], offline: allowed}
  did:plc:bbbbbbbbbbbbbbbbbbbbbbbb: {name: "Bob"}
policies:
  - {name: release, scope: "**", require: {signature: true, signers: 2}, trustedDIDs: [did:plc:aaaaaaaaaaaaaaaaaaaaaaaa, did:plc:bbbbbbbbbbbbbbbbbbbbbbbb]}
`;
    const path = join(dir, 'two-person.yaml');
    const cache = join(dir, 'signers-cache');
    writeFileSync(path, text);
    const first = await loadTrustPolicyCached(path, cache);
    const cached = await loadTrustPolicyCached(path, cache); // the second read is served from the cache
    const fresh = parseTrustPolicy(text, path);
    for (const policy of [first, cached]) {
      expect(policy.policies[0]!.require).toEqual({ signature: true, signers: 2 });
      expect(policy.trustedDIDs.get('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa')!.offline).toBe('allowed');
      expect(policy.trustedDIDs.get('did:plc:bbbbbbbbbbbbbbbbbbbbbbbb')!.offline).toBeUndefined();
      expect(policy.policies).toEqual(fresh.policies);
      expect([...policy.trustedDIDs]).toEqual([...fresh.trustedDIDs]);
    }
  });
});
