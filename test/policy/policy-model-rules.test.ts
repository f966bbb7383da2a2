/**
 * Rules of src/policy/policy-model.ts (the one path from the author's document to a TrustPolicy):
 * the built policy holds exactly what the author wrote, with the documented defaults; each check
 * JSON Schema cannot express refuses the policy at the file:line:col of the value at fault; and
 * the plugin's cache entry decodes to exactly what a fresh parse gives, for this text and this
 * verifier version only, and is made only from a document JSON carries unchanged.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import fc from 'fast-check';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import { canonicalPinnedKey } from '../../src/policy/pinned-keys.js';
import {
  isJsonData,
  parseTrustPolicy,
  parseTrustPolicyForCache,
  policyCacheEntry,
  policyDigest,
  trustPolicyFromCache,
  type TrustPolicy,
} from '../../src/policy/trust-policy.js';
import { VERIFIER_VERSION } from '../../src/version.js';
import { errorOf } from '../harness/error-code.js';

const A = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const B = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb';
const C = 'did:web:signer.example.com';
// One K-256 key in its canonical Multikey form and as the legacy raw uncompressed point (no multicodec).
const secret = new Uint8Array(32).fill(7);
const KEY = base58btc.encode(Uint8Array.from([0xe7, 0x01, ...secp256k1.getPublicKey(secret, true)]));
const LEGACY = base58btc.encode(secp256k1.getPublicKey(secret, false));
const NOT_A_KEY = `z${'1'.repeat(44)}`;

describe('a built policy holds exactly what the author wrote, defaults filled in', () => {
  it('every field as written (keys canonical, prefixes without their trailing /)', () => {
    const text = `version: 1
defaultAction: audit
trustedDIDs:
  ${A}: {name: Alice, validFrom: "2025-01-01T00:00:00Z", expiresAt: "2026-01-01T00:00:00+01:00", keys: [${KEY}], offline: allowed}
  ${B}: {validFrom: null, expiresAt: null}
policies:
  - {name: prod, scope: "ghcr.io/org/**", require: {signature: true, signers: 2}, trustedDIDs: [${A}, ${B}], action: audit}
registries:
  - {host: mirror.corp, mirrorOf: registry.corp, stripPrefix: proxy/, addPrefix: team/, referrersFrom: origin, atcr: false, allowPrivateNetwork: true, allowHttp: false}
  - {host: registry.corp}
`;
    const expected: TrustPolicy = {
      version: '1.0',
      defaultAction: 'audit',
      trustedDIDs: new Map([
        [A, { did: A, name: 'Alice', validFrom: new Date('2025-01-01T00:00:00Z'), expiresAt: new Date('2025-12-31T23:00:00Z'), keys: [KEY], offline: 'allowed' }],
        [B, { did: B }],
      ]),
      policies: [{ name: 'prod', scope: 'ghcr.io/org/**', require: { signature: true, signers: 2 }, trustedDIDs: [A, B], action: 'audit' }],
      registries: [
        { host: 'mirror.corp', mirrorOf: 'registry.corp', stripPrefix: 'proxy', addPrefix: 'team', referrersFrom: 'origin', atcr: false, allowPrivateNetwork: true, allowHttp: false },
        { host: 'registry.corp' },
      ],
      source: 'p.yaml',
      digest: policyDigest(text),
    };
    const policy = parseTrustPolicy(text, 'p.yaml');
    expect(policy).toStrictEqual(expected);
    // Map values are compared loosely: no field the author left out is even present (as undefined).
    expect([...policy.trustedDIDs.values()].map((t) => Object.keys(t))).toStrictEqual([['did', 'name', 'validFrom', 'expiresAt', 'keys', 'offline'], ['did']]);
  });

  it('the least a policy says: deny by default, one signer required, enforce, no registries, no optional field set', () => {
    const text = `version: "1.0"\ntrustedDIDs:\n  ${A}: {}\npolicies:\n  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${A}]}\n`;
    expect(parseTrustPolicy(text)).toStrictEqual({
      version: '1.0',
      defaultAction: 'deny',
      trustedDIDs: new Map([[A, { did: A }]]),
      policies: [{ name: 'p', scope: 'ghcr.io/**', require: { signature: true, signers: 1 }, trustedDIDs: [A], action: 'enforce' }],
      registries: [],
      source: '<policy>',
      digest: policyDigest(text),
    });
  });

  it('a key pinned in another spelling is held in the canonical form the verifier reports', () => {
    expect(parseTrustPolicy(`version: "1.0"\ntrustedDIDs:\n  ${A}: {keys: [${LEGACY}]}\npolicies: []\n`).trustedDIDs.get(A)!.keys).toStrictEqual([KEY]);
  });

  it('the digest is the sha256 of the text as UTF-8', () => {
    expect(policyDigest('é')).toBe('4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c');
  });
});

/**
 * A policy text with `»` just before the value a refusal must point at: the row's expected
 * position is where the marker stands (1-based line and column), and the marker is removed.
 */
