/**
 * Rules of src/policy/registries.ts the mutation run found unpinned: a mirror of an ATCR-layout
 * origin keeps ATCR layout (by the mirror's entry, the origin's entry or the atcrRegistries
 * setting), a one-segment Docker Hub origin path gains library/, referrers are read where the entry
 * says, the description names what was applied, and suggested entries are only offered when the
 * names really share their last segments.
 */
import { describe, expect, it } from 'vitest';
import { mapToOrigin, referrerLocation, suggestedMirrorEntry, trimPrefix } from '../../src/policy/registries.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { parseImageReference } from '../../src/registry/reference.js';

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const policyWith = (registries: string) =>
  parseTrustPolicy(`version: "1.0"\ntrustedDIDs:\n  ${ALICE}: {}\npolicies:\n  - {name: p, scope: "**", trustedDIDs: [${ALICE}]}\nregistries:\n${registries}`);

describe('ATCR layout follows the origin through a mirror', () => {
  it.each<[string, string, readonly string[], boolean]>([
    ['the atcrRegistries setting names the origin', '  - {host: mirror.corp, mirrorOf: atcr.io}\n', ['atcr.io'], true],
    ['the origin\'s entry says atcr', '  - {host: mirror.corp, mirrorOf: registry.corp}\n  - {host: registry.corp, atcr: true}\n', [], true],
    ['the mirror\'s entry says atcr', '  - {host: mirror.corp, mirrorOf: registry.corp, atcr: true}\n', [], true],
    ['nothing says so', '  - {host: mirror.corp, mirrorOf: registry.corp}\n', ['atcr.io'], false],
    ['only the mirror host is in the setting', '  - {host: mirror.corp, mirrorOf: registry.corp}\n', ['mirror.corp'], false],
  ])('%s: atcrLayout %s', (_name, registries, atcr, layout) => {
    const m = mapToOrigin(policyWith(registries), 'mirror.corp/alice.example/app:1', atcr);
    expect(m.applied).toBe(true);
    expect(m.atcrLayout).toBe(layout);
  });

  it('without a mirror entry, the setting and the host\'s own entry decide', () => {
    expect(mapToOrigin(undefined, 'atcr.io/alice.example/app', ['ATCR.io']).atcrLayout).toBe(true);
    expect(mapToOrigin(undefined, 'ghcr.io/alice.example/app', ['atcr.io']).atcrLayout).toBe(false);
    expect(mapToOrigin(undefined, 'ghcr.io/alice.example/app').atcrLayout).toBe(false);
    expect(mapToOrigin(policyWith('  - {host: ghcr.io, atcr: true}\n'), 'ghcr.io/alice.example/app').atcrLayout).toBe(true);
  });
});

