import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describePolicy, explainTrust } from '../../src/cli/policy-command.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { cliIsBuilt, runCli } from './run-cli.js';

const ALICE = 'did:plc:aliceexampleaaaaaaaaaaaa';
const BOB = 'did:plc:bobexampleaaaaaaaaaaaaaa';
const CI = 'did:web:ci.example.com';
const EXAMPLE = 'examples/trust-policy.yaml';
const NOW = new Date('2025-06-01T00:00:00Z');

let dir: string;
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

beforeAll(() => {
  expect(cliIsBuilt(), 'dist/cli.js is missing: run node scripts/build.mjs --bundle-only').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'cli-policy-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('policy check FILE', () => {
  it('accepts the annotated example and prints what it trusts, per scope', async () => {
    const r = await runCli(['policy', 'check', EXAMPLE]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^VALID {2}examples\/trust-policy\.yaml {2}\(3 policies, 3 trusted DIDs, sha256 [a-f0-9]{12}\)$/);
    expect(r.stdout).toContain('default     deny: images no scope covers are refused (NO_POLICY)');
    const prod = lines.indexOf('  scope       atcr.io/*/prod-*');
    expect(prod).toBeGreaterThan(0);
    expect(lines.slice(prod + 1, prod + 4)).toEqual([
      '    policy "production" (enforce) trusts:',
      `      ${ALICE} "Alice (DevOps)": signed from 2024-01-01T00:00:00Z, no expiry`,
      `      ${BOB} "Bob (Security)": signed from 2024-06-01T00:00:00Z until 2030-12-31T23:59:59Z`,
    ]);
    expect(r.stdout).toContain(`      ${CI} "Release pipeline": signed at any time, no expiry, 1 pinned key`);
    expect(r.stdout).toContain('policy "staging-rollout" (audit: failures are reported, never refused) trusts:');
    expect(r.stdout).not.toContain('warnings');
  });

  it('rejects an unknown key with its line and column (exit 2)', async () => {
    const path = file(
      'typo.yaml',
      `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {name: "Alice"}\npolicies:\n  - name: prod\n    scope: "atcr.io/**"\n    trustedDIDs: [${ALICE}]\n    acton: enforce\n`,
    );
    const r = await runCli(['policy', 'check', path]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`[POLICY_INVALID] trust policy ${path}:8:5: /policies/0/acton: unknown key "acton" (did you mean "action"?)`);
  });

  it('rejects broken YAML and an undeclared DID at their lines (exit 2)', async () => {
    const yaml = await runCli(['policy', 'check', file('broken.yaml', `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {name: "Alice"\npolicies: []\n`)]);
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toMatch(/broken\.yaml:\d+:\d+: not valid YAML/);
    const undeclared = await runCli([
      'policy',
      'check',
      file('undeclared.yaml', `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {}\npolicies:\n  - name: prod\n    scope: "atcr.io/**"\n    trustedDIDs: [${BOB}]\n`),
    ]);
    expect(undeclared.code).toBe(2);
    expect(undeclared.stderr).toContain(`undeclared.yaml:7:19: /policies/0/trustedDIDs/0: policy "prod" trusts ${BOB}, which is not declared`);
  });

  it('rejects a file that does not exist (exit 2)', async () => {
    const r = await runCli(['policy', 'check', join(dir, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing.yaml does not exist');
  });

  it('warns about valid policies that do not do what they seem to', () => {
    const policy = parseTrustPolicy(
      `version: "1.0"\ndefaultAction: allow\ntrustedDIDs:\n  ${ALICE}: {expiresAt: "2025-01-01T00:00:00Z"}\n  ${BOB}: {}\npolicies:\n  - name: prod\n    scope: "atcr.io/**"\n    trustedDIDs: [${ALICE}]\n`,
      'warn.yaml',
    );
    const text = describePolicy(policy, NOW);
    expect(text).toContain(`${ALICE}: signed at any time until 2025-01-01T00:00:00Z  [EXPIRED: admits nothing now]`);
    expect(text).toContain(`- ${BOB} is declared in trustedDIDs but no policy trusts it`);
    expect(text).toContain(`- trust in ${ALICE} ended at 2025-01-01T00:00:00Z`);
    expect(text).toContain('- defaultAction allow admits every image outside the scopes');
  });
});

describe('policy explain FILE IMAGE DID', () => {
  it('passes a trusted signer and says which policy matched and which did not (exit 0)', async () => {
    const r = await runCli(['policy', 'explain', EXAMPLE, 'atcr.io/alice.example/prod-api:1.4', ALICE]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^WOULD PASS {2}atcr\\.io/alice\\.example/prod-api:1\\.4 signed by ${ALICE} at `));
    expect(r.stdout).toContain('image       matched as atcr.io/alice.example/prod-api (tag and digest are not part of scopes)');
    expect(r.stdout).toContain(`pass        policy "production": scope atcr.io/*/prod-* covers it; ${ALICE} is trusted as "Alice (DevOps)"`);
    expect(r.stdout).toContain('skip        policy "release-pipeline": scope ghcr.io/example-org/** does not cover it');
    expect(r.stdout).toContain('decision    admitted: every matching policy passes');
  });

  it('refuses a signature made after expiresAt, with the code and the remedy (exit 1)', async () => {
    const r = await runCli(['policy', 'explain', EXAMPLE, 'atcr.io/bob/prod-db', BOB, '--signed-at', '2031-01-05T00:00:00Z']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^WOULD BE REFUSED {2}/);
    expect(r.stdout).toContain('FAIL        policy "production": scope atcr.io/*/prod-* covers it, but');
    expect(r.stdout).toContain(`[DID_EXPIRED] ${BOB} ("Bob (Security)") signed at 2031-01-05T00:00:00.000Z, at or after its expiresAt`);
    expect(r.stdout).toContain('decision    refused: a matching enforce policy fails');
    expect(r.stdout).toMatch(/remedy {6}The signer's trust window has ended/);
  });

  it('refuses an image no scope covers under defaultAction deny (exit 1)', async () => {
    const r = await runCli(['policy', 'explain', EXAMPLE, 'nginx:1.25', ALICE]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('matched as docker.io/library/nginx');
    expect(r.stdout).toContain('default     no scope covers docker.io/library/nginx: defaultAction deny [NO_POLICY]');
  });

  it('rejects a malformed DID, time or policy as usage errors (exit 2)', async () => {
    const did = await runCli(['policy', 'explain', EXAMPLE, 'atcr.io/a/prod-b', 'alice.example']);
    expect(did.code).toBe(2);
    expect(did.stderr).toContain('[INPUT_INVALID] "alice.example" is not a did:plc or did:web identifier');
    const time = await runCli(['policy', 'explain', EXAMPLE, 'atcr.io/a/prod-b', ALICE, '--signed-at', 'yesterday']);
    expect(time.code).toBe(2);
    expect(time.stderr).toContain('--signed-at "yesterday" is not a date and time');
    const missing = await runCli(['policy', 'explain', join(dir, 'nope.yaml'), 'atcr.io/a/prod-b', ALICE]);
    expect(missing.code).toBe(2);
    const args = await runCli(['policy', 'explain', EXAMPLE, 'atcr.io/a/prod-b']);
    expect(args.code).toBe(2);
    expect(args.stderr).toContain("missing required argument 'did'");
  });

  it('admits with audit findings when only an audit policy fails', () => {
    const policy = parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {}\n  ${BOB}: {}\npolicies:\n  - name: staging\n    scope: "r.example/staging/**"\n    trustedDIDs: [${ALICE}]\n    action: audit\n`,
    );
    const { text, allowed } = explainTrust(policy, 'r.example/staging/web', BOB, NOW, NOW);
    expect(allowed).toBe(true);
    expect(text).toMatch(/^WOULD PASS \(audit only\)/);
    expect(text).toContain('audit-fail  policy "staging" (audit): scope r.example/staging/** covers it, but');
    expect(text).toContain('[UNTRUSTED_DID]');
    expect(text).toContain('decision    admitted, with audit findings: only audit-mode checks fail');
  });

  it('needs every matching enforce policy to pass, not only the first', () => {
    const policy = parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {}\n  ${BOB}: {}\npolicies:\n  - name: all\n    scope: "r.example/**"\n    trustedDIDs: [${ALICE}, ${BOB}]\n  - name: prod\n    scope: "r.example/prod/**"\n    trustedDIDs: [${ALICE}]\n`,
    );
    const { text, allowed } = explainTrust(policy, 'r.example/prod/api@sha256:' + 'a'.repeat(64), BOB, NOW, NOW);
    expect(allowed).toBe(false);
    expect(text).toContain('pass        policy "all"');
    expect(text).toContain('FAIL        policy "prod"');
  });

  it('says that pinned keys remain to be checked, and judges signing time against validFrom', () => {
    const key = 'zQ3shTtBMmZuEie36jmR1TPrysb9vEULoV7g2bahKT132r8e7';
    const policy = parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${CI}: {validFrom: "2025-01-01T00:00:00Z", keys: [${key}]}\npolicies:\n  - name: ci\n    scope: "ghcr.io/example-org/**"\n    trustedDIDs: [${CI}]\n`,
    );
    const ok = explainTrust(policy, 'ghcr.io/example-org/tool', CI, NOW, NOW);
    expect(ok.allowed).toBe(true);
    expect(ok.text).toContain(`keys        and the commit must be signed with the key pinned for ${CI} (verify checks it)`);
    const early = explainTrust(policy, 'ghcr.io/example-org/tool', CI, new Date('2024-12-31T00:00:00Z'), NOW);
    expect(early.allowed).toBe(false);
    expect(early.text).toContain('[DID_NOT_YET_VALID]');
    expect(early.text).not.toContain('keys        ');
  });

  it('judges pinned keys when given the signing key, in any Multikey form, as verify does', async () => {
    const { secp256k1 } = await import('@noble/curves/secp256k1.js');
    const { base58btc } = await import('multiformats/bases/base58');
    const secret = new Uint8Array(32).fill(9);
    const canonical = base58btc.encode(Uint8Array.of(0xe7, 0x01, ...secp256k1.getPublicKey(secret, true)));
    const legacy = base58btc.encode(secp256k1.getPublicKey(secret, false));
    const policy = parseTrustPolicy(
      `version: "1.0"\ntrustedDIDs:\n  ${CI}: {keys: [${legacy}]}\npolicies:\n  - name: ci\n    scope: "ghcr.io/example-org/**"\n    trustedDIDs: [${CI}]\n`,
    );
    const pinned = explainTrust(policy, 'ghcr.io/example-org/tool', CI, NOW, NOW, canonical);
    expect(pinned.allowed).toBe(true);
    expect(pinned.text).not.toContain('keys        ');
    const other = base58btc.encode(Uint8Array.of(0xe7, 0x01, ...secp256k1.getPublicKey(new Uint8Array(32).fill(8), true)));
    const refused = explainTrust(policy, 'ghcr.io/example-org/tool', CI, NOW, NOW, other);
    expect(refused.allowed).toBe(false);
    expect(refused.text).toContain('[KEY_NOT_PINNED]');
  });
});

describe('require.signers and offline: allowed in check and explain (issues 14, 17)', () => {
  const twoPerson = () =>
    parseTrustPolicy(
      `version: "1.0"
trustedDIDs:
  ${ALICE}: {name: "Alice", keys: ["zQ3shr2KBQBtqboggAFc2tHtGYMS44Mb2wDj2MSXNKSsAD2yP"], offline: allowed}
  ${BOB}: {name: "Bob", expiresAt: "2025-01-01T00:00:00Z"}
  ${CI}: {name: "CI"}
policies:
  - {name: release, scope: "registry.example/prod/**", require: {signature: true, signers: 2}, trustedDIDs: [${ALICE}, ${BOB}, ${CI}]}
`,
      'two-person.yaml',
    );

  it('check shows how many signers each policy needs and which DIDs allow offline proofs', () => {
    const text = describePolicy(twoPerson(), NOW);
    expect(text).toContain('policy "release" (enforce, needs 2 distinct signers of these) trusts:');
    expect(text).toMatch(/Alice".*offline allowed \(only when the verifier runs offline: revocation not checked\)/);
  });

  it('explain says who would count, leaving out a DID whose trust has ended', () => {
    const { text } = explainTrust(twoPerson(), 'registry.example/prod/api:1', ALICE, NOW, NOW);
    expect(text).toContain(`signers     needs 2 distinct trusted signers; each of these would count once: ${ALICE} (this signer), ${CI}`);
    expect(text).not.toContain(`${BOB} (`);
    expect(text).toContain('for this signer (the image needs 2 distinct ones)');
  });

  it('refuses at load a policy that needs more signers than it trusts, and offline: allowed without keys', () => {
    expect(() =>
      parseTrustPolicy(`version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {}\npolicies:\n  - {name: p, scope: "**", require: {signers: 2}, trustedDIDs: [${ALICE}]}\n`, 'p.yaml'),
    ).toThrow(/p\.yaml:5:\d+: \/policies\/0\/require\/signers: policy "p" requires 2 distinct signers but trusts only 1/);
    expect(() => parseTrustPolicy(`version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {offline: allowed}\npolicies: []\n`, 'o.yaml')).toThrow(/offline: allowed needs keys/);
    expect(() => parseTrustPolicy(`version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {offline: yes}\npolicies: []\n`, 'o.yaml')).toThrow(/must be allowed/);
    expect(() =>
      parseTrustPolicy(`version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {}\npolicies:\n  - {name: p, scope: "**", require: {signers: 0}, trustedDIDs: [${ALICE}]}\n`, 'p.yaml'),
    ).toThrow(/signers: must be a whole number from 1 to 64/);
  });
});