function marked(text: string): { text: string; at: string } {
  const index = text.indexOf('»');
  const before = text.slice(0, index).split('\n');
  return { text: text.replace('»', ''), at: `${before.length}:${before.at(-1)!.length + 1}` };
}

const head = (dids: string, policies = `  - name: p\n    scope: "ghcr.io/**"\n    trustedDIDs: [${A}]\n`) =>
  `version: "1.0"\ntrustedDIDs:\n${dids}policies:\n${policies}`;
const alice = (fields: string) => head(`  ${A}:\n${fields}`);
const withRegistries = (registries: string) => `${head(`  ${A}: {}\n`)}registries:\n${registries}`;

describe('each check JSON Schema cannot express refuses the policy at the value at fault', () => {
  it.each<[string, string, string, string]>([
    ['offline: allowed without pinned keys', alice('    offline: »allowed\n'), `/trustedDIDs/${A}/offline`,
      `offline: allowed needs keys: an embedded proof can only be checked against keys pinned here (add keys: [...] for ${A})`],
    ['an empty trust window (expiresAt = validFrom)', alice('    validFrom: "2025-01-01T00:00:00Z"\n    expiresAt: »"2025-01-01T00:00:00Z"\n'), `/trustedDIDs/${A}/expiresAt`,
      `expiresAt 2025-01-01T00:00:00Z must be after validFrom 2025-01-01T00:00:00Z: the trust window of ${A} is empty`],
    ['a trust window ending before it starts (offsets counted)', alice('    validFrom: "2025-01-01T02:00:00+02:00"\n    expiresAt: »"2024-12-31T23:59:59Z"\n'), `/trustedDIDs/${A}/expiresAt`,
      `expiresAt 2024-12-31T23:59:59Z must be after validFrom 2025-01-01T02:00:00+02:00: the trust window of ${A} is empty`],
    ['validFrom on a day that does not exist', alice('    validFrom: »"2025-02-29T00:00:00Z"\n'), `/trustedDIDs/${A}/validFrom`,
      '2025-02-29T00:00:00Z is not a real date and time (check the day, hour and offset)'],
    ['expiresAt at hour 24', alice('    expiresAt: »"2025-03-01T24:00:00Z"\n'), `/trustedDIDs/${A}/expiresAt`,
      '2025-03-01T24:00:00Z is not a real date and time (check the day, hour and offset)'],
    ['a pinned key that is no atproto key', alice(`    keys:\n      - ${KEY}\n      - »${NOT_A_KEY}\n`), `/trustedDIDs/${A}/keys/1`,
      `pinned key ${(canonicalPinnedKey(NOT_A_KEY) as { problem: string }).problem}`],
    ['one key pinned twice in two spellings', alice(`    keys:\n      - ${KEY}\n      - »${LEGACY}\n`), `/trustedDIDs/${A}/keys/1`,
      `pinned key ${LEGACY} is key 0 again, in another form (${KEY})`],
    ['more signers required than DIDs trusted', head(`  ${A}: {}\n`, `  - name: p\n    scope: "ghcr.io/**"\n    require: {signers: »2}\n    trustedDIDs: [${A}]\n`), '/policies/0/require/signers',
      `policy "p" requires 2 distinct signers but trusts only 1 DID(s): no image could ever pass`],
    ['a policy trusting an undeclared DID', head(`  ${A}: {}\n`, `  - name: p\n    scope: "ghcr.io/**"\n    trustedDIDs:\n      - ${A}\n      - »${B}\n`), '/policies/0/trustedDIDs/1',
      `policy "p" trusts ${B}, which is not declared in the top-level trustedDIDs`],
    ['a policy name used twice', head(`  ${A}: {}\n`, `  - {name: p, scope: "ghcr.io/**", trustedDIDs: [${A}]}\n  - {name: »p, scope: "quay.io/**", trustedDIDs: [${A}]}\n`), '/policies/1/name',
      'policy name "p" is already used by policy 0; names must be unique'],
    ['a scope that can never match a canonical image name', head(`  ${A}: {}\n`, `  - name: p\n    scope: »"index.docker.io/library/*"\n    trustedDIDs: [${A}]\n`), '/policies/0/scope',
      'scope "index.docker.io/library/*" can never match a canonical image name: index.docker.io is another name of Docker Hub, whose images are matched as docker.io/...: write docker.io'],
    ['a registry host in upper case', withRegistries('  - host: »Mirror.corp\n'), '/registries/0/host', 'hosts are compared lowercase: write "mirror.corp"'],
    ['a registry host with the default port', withRegistries('  - host: »"mirror.corp:443"\n'), '/registries/0/host',
      ':443 is the default https port, which image names leave out: write "mirror.corp"'],
    ['Docker Hub by another name', withRegistries('  - host: »index.docker.io\n'), '/registries/0/host',
      'index.docker.io is Docker Hub, which image names call docker.io: write "docker.io"'],
    ['an IPv6 host not in the form a connection uses', withRegistries('  - host: »"[0:0::1]:5000"\n'), '/registries/0/host',
      'image names spell this host "[::1]:5000" (the form a connection uses): write that'],
    ['a host listed twice', withRegistries('  - host: mirror.corp\n  - host: »mirror.corp\n'), '/registries/1/host',
      'host mirror.corp is already listed at registries[0]; the first matching entry applies, so this one never would: merge them'],
    ['stripPrefix without mirrorOf', withRegistries('  - host: mirror.corp\n    stripPrefix: »proxy/\n'), '/registries/0/stripPrefix',
      "stripPrefix maps a mirror's paths to its origin's, and this entry has no mirrorOf: add mirrorOf: <origin host>"],
    ['addPrefix without mirrorOf', withRegistries('  - host: mirror.corp\n    addPrefix: »team\n'), '/registries/0/addPrefix',
      "addPrefix maps a mirror's paths to its origin's, and this entry has no mirrorOf: add mirrorOf: <origin host>"],
    ['referrersFrom: origin without mirrorOf', withRegistries('  - host: mirror.corp\n    referrersFrom: »origin\n'), '/registries/0/referrersFrom',
      'referrersFrom: origin reads referrers from the mirrorOf registry, and this entry has no mirrorOf: add mirrorOf: <origin host>'],
    ['a mirrorOf that is no registry host', withRegistries('  - host: mirror.corp\n    mirrorOf: »"registry.corp:99999"\n'), '/registries/0/mirrorOf',
      '"registry.corp:99999" has port 99999, which is not 1-65535 written without leading zeros'],
    ['a mirrorOf not in canonical form', withRegistries('  - host: mirror.corp\n    mirrorOf: »Registry.corp\n'), '/registries/0/mirrorOf',
      'hosts are compared lowercase: write "registry.corp"'],
    ['a registry as its own mirror', withRegistries('  - host: "*.corp"\n    mirrorOf: »registry.corp\n'), '/registries/0/mirrorOf',
      'registry.corp is matched by this entry\'s own host *.corp: a registry cannot be its own mirror'],
    ['a mirror of a mirror', withRegistries('  - host: cache.corp\n    mirrorOf: registry.corp\n  - host: edge.corp\n    mirrorOf: »cache.corp\n'), '/registries/1/mirrorOf',
      'cache.corp is itself a mirror (of registry.corp, registries[0]); mirrors are followed one hop only: point mirrorOf at the origin'],
  ])('%s', (_name, source, pointer, message) => {
    const { text, at } = marked(source);
    const err = errorOf(() => parseTrustPolicy(text, 'p.yaml'));
    expect(err.code).toBe('POLICY_INVALID');
    expect(err.message).toBe(`trust policy p.yaml:${at}: ${pointer}: ${message}`);
  });

  it.each<[string, string, string]>([
    ['a DID declared twice (YAML refuses the repeated key)', head(`  ${A}: {}\n  »${A}: {}\n`), 'not valid YAML: Map keys must be unique'],
    ['a DID listed twice by one policy', head(`  ${A}: {}\n`, `  - name: p\n    scope: "ghcr.io/**"\n    trustedDIDs:\n      - ${A}\n      - »${A}\n`), '/policies/0/trustedDIDs/1: repeats item 0 of the list'],
  ])('%s', (_name, source, message) => {
    const { text, at } = marked(source);
    expect(errorOf(() => parseTrustPolicy(text, 'p.yaml')).message).toBe(`trust policy p.yaml:${at}: ${message}`);
  });

  it.each<[string, string]>([
    ['as many signers required as DIDs trusted', head(`  ${A}: {}\n  ${B}: {}\n`, `  - {name: p, scope: "ghcr.io/**", require: {signers: 2}, trustedDIDs: [${A}, ${B}]}\n`)],
    ['a trust window of one millisecond', alice('    validFrom: "2025-01-01T00:00:00Z"\n    expiresAt: "2025-01-01T00:00:00.001Z"\n')],
    ['offline: allowed with a pinned key', alice(`    keys: [${KEY}]\n    offline: allowed\n`)],
    ['referrersFrom: self without mirrorOf', withRegistries('  - {host: mirror.corp, referrersFrom: self}\n')],
    ['one host on two ports', withRegistries('  - {host: mirror.corp}\n  - {host: "mirror.corp:5000"}\n')],
    ['a mirror whose origin has an entry that is no mirror', withRegistries('  - {host: cache.corp, mirrorOf: registry.corp}\n  - {host: registry.corp, atcr: true}\n')],
    ['the canonical forms of the hosts the checks rewrite', withRegistries('  - {host: docker.io}\n  - {host: "[::1]:5000", mirrorOf: "registry.corp:5000"}\n')],
  ])('near misses are accepted: %s', (_name, text) => {
    expect(parseTrustPolicy(text, 'p.yaml').version).toBe('1.0');
  });
});

