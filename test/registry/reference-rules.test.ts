/**
 * Rules of src/registry/reference.ts beside the canonical-name table: the length caps sit exactly
 * at 4096 (reference), 255 (repository) and 128 (tag); digests are sha256 or sha512 of exact length;
 * and each refusal names the part of the reference that is wrong, so the operator can fix it.
 */
import { describe, expect, it } from 'vitest';
import { formatImageReference, isDigest, isRepositoryComponent, parseImageReference, registryHostProblem } from '../../src/registry/reference.js';
import { errorOf } from '../harness/error-code.js';

const D256 = `sha256:${'a'.repeat(64)}`;
const D512 = `sha512:${'b'.repeat(128)}`;
const refusal = (ref: string) => {
  const err = errorOf(() => parseImageReference(ref));
  expect(err.code).toBe('INPUT_INVALID');
  return err.message;
};

describe('length caps, inclusive', () => {
  it('a reference of 4096 characters is parsed; 4097 is refused before parsing', () => {
    const repo = (n: number) => `ghcr.io/${'a'.repeat(200)}`.padEnd(n, 'a');
    const at = `ghcr.io/a:${'t'.repeat(128)}@${D512}`;
    expect(at.length).toBeLessThan(4096);
    const long = `${'x'.repeat(4097)}`;
    expect(refusal(long)).toBe(`image reference "${long.slice(0, 200)}" is invalid: it is longer than 4096 characters`);
    // At 4096 the reference is parsed (and refused for its repository length, a later rule).
    expect(refusal(repo(4096))).toMatch(/the repository name is longer than 255 characters$/);
  });

  it('a repository of 255 characters is accepted; 256 is refused', () => {
    const name = (n: number) => `ghcr.io/${'a'.repeat(n)}`;
    expect(parseImageReference(name(255)).repository).toHaveLength(255);
    expect(refusal(name(256))).toBe(`image reference "${name(256).slice(0, 200)}" is invalid: the repository name is longer than 255 characters`);
  });

  it('a tag of 128 characters is accepted; 129 is refused', () => {
    expect(parseImageReference(`ghcr.io/a:${'t'.repeat(128)}`).tag).toHaveLength(128);
    expect(refusal(`ghcr.io/a:${'t'.repeat(129)}`)).toMatch(new RegExp(`"${'t'.repeat(80)}" is not a valid tag$`));
  });
});

describe('tags and digests', () => {
  it.each([
    [D256, true],
    [D512, true],
    [`sha256:${'a'.repeat(63)}`, false],
    [`sha256:${'a'.repeat(65)}`, false],
    [`sha512:${'b'.repeat(64)}`, false],
    [`sha256:${'A'.repeat(64)}`, false],
    [`sha384:${'a'.repeat(96)}`, false],
    [` ${D256}`, false],
    [`${D256}\n`, false],
  ])('isDigest(%s) is %s', (value, ok) => {
    expect(isDigest(value)).toBe(ok);
  });

  it('a bad digest is named in the refusal', () => {
    expect(refusal('ghcr.io/a@sha256:abc')).toBe('image reference "ghcr.io/a@sha256:abc" is invalid: "sha256:abc" is not a sha256 or sha512 digest');
  });

  it.each(['v1', '_x', 'a.b-c_d', 'A1'])('tag %s is valid', (tag) => {
    expect(parseImageReference(`ghcr.io/a:${tag}`).tag).toBe(tag);
  });

  it.each(['.x', '-x', 'a b', ''])('tag %j is refused, named', (tag) => {
    expect(refusal(`ghcr.io/a:${tag}`)).toBe(`image reference "ghcr.io/a:${tag}" is invalid: "${tag}" is not a valid tag`);
  });

  it('a parsed reference has a tag or digest key only when the reference has one', () => {
    expect(Object.keys(parseImageReference('ghcr.io/a'))).toEqual(['registry', 'repository']);
    expect(Object.keys(parseImageReference('ghcr.io/a:v1'))).toEqual(['registry', 'repository', 'tag']);
    expect(Object.keys(parseImageReference(`ghcr.io/a@${D256}`))).toEqual(['registry', 'repository', 'digest']);
  });

  it.each(['localhost', 'ghcr.io', 'a.b'])('a one-component name %j is a Docker Hub image, even when it looks like a host', (name) => {
    expect(parseImageReference(name)).toEqual({ registry: 'docker.io', repository: `library/${name}` });
  });

  it('a colon before the last slash is a port, not a tag', () => {
    expect(parseImageReference('localhost:5000/a')).toEqual({ registry: 'localhost:5000', repository: 'a' });
    expect(parseImageReference(`localhost:5000/a:v1@${D256}`)).toEqual({ registry: 'localhost:5000', repository: 'a', tag: 'v1', digest: D256 });
  });

  it('formatImageReference puts the digest over the tag, and the tag when there is no digest', () => {
    expect(formatImageReference({ registry: 'ghcr.io', repository: 'a', tag: 'v1', digest: D256 })).toBe(`ghcr.io/a@${D256}`);
    expect(formatImageReference({ registry: 'ghcr.io', repository: 'a', tag: 'v1' })).toBe('ghcr.io/a:v1');
    expect(formatImageReference({ registry: 'ghcr.io', repository: 'a' })).toBe('ghcr.io/a');
    expect(formatImageReference({ registry: 'ghcr.io', repository: 'a', tag: '' })).toBe('ghcr.io/a');
  });
});