describe('the mapped name and where referrers are read', () => {
  it('a one-segment path mapped onto Docker Hub gains library/', () => {
    const m = mapToOrigin(policyWith('  - {host: hub.corp, mirrorOf: docker.io, stripPrefix: proxy/}\n'), 'hub.corp/proxy/nginx');
    expect(m.origin).toEqual({ registry: 'docker.io', repository: 'library/nginx' });
    const other = mapToOrigin(policyWith('  - {host: hub.corp, mirrorOf: ghcr.io, stripPrefix: proxy/}\n'), 'hub.corp/proxy/nginx');
    expect(other.origin).toEqual({ registry: 'ghcr.io', repository: 'nginx' });
  });

  it('the description lists what the entry applied, and where referrers are read', () => {
    const m = mapToOrigin(
      policyWith('  - {host: "*.cache.corp", mirrorOf: "registry.corp:5000", stripPrefix: ecr, addPrefix: team/, referrersFrom: origin}\n'),
      'eu.cache.corp/ecr/app:1',
    );
    expect(m.description).toBe(
      'eu.cache.corp/ecr/app is read as registry.corp:5000/team/app (registries[0] *.cache.corp: mirrorOf registry.corp:5000, stripPrefix ecr/, addPrefix team/, referrers read from the origin)',
    );
    expect(referrerLocation(m)).toEqual({ registry: 'registry.corp:5000', repository: 'team/app' });
    const self = mapToOrigin(policyWith('  - {host: mirror.corp, mirrorOf: atcr.io}\n'), 'mirror.corp/a/b');
    expect(self.description).toBe('mirror.corp/a/b is read as atcr.io/a/b (registries[0] mirror.corp: mirrorOf atcr.io)');
    expect(referrerLocation(self)).toEqual({ registry: 'mirror.corp', repository: 'a/b' });
  });

  it('an entry without mirrorOf, or a path outside stripPrefix, maps nothing and says why', () => {
    const noMirror = mapToOrigin(policyWith('  - {host: ghcr.io, allowHttp: true}\n'), 'ghcr.io/a/b');
    expect(noMirror).toMatchObject({ applied: false, index: 0, description: 'registries[0] (ghcr.io) names no mirrorOf: ghcr.io/a/b is judged under its own name' });
    const outside = mapToOrigin(policyWith('  - {host: mirror.corp, mirrorOf: atcr.io, stripPrefix: proxy/}\n'), 'mirror.corp/a/b');
    expect(outside.description).toBe('registries[0] (mirror.corp, mirror of atcr.io) maps only paths under proxy/, and a/b is not one: mirror.corp/a/b is judged under its own name');
    expect('rule' in mapToOrigin(undefined, 'ghcr.io/a/b')).toBe(false);
  });

  it('an image given as a parsed reference maps as its text does', () => {
    const policy = policyWith('  - {host: mirror.corp, mirrorOf: atcr.io, stripPrefix: proxy/}\n');
    expect(mapToOrigin(policy, parseImageReference('Mirror.corp/proxy/a/b:1'))).toStrictEqual(mapToOrigin(policy, 'Mirror.corp/proxy/a/b:1'));
  });

  it.each<[string | undefined, string | undefined]>([
    ['proxy/', 'proxy'],
    ['proxy//', 'proxy'],
    ['a/b/', 'a/b'],
    ['/', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('trimPrefix(%j) is %j', (prefix, trimmed) => {
    expect(trimPrefix(prefix)).toBe(trimmed);
  });
});

describe('suggested entries: only when the names share their last segments', () => {
  it.each<[string, string, string, string[], string | undefined]>([
    ['harbor.corp', 'proxy/atcr/app', 'registry.corp/atcr/app', [], 'registries: [{host: "harbor.corp", mirrorOf: "registry.corp", stripPrefix: "proxy/"}]'],
    ['harbor.corp', 'app', 'registry.corp/team/app', [], 'registries: [{host: "harbor.corp", mirrorOf: "registry.corp", addPrefix: "team/"}]'],
    ['harbor.corp', 'x/app', 'registry.corp/y/app', [], 'registries: [{host: "harbor.corp", mirrorOf: "registry.corp", stripPrefix: "x/", addPrefix: "y/"}]'],
    ['harbor.corp', 'a/b', 'registry.corp/c/d', [], undefined],
    ['harbor.corp', 'a/b', 'harbor.corp/a/b', [], undefined],
    ['harbor.corp', 'a/b', 'Bad_Host.corp/a/b', [], undefined],
    ['harbor.corp', 'a/b', 'registry.corp/A/b', [], undefined],
    ['harbor.corp', 'proxy/alice.example/app', 'app', ['alice.example'], 'registries: [{host: "harbor.corp", mirrorOf: "<origin host>", stripPrefix: "proxy/"}]'],
    ['harbor.corp', 'alice.example/app', 'app', ['alice.example'], undefined],
    ['harbor.corp', 'proxy/bob.example/app', 'app', ['alice.example'], undefined],
    ['harbor.corp', 'proxy/alice.example/app', 'other', ['alice.example'], undefined],
    ['harbor.corp', 'a/b', '/b', [], undefined],
    ['harbor.corp', 'proxy/team/app', 'localhost/team/app', [], 'registries: [{host: "harbor.corp", mirrorOf: "localhost", stripPrefix: "proxy/"}]'],
    ['harbor.corp', 'app', 'registry.corp/app', [], 'registries: [{host: "harbor.corp", mirrorOf: "registry.corp"}]'],
    ['harbor.corp', 'x/y/app', 'registry.corp/p/q/app', [], 'registries: [{host: "harbor.corp", mirrorOf: "registry.corp", stripPrefix: "x/y/", addPrefix: "p/q/"}]'],
    ['harbor.corp', 'proxy/registry.corp', 'registry.corp', [], undefined], // no "/": no host named, and no signer in the path
    ['harbor.corp', 'app', 'app', [], undefined], // an ATCR-layout record, but no signer segment in the image path
    ['harbor.corp', 'a/b/alice.example/team/app', 'team/app', ['alice.example'], 'registries: [{host: "harbor.corp", mirrorOf: "<origin host>", stripPrefix: "a/b/"}]'],
    ['harbor.corp', 'proxy/alice.example/team/app', 'teamapp', ['alice.example'], undefined],
  ])('%s/%s signed as %j: %s', (registry, repository, recordRepository, signer, entry) => {
    expect(suggestedMirrorEntry({ registry, repository }, recordRepository, signer)).toBe(entry);
  });
});