// ---- The cache entry --------------------------------------------------------------------------

const DIDS = [A, B, C, `did:plc:${'c'.repeat(24)}`];
const SCOPES = ['ghcr.io/**', '**', 'atcr.io/*/prod-*', 'docker.io/library/alpine', 'registry.corp:5000/team/**'];
const REGISTRIES = [
  { host: 'mirror.corp', mirrorOf: 'registry.corp', stripPrefix: 'proxy/', referrersFrom: 'origin' },
  { host: '*.cache.corp', mirrorOf: 'atcr.io', addPrefix: 'team', atcr: true },
  { host: 'registry.corp', allowPrivateNetwork: true, allowHttp: false },
  { host: 'localhost:5000', allowHttp: true, referrersFrom: 'self' },
];

/** A policy document any verifier must accept, in all its optional shapes. */
const documents = fc
  .record({
    dids: fc.subarray(DIDS, { minLength: 1 }),
    name: fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: undefined }),
    from: fc.option(fc.integer({ min: 0, max: 2_000_000_000 }), { nil: undefined }),
    span: fc.integer({ min: 1, max: 2_000_000_000 }),
    withUntil: fc.boolean(),
    keys: fc.boolean(),
    offline: fc.boolean(),
    defaultAction: fc.constantFrom(undefined, 'deny', 'allow', 'audit'),
    version: fc.constantFrom('1.0', '1', 1),
    policies: fc.array(fc.record({ scope: fc.constantFrom(...SCOPES), signers: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }), action: fc.constantFrom(undefined, 'enforce', 'audit') }), { maxLength: 3 }),
    registries: fc.subarray(REGISTRIES),
  })
  .map((d) => {
    const iso = (s: number) => new Date(s * 1000).toISOString();
    const trustedDIDs: Record<string, Record<string, unknown>> = {};
    for (const did of d.dids) {
      const entry: Record<string, unknown> = {};
      if (d.name !== undefined) entry.name = d.name;
      if (d.from !== undefined) entry.validFrom = iso(d.from);
      if (d.withUntil) entry.expiresAt = iso((d.from ?? 0) + d.span);
      if (d.keys) entry.keys = [KEY];
      if (d.keys && d.offline) entry.offline = 'allowed';
      trustedDIDs[did] = entry;
    }
    const doc: Record<string, unknown> = {
      version: d.version,
      trustedDIDs,
      policies: d.policies.map((p, i) => ({
        name: `p${i}`,
        scope: p.scope,
        ...(p.signers !== undefined && { require: { signature: true, signers: Math.min(p.signers, d.dids.length) } }),
        trustedDIDs: d.dids,
        ...(p.action !== undefined && { action: p.action }),
      })),
    };
    if (d.defaultAction !== undefined) doc.defaultAction = d.defaultAction;
    if (d.registries.length > 0) doc.registries = d.registries;
    return JSON.stringify(doc, null, 1); // JSON is YAML 1.2
  });

