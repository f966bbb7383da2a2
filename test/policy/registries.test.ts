import { describe, expect, it } from 'vitest';
import { evaluateTrust } from '../../src/policy/evaluate.js';
import { mapToOrigin, nameOf, referrerLocation, registryRuleFor, suggestedMirrorEntry } from '../../src/policy/registries.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { checkManifestRecord, recordRepositoryFor, repositoryLayout } from '../../src/verify/manifest-record.js';
import { explainTrust } from '../../src/cli/policy-command.js';
import { describePolicy } from '../../src/cli/policy-command.js';
import { errorOf } from '../harness/error-code.js';

// The trust policy's registries section (issue 11): parsing and its checks, the mirror mapping,
// which scopes apply, and the repository layout rule shared by `sign` and the record check.

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const MALLORY = 'did:plc:malloryaaaaaaaaaaaaaaaaa';
const DIGEST = `sha256:${'a'.repeat(64)}`;

function policyWith(registries: string, policies = `  - {name: origin, scope: "atcr.io/**", trustedDIDs: [${ALICE}]}\n`): string {
  return `version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {name: Alice}\n  ${MALLORY}: {}\npolicies:\n${policies}${registries}`;
}

const MIRRORS = policyWith(`registries:
  - host: harbor.corp
    mirrorOf: atcr.io
    stripPrefix: atcr-proxy/
  - host: "*.cache.corp"
    mirrorOf: registry.corp:5000
    stripPrefix: ecr
    addPrefix: team
    referrersFrom: origin
  - host: mirror.corp
    mirrorOf: atcr.io
  - host: atcr.self
    atcr: true
  - host: localhost:*
    allowPrivateNetwork: true
    allowHttp: true
`);

