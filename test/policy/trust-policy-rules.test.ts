/**
 * Rules of src/policy/trust-policy.ts the mutation run found unpinned: a trust window's instants are
 * real calendar dates and times; a window must not be empty; a cached policy decides exactly as
 * the text it was made from, and anything else in the cache is ignored (the text is parsed again);
 * a policy file is read only when it is a regular file within the size cap.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { MAX_POLICY_BYTES, loadTrustPolicy, parseTrustPolicy, parseTrustPolicyForCache, policyCacheKey, policyDigest, trustPolicyFromCache } from '../../src/policy/trust-policy.js';
import { VERIFIER_VERSION } from '../../src/version.js';
import { errorOf } from '../harness/error-code.js';

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const withWindow = (validFrom: string, expiresAt = '2999-01-01T00:00:00Z') =>
  `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {validFrom: "${validFrom}", expiresAt: "${expiresAt}"}\npolicies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${ALICE}]}\n`;
const problem = (text: string) => {
  const err = errorOf(() => parseTrustPolicy(text, 'p.yaml'));
  expect(err.code).toBe('POLICY_INVALID');
  return err.message;
};

describe('trust window instants are real dates and times', () => {
  it.each([
    '2025-01-01T00:00:00Z',
    '2024-02-29T23:59:59Z',
    '2025-12-31T23:59:59.999Z',
    '2025-06-01T12:00:00+14:00',
    '2025-06-01T12:00:00-23:59',
    '2025-06-01t12:00:00z',
  ])('%s is accepted', (instant) => {
    expect(parseTrustPolicy(withWindow(instant)).trustedDIDs.get(ALICE)!.validFrom!.getTime()).toBe(Date.parse(instant.toUpperCase()));
  });

  it.each([
    '2025-02-29T00:00:00Z',
    '2025-04-31T00:00:00Z',
    '2025-00-10T00:00:00Z',
    '2025-13-01T00:00:00Z',
    '2025-01-00T00:00:00Z',
    '2025-01-32T00:00:00Z',
    '2025-01-01T24:00:00Z',
    '2025-01-01T00:60:00Z',
    '2025-01-01T00:00:60Z',
    '2025-01-01T00:00:00+24:00',
    '2025-01-01T00:00:00+01:60',
  ])('%s is refused as no real date and time', (instant) => {
    expect(problem(withWindow(instant))).toContain(`${instant} is not a real date and time (check the day, hour and offset)`);
  });

  it('an expiresAt at or before validFrom leaves an empty window: refused', () => {
    expect(problem(withWindow('2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z'))).toContain(
      `expiresAt 2025-01-01T00:00:00Z must be after validFrom 2025-01-01T00:00:00Z: the trust window of ${ALICE} is empty`,
    );
    expect(parseTrustPolicy(withWindow('2025-01-01T00:00:00Z', '2025-01-01T00:00:00.001Z')).trustedDIDs.get(ALICE)!.expiresAt!.toISOString()).toBe(
      '2025-01-01T00:00:00.001Z',
    );
  });
});

describe('a cached policy decides exactly as its text', () => {
  const text = withWindow('2025-01-01T00:00:00Z');
  const { policy, entry } = parseTrustPolicyForCache(text, 'p.yaml');

  it('the entry names the format, this verifier version and the text digest, and gives the same policy back', () => {
    expect(entry).toMatchObject({ format: 'trust-policy-document', verifierVersion: VERIFIER_VERSION, digest: policyDigest(text) });
    expect(trustPolicyFromCache(JSON.parse(JSON.stringify(entry)), text, 'p.yaml')).toEqual(policy);
    expect(policyCacheKey(text)).toBe(`${VERIFIER_VERSION}\n${policyDigest(text)}`);
  });

  it.each<[string, (e: Record<string, unknown>) => unknown, string]>([
    ['another text', (e) => e, `${text}# edited\n`],
    ['another verifier version', (e) => ({ ...e, verifierVersion: '0.0.0-other' }), text],
    ['another format', (e) => ({ ...e, format: 'other' }), text],
    ['another digest', (e) => ({ ...e, digest: policyDigest('x') }), text],
    ['no document', (e) => ({ ...e, document: undefined }), text],
    ['no document field', ({ document: _d, ...rest }) => rest, text],
    ['a document that fails its checks', (e) => ({ ...e, document: { ...(e.document as object), policies: [{ name: 'p', scope: 'ghcr.io/**', trustedDIDs: ['did:plc:undeclared'] }] } }), text],
    ['a document that fails the schema', (e) => ({ ...e, document: { version: 2 } }), text],
    ['null', () => null, text],
    ['a string', () => 'entry', text],
  ])('an entry with %s is ignored', (_name, edit, forText) => {
    expect(trustPolicyFromCache(edit(JSON.parse(JSON.stringify(entry))), forText, 'p.yaml')).toBeUndefined();
  });
});

describe('loading the policy file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-rules-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a regular file is read and parsed, its path as source', async () => {
    const path = join(dir, 'ok.yaml');
    writeFileSync(path, withWindow('2025-01-01T00:00:00Z'));
    expect((await loadTrustPolicy(path)).source).toBe(path);
  });

  it.each<[string, () => string, RegExp]>([
    ['a missing file', () => join(dir, 'missing.yaml'), /^trust policy file .*missing\.yaml does not exist$/],
    ['a directory', () => { const d = join(dir, 'd'); mkdirSync(d, { recursive: true }); return d; }, /^trust policy .*\/d is not a regular file$/],
    ['a file over the cap', () => { const p = join(dir, 'big.yaml'); writeFileSync(p, Buffer.alloc(MAX_POLICY_BYTES + 1, 0x20)); return p; }, new RegExp(`is ${MAX_POLICY_BYTES + 1} bytes, above the ${MAX_POLICY_BYTES} byte cap$`)],
  ])('%s is POLICY_INVALID, naming the path', async (_name, make, message) => {
    const path = make();
    try {
      await loadTrustPolicy(path);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(VerificationError);
      expect((err as VerificationError).code).toBe('POLICY_INVALID');
      expect((err as VerificationError).message).toMatch(message);
    }
  });

  it('a file at the cap is read (and judged by its content)', async () => {
    const path = join(dir, 'cap.yaml');
    const body = withWindow('2025-01-01T00:00:00Z');
    writeFileSync(path, body + '#'.repeat(MAX_POLICY_BYTES - Buffer.byteLength(body)));
    expect((await loadTrustPolicy(path)).trustedDIDs.has(ALICE)).toBe(true);
  });
});

describe('refusals a YAML text can earn before its checks run', () => {
  it('a policy parsed without a source is named <policy>, in the policy and in its refusals', () => {
    expect(parseTrustPolicy(withWindow('2025-01-01T00:00:00Z')).source).toBe('<policy>');
    expect(parseTrustPolicyForCache(withWindow('2025-01-01T00:00:00Z')).policy.source).toBe('<policy>');
    expect(errorOf(() => parseTrustPolicy('version: [')).message).toMatch(/^trust policy <policy>:1:\d+: not valid YAML: /);
  });

  it('aliases that multiply (a billion laughs) are refused, not expanded', () => {
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...['b', 'c', 'd'].map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abc'[i]}`).join(', ')}]`)].join('\n');
    const err = errorOf(() => parseTrustPolicy(laughs, 'p.yaml'));
    expect(err.code).toBe('POLICY_INVALID');
    expect(err.message).toBe('trust policy p.yaml: Excessive alias count indicates a resource exhaustion attack');
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('a few aliases are read as the values they name', () => {
    const text = `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: &w {validFrom: "2025-01-01T00:00:00Z"}\n  did:plc:bobbbbbbbbbbbbbbbbbbbbbb: *w\npolicies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${ALICE}]}\n`;
    expect(parseTrustPolicy(text).trustedDIDs.get('did:plc:bobbbbbbbbbbbbbbbbbbbbbb')!.validFrom!.toISOString()).toBe('2025-01-01T00:00:00.000Z');
  });

  it('problems on one line are listed by column, whichever check found them first', () => {
    // The scope check runs before the declared-DID check; the DID comes first on the line.
    const text = `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {}\npolicies:\n  - {trustedDIDs: [did:plc:bobbbbbbbbbbbbbbbbbbbbbb], name: p, scope: "nope"}\n`;
    expect(problem(text)).toBe(
      'trust policy p.yaml:5:20: /policies/0/trustedDIDs/0: policy "p" trusts did:plc:bobbbbbbbbbbbbbbbbbbbbbb, which is not declared in the top-level trustedDIDs; ' +
        'p.yaml:5:71: /policies/0/scope: scope "nope" can never match a canonical image name: image names are registry/repository and "nope" has no "/": write docker.io/library/nope',
    );
  });
});

describe('a policy file that cannot be read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-read-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a path through a regular file cannot be read (not "does not exist"), and the cause is kept', async () => {
    const file = join(dir, 'file.yaml');
    writeFileSync(file, 'x');
    const path = join(file, 'policy.yaml');
    const err = await loadTrustPolicy(path).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as VerificationError).code).toBe('POLICY_INVALID');
    expect((err as VerificationError).message).toMatch(new RegExp(`^trust policy file ${path} cannot be read \\(ENOTDIR: .*\\)$`));
    expect(((err as VerificationError).cause as NodeJS.ErrnoException).code).toBe('ENOTDIR');
  });

  it('a missing file keeps its cause too', async () => {
    const err = (await loadTrustPolicy(join(dir, 'missing.yaml')).then(() => undefined, (e: unknown) => e)) as VerificationError;
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});