describe('a cached policy decides exactly as a fresh parse of its text', () => {
  it('property: the entry, through JSON, decodes to the very policy the text gives', () => {
    fc.assert(
      fc.property(documents, (text) => {
        const fresh = parseTrustPolicyForCache(text, 'p.yaml');
        expect(fresh.entry).toStrictEqual({ format: 'trust-policy-document', verifierVersion: VERIFIER_VERSION, digest: policyDigest(text), document: JSON.parse(text) });
        expect(trustPolicyFromCache(JSON.parse(JSON.stringify(fresh.entry)), text, 'p.yaml')).toStrictEqual(fresh.policy);
      }),
      // Each case parses a policy twice; the mutation run re-runs this for every policy mutant.
      { numRuns: 40 },
    );
  });

  it('property: an entry from another verifier version, or for another text, is never reused', () => {
    fc.assert(
      fc.property(documents, fc.string({ minLength: 1, maxLength: 12 }), (text, other) => {
        const { entry } = parseTrustPolicyForCache(text);
        fc.pre(other !== VERIFIER_VERSION);
        expect(trustPolicyFromCache({ ...entry, verifierVersion: other }, text)).toBeUndefined();
        expect(trustPolicyFromCache(entry, `${text} `)).toBeUndefined();
      }),
      { numRuns: 20 },
    );
  });

  it('the source defaults to <policy>, as for a fresh parse', () => {
    const text = head(`  ${A}: {}\n`);
    expect(trustPolicyFromCache(parseTrustPolicyForCache(text).entry, text)!.source).toBe('<policy>');
    expect(parseTrustPolicyForCache(text).policy.source).toBe('<policy>');
  });

  it('an entry is a plain object: a function carrying the same fields is ignored', () => {
    const text = head(`  ${A}: {}\n`);
    const { entry } = parseTrustPolicyForCache(text);
    expect(trustPolicyFromCache(Object.assign(() => undefined, entry), text)).toBeUndefined();
  });
});

