/**
 * Rules of src/policy/scope.ts beside scope.test.ts: what scopeProblem tells an author about a host
 * written in a form image names never take (each message says what to write instead), and matcher
 * edges (`**` inside a segment is `*`, the empty name, a scope that is `**` alone).
 */
import { describe, expect, it } from 'vitest';
import { scopeMatches, scopeProblem } from '../../src/policy/scope.js';

describe('scopeProblem: hosts as image names carry them', () => {
  it.each<[string, string | undefined]>([
    ['', 'a scope cannot be empty (`**` covers every image)'],
    ['Ghcr.*/x', 'registry hosts are matched lower-cased: write ghcr.*'],
    ['*.corp:443/x', '":443" is the default port and image names never carry it: write *.corp'],
    ['*.corp:4430/x', undefined],
    ['*.corp/x', undefined],
    ['myreg/x', '"myreg" is not a registry host (no "." or ":"), and Docker Hub images are matched as docker.io/myreg/x: write that instead'],
    ['GHCR.IO/x', 'registry hosts are matched lower-cased: write ghcr.io'],
    ['index.docker.io/x/y', 'index.docker.io is another name of Docker Hub, whose images are matched as docker.io/...: write docker.io'],
    ['Registry-1.Docker.IO/x/y', 'Registry-1.Docker.IO is another name of Docker Hub, whose images are matched as docker.io/...: write docker.io'],
    ['docker.io:443/x/y', '":443" is the default port and image names never carry it: write docker.io'],
    ['ghcr.io:443/x', '":443" is the default port and image names never carry it: write ghcr.io'],
    ['127.1:5000/x', '127.1:5000 is another spelling of 127.0.0.1:5000, the form image names are matched in: write 127.0.0.1:5000'],
    ['GHCR.IO:443/x', 'GHCR.IO:443 is another spelling of ghcr.io, the form image names are matched in: write ghcr.io'],
    ['localhost/x', undefined],
    ['localhost:5000/x', undefined],
    ['**/x', undefined],
    ['**', undefined],
    ['ghcr.io/**/x', undefined],
    ['ghcr.io/a/**', undefined],
  ])('%j: %s', (scope, problem) => {
    expect(scopeProblem(scope)).toBe(problem);
  });
});

describe('matching edges', () => {
  it.each<[string, string, boolean]>([
    ['ghcr.io/a**b', 'ghcr.io/axxb', true],
    ['ghcr.io/a**b', 'ghcr.io/ab', true],
    ['ghcr.io/a**b', 'ghcr.io/ax/xb', false],
    ['ghcr.io/a***', 'ghcr.io/abc', true],
    ['ghcr.io/*', 'ghcr.io', false],
    ['ghcr.io/**', 'ghcr.io', true],
    ['**', '', true],
    ['ghcr.io/**', '', false],
    ['*', '', false],
    ['**/b', 'ghcr.io/a/b', true],
    ['**/b', 'ghcr.io/a/c', false],
    ['ghcr.io/x/y', 'ghcr.io/x', false],
    ['ghcr.io/x', 'ghcr.io/x/y', false],
    ['gh*.io/**', 'ghcr.io/a', true],
    ['gh*.io/**', 'quay.io/a', false],
  ])('%s covers %j: %s', (scope, image, covers) => {
    expect(scopeMatches(scope, image)).toBe(covers);
    // A second call (compiled scope cached) decides the same.
    expect(scopeMatches(scope, image)).toBe(covers);
  });
});

describe('a scope host is judged as written (scopeProblem takes any text, not only what the schema admits)', () => {
  it.each<[string, string]>([
    ['MyHost/app', 'registry hosts are matched lower-cased: write myhost'],
    ['127.1/app', '127.1 is another spelling of 127.0.0.1, the form image names are matched in: write 127.0.0.1'],
    ['[0:0::1]:5000/app', '[0:0::1]:5000 is another spelling of [::1]:5000, the form image names are matched in: write [::1]:5000'],
    ['ghcr.io:443/app', '":443" is the default port and image names never carry it: write ghcr.io'],
    ['[::1]:443/app', '":443" is the default port and image names never carry it: write [::1]'],
    ['myhost/app', '"myhost" is not a registry host (no "." or ":"), and Docker Hub images are matched as docker.io/myhost/app: write that instead'],
  ])('%s: %s', (scope, problem) => {
    expect(scopeProblem(scope)).toBe(problem);
  });
});
