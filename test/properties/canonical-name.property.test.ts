/**
 * Issue 13, as properties: any two spellings of one image reach the same decision; `**` never
 * matches part of a segment (checked against a plain recursive matcher over segments);
 * canonicalising twice changes nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateTrust } from '../../src/policy/evaluate.js';
import { scopeMatches } from '../../src/policy/scope.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { canonicalImageName } from '../../src/registry/reference.js';

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb';
const D = `sha256:${'e'.repeat(64)}`;

const HOSTS = ['docker.io', 'ghcr.io', 'atcr.io', 'registry.example.com', 'localhost', 'localhost:5000', 'mirror.corp:8443', '127.0.0.1:5000'];
const component = fc.stringMatching(/^[a-z0-9]{1,5}(?:[._-][a-z0-9]{1,3})?$/);

/** A canonical image name: a host and a repository path (Docker Hub names have two or more segments). */
const canonicalName = fc
  .tuple(fc.constantFrom(...HOSTS), fc.array(component, { minLength: 1, maxLength: 3 }))
  .map(([host, path]) => (host === 'docker.io' && path.length === 1 ? `${host}/library/${path[0]}` : `${host}/${path.join('/')}`));

/** Another way to write `name` that a container runtime pulls as the same image. */
function spelling(name: string, choice: { upper: boolean[]; alias: number; port443: boolean; shortHub: number; suffix: number }): string {
  const slash = name.indexOf('/');
  let host = name.slice(0, slash);
  let path = name.slice(slash + 1);
  if (host === 'docker.io') {
    host = ['docker.io', 'index.docker.io', 'registry-1.docker.io'][choice.alias % 3]!;
    if (path.startsWith('library/') && choice.shortHub % 3 === 1) path = path.slice('library/'.length);
  }
  // IPv4 literals have several spellings of one address (WHATWG URL reads them all alike).
  if (host.startsWith('127.0.0.1')) host = host.replace('127.0.0.1', ['127.0.0.1', '127.1', '0x7f.0.0.1', '2130706433'][choice.alias % 4]!);
  host = [...host].map((c, i) => (choice.upper[i % choice.upper.length] ? c.toUpperCase() : c)).join('');
  if (choice.port443 && !host.includes(':')) host = `${host}:443`;
  let ref = `${host}/${path}`;
  // Docker Hub names may also be written without any host; an upper-case host must stay a host.
  // (Only when the first path segment cannot be taken for a host: `0.a/x` is registry 0.a.)
  const firstSegment = path.split('/')[0]!;
  const hostless = !/[.:]/.test(firstSegment) && firstSegment !== 'localhost';
  if (name.startsWith('docker.io/') && hostless && choice.shortHub % 3 === 2) ref = name.slice('docker.io/'.length).replace(/^library\/(?=[^/]+$)/, '');
  return ref + ['', ':v1', `@${D}`, `:latest@${D}`][choice.suffix % 4];
}
const spellingChoice = fc.record({
  upper: fc.array(fc.boolean(), { minLength: 1, maxLength: 24 }),
  alias: fc.nat(),
  port443: fc.boolean(),
  shortHub: fc.nat(),
  suffix: fc.nat(),
});

const SCOPES = ['**', 'docker.io/library/*', 'docker.io/**', 'ghcr.io/**', 'ghcr.io/*/*', '**/prod', 'atcr.io/*/prod-*', 'localhost:*/**', '*.example.com/**', 'registry.example.com/**/x'];
const policyOf = fc
  .tuple(
    fc.subarray(SCOPES, { minLength: 0, maxLength: 4 }),
    fc.constantFrom('deny', 'allow', 'audit'),
    fc.array(fc.tuple(fc.constantFrom(ALICE, BOB), fc.constantFrom('enforce', 'audit')), { minLength: 4, maxLength: 4 }),
  )
  .map(([scopes, defaultAction, rules]) =>
    parseTrustPolicy(`version: "1.0"
defaultAction: ${defaultAction}
trustedDIDs:
  ${ALICE}: {name: A}
  ${BOB}: {name: B}
policies: [${scopes.map((scope, i) => `{name: p${i}, scope: "${scope}", trustedDIDs: [${rules[i]![0]}], action: ${rules[i]![1]}}`).join(', ')}]
`),
  );

describe('canonical names, as properties', () => {
  it('two spellings of one image get the same decision, the one its canonical name gets', () => {
    fc.assert(
      fc.property(canonicalName, spellingChoice, spellingChoice, policyOf, fc.constantFrom(ALICE, BOB), (name, a, b, policy, did) => {
        const decide = (image: string) => {
          const d = evaluateTrust(policy, { image, did, signedAt: new Date('2025-01-01T00:00:00Z'), now: new Date('2025-06-01T00:00:00Z') });
          return { allowed: d.allowed, action: d.action, image: d.image, policies: d.policies, codes: d.failures.map((f) => f.code), audit: d.audit };
        };
        const expected = decide(name);
        expect(decide(spelling(name, a))).toEqual(expected);
        expect(decide(spelling(name, b))).toEqual(expected);
      }),
      { numRuns: 400 },
    );
  });

  it('canonicalising twice changes nothing', () => {
    fc.assert(
      fc.property(canonicalName, spellingChoice, (name, choice) => {
        const once = canonicalImageName(spelling(name, choice));
        expect(once).toBe(name);
        expect(canonicalImageName(once)).toBe(once);
      }),
      { numRuns: 400 },
    );
    // Arbitrary strings: whenever one parses, its canonical name is a fixed point.
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z0-9.:/_@-]{1,40}$/), (ref) => {
        let once: string;
        try {
          once = canonicalImageName(ref);
        } catch {
          return;
        }
        expect(canonicalImageName(once)).toBe(once);
      }),
      { numRuns: 1000 },
    );
  });
});

/** The meaning of a scope, written the slow obvious way: `**` eats whole segments, `*` stays in one. */
function oracle(scope: string[], name: string[]): boolean {
  if (scope.length === 0) return name.length === 0;
  const [head, ...rest] = scope as [string, ...string[]];
  if (head === '**') return name.some((_, i) => oracle(rest, name.slice(i))) || oracle(rest, name.slice(name.length));
  if (name.length === 0) return false;
  const glob = new RegExp(`^${head.split('*').map((s) => s.replace(/[.]/g, '\\.')).join('[^/]*')}$`);
  return glob.test(name[0]!) && oracle(rest, name.slice(1));
}

describe('`**` never matches inside a segment', () => {
  const seg = fc.constantFrom('a', 'b', 'ab', 'ba', 'xa', 'prod', 'nonprod', 'a.b');
  const scopeSeg = fc.constantFrom('**', '*', 'a', 'b', 'a*', '*a', 'prod', '*prod', 'a.b');

  it('agrees with a recursive matcher over whole segments', () => {
    fc.assert(
      fc.property(fc.array(scopeSeg, { minLength: 1, maxLength: 5 }), fc.array(seg, { minLength: 0, maxLength: 6 }), (scope, name) => {
        expect(scopeMatches(scope.join('/'), name.join('/'))).toBe(oracle(scope, name));
      }),
      { numRuns: 3000 },
    );
  });

  it('a literal segment after `**` is matched whole: `.../**/prod` covers only names whose segment is exactly prod', () => {
    fc.assert(
      fc.property(fc.array(seg, { minLength: 0, maxLength: 4 }), seg, (middle, last) => {
        const name = ['r.io', 'org', ...middle, last].join('/');
        expect(scopeMatches('r.io/org/**/prod', name)).toBe(last === 'prod');
      }),
      { numRuns: 1000 },
    );
  });
});