describe('a cache entry is made only from a document JSON carries unchanged', () => {
  const deep = (levels: number, leaf: unknown): unknown => (levels === 0 ? leaf : [deep(levels - 1, leaf)]);
  const deepObject = (levels: number): unknown => (levels === 0 ? 1 : { a: deepObject(levels - 1) });
  const withProto = JSON.parse('{"__proto__": {"polluted": true}}');

  it.each<[string, unknown]>([
    ['Infinity (YAML .inf)', { a: Infinity }],
    ['NaN (YAML .nan)', [Number.NaN]],
    ['-0 (JSON writes 0)', { a: -0 }],
    ['undefined', { a: undefined }],
    ['a Date', { a: new Date(0) }],
    ['a Map', new Map()],
    ['an object of another class', { a: new (class Thing {})() }],
    ['an object without a prototype', Object.create(null)],
    ['a __proto__ key', withProto],
    ['a bigint', 1n],
    ['a sparse array (JSON writes null for the hole)', [1, , 2]], // eslint-disable-line no-sparse-arrays
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['nesting deeper than 64 levels', deep(65, 1)],
    ['objects nested deeper than 64 levels', deepObject(65)],
    ['a value refused at the bottom of deep nesting', deep(64, Infinity)],
  ])('%s: no entry', (_name, value) => {
    expect(isJsonData(value)).toBe(false);
    expect(policyCacheEntry(value, 'd')).toBeUndefined();
  });

  it.each<[string, unknown]>([
    ['null, strings, booleans and finite numbers', [null, 'x', true, false, 0, 1.5, -2]],
    ['plain objects and arrays', { a: [{ b: 'c' }], d: {} }],
    ['exactly 64 levels of nesting', deep(64, 1)],
    ['exactly 64 levels of objects', deepObject(64)],
  ])('%s: cached', (_name, value) => {
    expect(isJsonData(value)).toBe(true);
    expect(policyCacheEntry(value, 'd')).toStrictEqual({ format: 'trust-policy-document', verifierVersion: VERIFIER_VERSION, digest: 'd', document: value });
  });

  it('property: whatever is cached comes back from JSON exactly as it went in', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true }), (value) => {
        if (policyCacheEntry(value, 'd')) expect(JSON.parse(JSON.stringify(value))).toStrictEqual(value);
      }),
    );
  });

  it('property: JSON text (no -0) is always cached', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        fc.pre(!JSON.stringify(value).includes('"__proto__"'));
        expect(isJsonData(JSON.parse(JSON.stringify(value)))).toBe(true);
      }),
    );
  });
});