describe('refusals name the part that is wrong', () => {
  it.each<[string, string]>([
    ['', 'image reference "" is invalid: it is empty'],
    ['ghcr.io/Org/app', 'image reference "ghcr.io/Org/app" is invalid: repository component "Org" must be lower-case letters, digits and separators'],
    ['ghcr.io:0443/a', 'image reference "ghcr.io:0443/a" is invalid: "ghcr.io:0443" has port 0443, which is not 1-65535 written without leading zeros'],
    ['ghcr.io:65536/a', 'image reference "ghcr.io:65536/a" is invalid: "ghcr.io:65536" has port 65536, which is not 1-65535 written without leading zeros'],
    ['gh_cr.io/a', 'image reference "gh_cr.io/a" is invalid: "gh_cr.io" is not a valid registry host'],
    ['registry.1/a', 'image reference "registry.1/a" is invalid: "registry.1" is not a host a URL can name (a last label of digits must make an IPv4 address)'],
    ['MyReg/app', 'image reference "MyReg/app" is invalid: "MyReg" would be a registry only because of its upper case; a registry host has a "." or a port or is localhost'],
  ])('%j', (ref, message) => {
    expect(refusal(ref)).toBe(message);
  });

  it('a reference that starts with @ has an empty name', () => {
    expect(refusal(`@${D256}`)).toBe(`image reference "@${D256}" is invalid: repository component "" must be lower-case letters, digits and separators`);
  });

  it('long parts are shown cut to 80 characters', () => {
    const digest = `sha256:${'a'.repeat(100)}`;
    expect(refusal(`ghcr.io/a@${digest}`)).toMatch(new RegExp(`: "${digest.slice(0, 80)}" is not a sha256 or sha512 digest$`));
    const portHost = `${'h'.repeat(90)}.io:0443`;
    expect(registryHostProblem(portHost)).toBe(`"${portHost.slice(0, 80)}" has port 0443, which is not 1-65535 written without leading zeros`);
    const digitsHost = `${'h'.repeat(90)}.123`;
    expect(registryHostProblem(digitsHost)).toBe(`"${digitsHost.slice(0, 80)}" is not a host a URL can name (a last label of digits must make an IPv4 address)`);
  });

  it('a non-string is refused as empty, not thrown raw', () => {
    expect(refusal(undefined as unknown as string)).toBe('image reference "undefined" is invalid: it is empty');
  });

  it('a long reference is shown cut to 200 characters, a long component to 80', () => {
    const ref = `ghcr.io/${'A'.repeat(300)}`;
    expect(refusal(ref)).toBe(`image reference "${ref.slice(0, 200)}" is invalid: repository component "${'A'.repeat(80)}" must be lower-case letters, digits and separators`);
  });
});

describe('registry hosts', () => {
  it.each([
    ['ghcr.io', undefined],
    ['localhost:1', undefined],
    ['localhost:65535', undefined],
    ['[::1]:5000', undefined],
    ['Ghcr.IO', undefined],
    ['ghcr.io:', '"ghcr.io:" is not a valid registry host'],
    ['-ghcr.io', '"-ghcr.io" is not a valid registry host'],
    ['ghcr-.io', '"ghcr-.io" is not a valid registry host'],
    ['ghcr.io:123456', '"ghcr.io:123456" is not a valid registry host'],
    ['ghcr.io:99999', '"ghcr.io:99999" has port 99999, which is not 1-65535 written without leading zeros'],
    ['ghcr.io:0', '"ghcr.io:0" has port 0, which is not 1-65535 written without leading zeros'],
  ])('%s: %s', (host, problem) => {
    expect(registryHostProblem(host)).toBe(problem);
  });

  it('a long host is shown cut to 80 characters', () => {
    const host = `${'a'.repeat(100)}_`;
    expect(registryHostProblem(host)).toBe(`"${host.slice(0, 80)}" is not a valid registry host`);
  });

  it.each([
    ['a', true],
    ['a0', true],
    ['a.b', true],
    ['a__b', true],
    ['a---b', true],
    ['a.', false],
    ['_a', false],
    ['a.-b', false],
    ['A', false],
    ['', false],
  ])('isRepositoryComponent(%j) is %s', (part, ok) => {
    expect(isRepositoryComponent(part)).toBe(ok);
  });
});