describe('parsing the registries section', () => {
  it('reads every field, prefixes without their trailing slash, in file order', () => {
    const policy = parseTrustPolicy(MIRRORS);
    expect(policy.registries).toEqual([
      { host: 'harbor.corp', mirrorOf: 'atcr.io', stripPrefix: 'atcr-proxy' },
      { host: '*.cache.corp', mirrorOf: 'registry.corp:5000', stripPrefix: 'ecr', addPrefix: 'team', referrersFrom: 'origin' },
      { host: 'mirror.corp', mirrorOf: 'atcr.io' },
      { host: 'atcr.self', atcr: true },
      { host: 'localhost:*', allowPrivateNetwork: true, allowHttp: true },
    ]);
    expect(parseTrustPolicy(policyWith('')).registries).toEqual([]);
  });

  const refused: [string, string, RegExp][] = [
    ['an unknown key (closed objects)', '  - {host: mirror.corp, mirrorof: atcr.io}', /:\d+:\d+: \/registries\/0\/mirrorof: unknown key "mirrorof" \(did you mean "mirrorOf"\?\)/],
    ['an entry without host', '  - {mirrorOf: atcr.io}', /missing required key "host"/],
    ['stripPrefix without mirrorOf', '  - {host: mirror.corp, stripPrefix: proxy}', /:8:\d+: \/registries\/0\/stripPrefix: .*no mirrorOf/],
    ['addPrefix without mirrorOf', '  - {host: mirror.corp, addPrefix: proxy}', /\/registries\/0\/addPrefix: .*no mirrorOf/],
    ['referrersFrom: origin without mirrorOf', '  - {host: mirror.corp, referrersFrom: origin}', /\/registries\/0\/referrersFrom: .*no mirrorOf/],
    ['an uppercase host', '  - {host: Mirror.Corp, atcr: true}', /\/registries\/0\/host: hosts are compared lowercase: write "mirror.corp"/],
    ['a host with :443', '  - {host: "mirror.corp:443", atcr: true}', /\/registries\/0\/host: :443 is the default https port.*"mirror.corp"/],
    ['an IP literal in another spelling', '  - {host: "127.1:5000", allowHttp: true}', /\/registries\/0\/host: image names spell this host "127.0.0.1:5000"/],
    ['a Docker Hub alias as origin', '  - {host: mirror.corp, mirrorOf: index.docker.io}', /\/registries\/0\/mirrorOf: .*write "docker.io"/],
    ['an uppercase origin with :443', '  - {host: mirror.corp, mirrorOf: "ATCR.io:443"}', /\/registries\/0\/mirrorOf: hosts are compared lowercase: write "atcr.io"/],
    ['a glob as origin', '  - {host: mirror.corp, mirrorOf: "*.io"}', /\/registries\/0\/mirrorOf: must be a registry host/],
    ['a path in a host', '  - {host: mirror.corp/proxy, atcr: true}', /\/registries\/0\/host: must be a registry host/],
    ['a prefix with uppercase or ..', '  - {host: mirror.corp, mirrorOf: atcr.io, stripPrefix: "../x"}', /\/registries\/0\/stripPrefix: must be one or more lowercase/],
    ['a registry mirroring itself', '  - {host: "*.corp", mirrorOf: a.corp}', /\/registries\/0\/mirrorOf: a.corp is matched by this entry's own host/],
    ['a chain of mirrors', '  - {host: a.corp, mirrorOf: b.corp}\n  - {host: b.corp, mirrorOf: atcr.io}', /\/registries\/0\/mirrorOf: b.corp is itself a mirror .*one hop only/],
    ['the same host twice', '  - {host: a.corp, atcr: true}\n  - {host: a.corp, allowHttp: true}', /\/registries\/1\/host: host a.corp is already listed at registries\[0\]/],
    ['referrersFrom other than self or origin', '  - {host: a.corp, mirrorOf: atcr.io, referrersFrom: upstream}', /referrersFrom: must be self .* or origin/],
    ['atcr that is not a boolean', '  - {host: a.corp, atcr: "yes"}', /\/registries\/0\/atcr: must be true or false/],
  ];
  it.each(refused)('refuses %s, at its line and column', (_, entry, message) => {
    const err = errorOf(() => parseTrustPolicy(policyWith(`registries:\n${entry}\n`), 'p.yaml'));
    expect(err.code).toBe('POLICY_INVALID');
    expect(err.message).toMatch(/p\.yaml:\d+:\d+/);
    expect(err.message).toMatch(message);
  });
});

describe('mapping an admitted name to its origin', () => {
  const policy = parseTrustPolicy(MIRRORS);

  it('finds the first entry whose host glob matches the canonical host', () => {
    expect(registryRuleFor(policy, 'harbor.corp')?.mirrorOf).toBe('atcr.io');
    expect(registryRuleFor(policy, 'HARBOR.corp:443')?.mirrorOf).toBe('atcr.io');
    expect(registryRuleFor(policy, 'eu.cache.corp')?.addPrefix).toBe('team');
    expect(registryRuleFor(policy, 'localhost:5000')?.allowHttp).toBe(true);
    expect(registryRuleFor(policy, 'cache.corp')).toBeUndefined();
    expect(registryRuleFor(policy, 'harbor.corp.evil')).toBeUndefined();
  });

  it('strips and adds path prefixes, and names the entry it used', () => {
    const m = mapToOrigin(policy, `harbor.corp/atcr-proxy/alice.example/app@${DIGEST}`);
    expect(m).toMatchObject({ applied: true, index: 0, referrersFrom: 'self', atcrLayout: false });
    expect(nameOf(m.origin)).toBe('atcr.io/alice.example/app');
    expect(m.description).toBe('harbor.corp/atcr-proxy/alice.example/app is read as atcr.io/alice.example/app (registries[0] harbor.corp: mirrorOf atcr.io, stripPrefix atcr-proxy/)');
    const ecr = mapToOrigin(policy, 'eu.cache.corp/ecr/api/server:1');
    expect(nameOf(ecr.origin)).toBe('registry.corp:5000/team/api/server');
    expect(referrerLocation(ecr)).toEqual({ registry: 'registry.corp:5000', repository: 'team/api/server' });
    expect(nameOf(mapToOrigin(policy, 'mirror.corp/alice.example/app').origin)).toBe('atcr.io/alice.example/app');
    const hub = parseTrustPolicy(policyWith('registries:\n  - {host: hub.corp, mirrorOf: docker.io, stripPrefix: dockerhub}\n'));
    expect(nameOf(mapToOrigin(hub, 'hub.corp/dockerhub/nginx:1.27').origin)).toBe('docker.io/library/nginx');
  });

  it('does not map a mirror path outside stripPrefix, nor a prefix that only shares characters', () => {
    for (const image of ['harbor.corp/other/alice.example/app', 'harbor.corp/atcr-proxyx/alice/app', 'harbor.corp/atcr-proxy']) {
      const m = mapToOrigin(policy, image);
      expect(m.applied).toBe(false);
      expect(m.origin).toEqual(m.admitted);
      expect(m.referrersFrom).toBe('self');
    }
    expect(mapToOrigin(policy, 'harbor.corp/other/app').description).toMatch(/maps only paths under atcr-proxy\/.*judged under its own name/);
  });

  it('says when no entry applies', () => {
    const m = mapToOrigin(policy, 'ghcr.io/org/app:1');
    expect(m).toMatchObject({ applied: false, referrersFrom: 'self' });
    expect(m.description).toBe('no registries entry matches ghcr.io: ghcr.io/org/app is judged under its own name');
    expect(mapToOrigin(undefined, 'ghcr.io/org/app').applied).toBe(false);
  });

  it('marks ATCR layout from the mirror entry, the origin entry or the atcrRegistries setting', () => {
    expect(mapToOrigin(policy, 'atcr.self/alice/app').atcrLayout).toBe(true);
    expect(mapToOrigin(policy, 'mirror.corp/alice/app', ['atcr.io']).atcrLayout).toBe(true);
    expect(mapToOrigin(policy, 'mirror.corp/alice/app', []).atcrLayout).toBe(false);
    expect(mapToOrigin(undefined, 'ATCR.IO/alice/app', ['atcr.io']).atcrLayout).toBe(true);
  });
});

describe('which scopes apply: the admitted name and the origin name, both', () => {
  const policy = parseTrustPolicy(
    policyWith(
      'registries:\n  - {host: harbor.corp, mirrorOf: atcr.io, stripPrefix: atcr-proxy}\n',
      `  - {name: origin, scope: "atcr.io/**", trustedDIDs: [${ALICE}]}\n  - {name: mirror, scope: "harbor.corp/**", trustedDIDs: [${MALLORY}]}\n`,
    ),
  );
  const at = new Date();

  it('applies a policy covering only the origin name to the mirror image', () => {
    const d = evaluateTrust({ ...policy, policies: [policy.policies[0]!] }, { image: 'harbor.corp/atcr-proxy/alice/app', did: ALICE, signedAt: at });
    expect(d).toMatchObject({ allowed: true, policies: ['origin'] });
    expect(d.mapping?.applied).toBe(true);
  });

  it('requires every enforce policy covering either name to pass', () => {
    const d = evaluateTrust(policy, { image: 'harbor.corp/atcr-proxy/alice/app', did: ALICE, signedAt: at });
    expect(d.allowed).toBe(false);
    expect(d.policies).toEqual(['origin', 'mirror']);
    expect(d.failures[0]?.code).toBe('UNTRUSTED_DID');
    expect(d.failures[0]?.message).toContain('harbor.corp/atcr-proxy/alice/app (read as atcr.io/alice/app)');
  });

  it('names the mapping when no scope covers either name', () => {
    const d = evaluateTrust({ ...policy, policies: [policy.policies[0]!] }, { image: 'harbor.corp/other/app', did: ALICE, signedAt: at });
    expect(d.failures[0]?.code).toBe('NO_POLICY');
    expect(d.failures[0]?.message).toMatch(/name mapping: registries\[0\] .* maps only paths under atcr-proxy\//);
  });

  it('policy explain shows the mapping and which name each scope covers, as verify decides', () => {
    const { text, allowed } = explainTrust({ ...policy, policies: [policy.policies[0]!] }, 'harbor.corp/atcr-proxy/alice/app:1', ALICE, at, at);
    expect(allowed).toBe(true);
    expect(text).toContain('matched as harbor.corp/atcr-proxy/alice/app and as its origin atcr.io/alice/app');
    expect(text).toContain('mapping     harbor.corp/atcr-proxy/alice/app is read as atcr.io/alice/app (registries[0] harbor.corp: mirrorOf atcr.io, stripPrefix atcr-proxy/)');
    expect(text).toContain('scope atcr.io/** covers its origin atcr.io/alice/app');
  });

  it('policy check lists the registries in the order they are tried', () => {
    const text = describePolicy(parseTrustPolicy(MIRRORS), at);
    expect(text).toContain('[0] harbor.corp: mirror: harbor.corp/atcr-proxy/** is read as atcr.io/** (other paths under their own name); referrers read from the mirror');
    expect(text).toContain('[1] *.cache.corp: mirror: *.cache.corp/ecr/** is read as registry.corp:5000/team/**');
    expect(text).toContain('referrers read from registry.corp:5000');
    expect(text).toContain('[3] atcr.self: ATCR layout');
    expect(text).toContain('[4] localhost:*: private addresses allowed; plain http allowed');
  });
});

describe('the repository layout rule (record check and sign)', () => {
  const alice = { did: ALICE, handle: 'alice.example' };
  const record = (repository: string) => ({ $type: 'io.atcr.manifest', repository, digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', schemaVersion: 2, createdAt: '2025-01-01T00:00:00Z' });
  const check = (image: string, repository: string, opts: { handle?: string; atcr?: string[]; policy?: string } = {}) =>
    checkManifestRecord(record(repository), {
      subjectDigest: DIGEST,
      did: ALICE,
      reference: image,
      atcrRegistries: opts.atcr ?? ['atcr.io'],
      verifiedHandle: 'handle' in opts ? opts.handle : 'alice.example',
      ...(opts.policy ? { mapping: mapToOrigin(parseTrustPolicy(opts.policy), image, opts.atcr ?? ['atcr.io']) } : {}),
    });

  it('reads <signer>/<repository> on any host when the first segment is the signer', () => {
    expect(repositoryLayout({ registry: 'registry.corp', repository: 'alice.example/tools/app' }, alice)).toEqual({ kind: 'atcr', identity: 'alice.example', repository: 'tools/app' });
    expect(repositoryLayout({ registry: 'registry.corp', repository: 'bob.example/app' }, alice)).toEqual({ kind: 'full', repository: 'registry.corp/bob.example/app' });
    expect(repositoryLayout({ registry: 'registry.corp', repository: 'alice.example' }, alice).kind).toBe('full');
    expect(repositoryLayout({ registry: 'r.corp', repository: 'alice.example/app' }, { did: ALICE, handle: 'Alice.Example' }).kind).toBe('atcr');
    expect(() => check('self-hosted.atcr/alice.example/app', 'app')).not.toThrow();
    // The full origin name names this very path: accepted too (what sign wrote before the rule).
    expect(() => check('self-hosted.atcr/alice.example/app', 'self-hosted.atcr/alice.example/app')).not.toThrow();
  });

  it('needs the handle verified both ways: an unverified handle is not the signer', () => {
    const err = errorOf(() => check('registry.corp/alice.example/app', 'app', { handle: undefined }));
    expect(err.code).toBe('REPOSITORY_MISMATCH');
    expect(err.message).toContain('no verified handle');
  });

  it('refuses the same bytes under another identity\'s path, on ATCR registries even with a matching full name', () => {
    const other = errorOf(() => check('registry.corp/bob.example/app', 'app'));
    expect(other.code).toBe('REPOSITORY_MISMATCH');
    expect(other.message).toContain('name mapping: no registries entry matches registry.corp');
    const atcr = errorOf(() => check('atcr.io/bob.example/app', 'atcr.io/bob.example/app'));
    expect(atcr.code).toBe('REPOSITORY_MISMATCH');
    expect(atcr.message).toMatch(/atcr.io paths are <handle-or-did>\/<repository>.*"bob.example", not the signer/);
    // Without the override, a full-name record is the publisher's own claim on a non-ATCR registry.
    expect(() => check('registry.corp/bob.example/app', 'registry.corp/bob.example/app')).not.toThrow();
  });

  it('checks a mirror image against the origin name, and suggests the entry a prefix mirror lacks', () => {
    const policy = policyWith('registries:\n  - {host: harbor.corp, mirrorOf: registry.corp, stripPrefix: proxy}\n');
    expect(() => check('harbor.corp/proxy/alice.example/app', 'app', { policy })).not.toThrow();
    expect(() => check('harbor.corp/proxy/team/app', 'registry.corp/team/app', { policy })).not.toThrow();
    const unmapped = errorOf(() => check('harbor.corp/proxy/team/app', 'registry.corp/team/app'));
    expect(unmapped.message).toContain('name mapping: no registries entry matches harbor.corp');
    expect(unmapped.remediation).toContain('registries: [{host: "harbor.corp", mirrorOf: "registry.corp", stripPrefix: "proxy/"}]');
    const atcrStyle = errorOf(() => check('harbor.corp/proxy/alice.example/app', 'app'));
    expect(atcrStyle.remediation).toContain('registries: [{host: "harbor.corp", mirrorOf: "<origin host>", stripPrefix: "proxy/"}]');
    // The mapping moves the name; it never lets another identity's path through.
    const bob = errorOf(() => check('harbor.corp/proxy/bob.example/app', 'app', { policy }));
    expect(bob.message).toContain('(read as registry.corp/bob.example/app)');
  });

  it('suggests addPrefix when the origin path is longer, and nothing when the paths share no segment', () => {
    expect(suggestedMirrorEntry({ registry: 'cache.corp', repository: 'app' }, 'registry.corp/team/app')).toBe('registries: [{host: "cache.corp", mirrorOf: "registry.corp", addPrefix: "team/"}]');
    expect(suggestedMirrorEntry({ registry: 'cache.corp', repository: 'app' }, 'registry.corp/other')).toBeUndefined();
    // The record's repository is the signer's text: nothing but a real host and path is echoed into advice.
    expect(suggestedMirrorEntry({ registry: 'cache.corp', repository: 'app' }, 'evil.corp", atcr: false, x: "/app')).toBeUndefined();
    expect(suggestedMirrorEntry({ registry: 'cache.corp', repository: 'app' }, 'evil.corp/Team Name/app')).toBeUndefined();
  });

  it('sign writes the repository the verifier expects, and refuses a path an ATCR registry would never accept', () => {
    expect(recordRepositoryFor('registry.corp/alice.example/app:1', alice, ['atcr.io'])).toBe('app');
    expect(recordRepositoryFor('registry.corp/team/app:1', alice, ['atcr.io'])).toBe('registry.corp/team/app');
    expect(recordRepositoryFor('atcr.io/alice.example/app', alice, ['atcr.io'])).toBe('app');
    const err = errorOf(() => recordRepositoryFor('atcr.io/bob.example/app', alice, ['atcr.io']));
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.remediation).toContain('atcr.io/alice.example/');
  });
});
