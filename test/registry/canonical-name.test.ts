import { describe, expect, it } from 'vitest';
import { canonicalImageName, canonicalRegistryHost, parseImageReference } from '../../src/registry/reference.js';
import { codeOf } from '../harness/error-code.js';

// Issue 13: one image, one name. The canonical form follows distribution/reference's grammar
// (github.com/distribution/reference: domain detection, library/ for official images,
// index.docker.io folded) and goes further where a second spelling would reach a second decision:
// every host lower-cased, registry-1.docker.io folded, the https default port dropped.

const D = `sha256:${'c'.repeat(64)}`;

describe('canonicalImageName: every spelling of an image has one name', () => {
  const table: [spelling: string, canonical: string, rule: string][] = [
    // distribution/reference: the first component is a domain only with "." or ":", or as localhost
    ['nginx', 'docker.io/library/nginx', 'one-component Docker Hub name gains library/'],
    ['nginx:1.25', 'docker.io/library/nginx', 'tag split off'],
    [`nginx@${D}`, 'docker.io/library/nginx', 'digest split off'],
    [`nginx:1.25@${D}`, 'docker.io/library/nginx', 'tag and digest split off'],
    ['alice/app', 'docker.io/alice/app', 'a first component without "." or ":" is a Docker Hub user'],
    ['library/nginx', 'docker.io/library/nginx', 'explicit library/ on Docker Hub'],
    ['docker.io/nginx', 'docker.io/library/nginx', 'docker.io with one component gains library/'],
    ['docker.io/library/nginx', 'docker.io/library/nginx', 'already canonical'],
    ['index.docker.io/nginx', 'docker.io/library/nginx', 'legacy index.docker.io folded (distribution does this)'],
    ['registry-1.docker.io/library/nginx', 'docker.io/library/nginx', 'registry-1.docker.io folded'],
    ['Registry-1.Docker.io/library/nginx', 'docker.io/library/nginx', 'alias folded in any case (issue 13, item 3)'],
    ['INDEX.DOCKER.IO/nginx:1', 'docker.io/library/nginx', 'upper-case alias, one component'],
    ['docker.io:443/library/nginx', 'docker.io/library/nginx', ':443 dropped (issue 13, item 3)'],
    ['registry-1.docker.io:443/alice/app', 'docker.io/alice/app', 'alias and :443 together'],
    ['registry.example.com:443/staging/app', 'registry.example.com/staging/app', ':443 dropped on any host (issue 13, item 3)'],
    ['registry.example.com:5000/staging/app', 'registry.example.com:5000/staging/app', 'another port is another registry'],
    ['registry.example.com:4430/staging/app', 'registry.example.com:4430/staging/app', 'a port that ends in 443 is not 443'],
    ['ATCR.IO/alice.example/prod-api', 'atcr.io/alice.example/prod-api', 'host lower-cased (issue 13, item 2)'],
    ['Ghcr.Io/org/app:v1', 'ghcr.io/org/app', 'mixed-case host'],
    ['Localhost/app', 'localhost/app', 'an upper-case first component is a host (distribution: not a valid path)'],
    ['localhost/app', 'localhost/app', 'localhost is a host without "." or ":"'],
    ['localhost:5000/a/b:t', 'localhost:5000/a/b', 'localhost with a port'],
    ['127.0.0.1:5000/a', '127.0.0.1:5000/a', 'an IPv4 host'],
    ['[::1]:5000/a', '[::1]:5000/a', 'an IPv6 host'],
    ['[::1]:443/a', '[::1]/a', 'IPv6 with :443'],
    ['[FE80::1]/a', '[fe80::1]/a', 'IPv6 hex lower-cased'],
    ['ghcr.io/a/b/c/d', 'ghcr.io/a/b/c/d', 'repository paths keep every component'],
    ['ghcr.io/nginx', 'ghcr.io/nginx', 'library/ is only for Docker Hub'],
    ['127.1:5000/a', '127.0.0.1:5000/a', 'a short IPv4 form is the address the connection uses (WHATWG URL)'],
    ['0x7f.0.0.1:5000/a', '127.0.0.1:5000/a', 'a hexadecimal IPv4 form'],
    ['2130706433:5000/a', '127.0.0.1:5000/a', 'a 32-bit IPv4 number'],
    ['[0:0:0:0:0:0:0:1]:5000/a', '[::1]:5000/a', 'an uncompressed IPv6 address'],
    ['[::FFFF:127.0.0.1]/a', '127.0.0.1/a', 'IPv4-mapped IPv6 is its IPv4 address'],
    ['ghcr.io/a.b_c__d-e--f/x', 'ghcr.io/a.b_c__d-e--f/x', 'separators: . _ __ and runs of -'],
  ];
  it.each(table)('%s -> %s (%s)', (spelling, canonical) => {
    expect(canonicalImageName(spelling)).toBe(canonical);
    expect(canonicalImageName(canonical)).toBe(canonical);
    expect(canonicalImageName(parseImageReference(spelling))).toBe(canonical);
  });

  it('keeps the tag and digest beside the canonical name', () => {
    expect(parseImageReference(`Registry-1.Docker.io:443/nginx:1.25@${D}`)).toEqual({ registry: 'docker.io', repository: 'library/nginx', tag: '1.25', digest: D });
  });

  it('canonicalises a hand-built reference object the same way', () => {
    expect(canonicalImageName({ registry: 'Index.Docker.IO:443', repository: 'nginx' })).toBe('docker.io/library/nginx');
  });

  const refused: [string, string][] = [
    ['', 'empty'],
    ['ghcr.io/Org/app', 'upper case in the repository (distribution: repository names are lower-case)'],
    ['ghcr.io//app', 'empty component'],
    ['ghcr.io/app/', 'trailing slash'],
    ['ghcr.io/-app', 'a component cannot start with a separator'],
    ['ghcr.io/a..b', 'two dots are no separator'],
    ['ghcr.io/a___b', 'three underscores are no separator'],
    ['ghcr.io:0443/a', 'a port with a leading zero would be a second spelling of 443'],
    ['ghcr.io:70000/a', 'a port above 65535'],
    ['ghcr.io:0/a', 'port 0'],
    ['registry.1/a', 'a last label of digits that is no IPv4 address: no URL can name it'],
    ['1.2.3.256:5000/a', 'an IPv4 address out of range'],
    ['ghcr.io/a:bad tag', 'a tag with a space'],
    ['ghcr.io/a@sha256:abc', 'a short digest'],
    ['gh_cr.io/a', 'an underscore in a host'],
    [' nginx', 'leading space'],
    ['atcr.io/did:plc:abc/app', 'a DID is no path component'],
    ['MyReg/app', 'a host only by its upper case: lower-cased it would be the Docker Hub user myreg (found by the idempotence property)'],
  ];
  it.each(refused)('refuses %j (%s)', (spelling) => {
    expect(codeOf(() => canonicalImageName(spelling))).toBe('INPUT_INVALID');
  });
});

describe('canonicalRegistryHost', () => {
  it('lower-cases, folds Docker Hub aliases, drops :443, and keeps other ports', () => {
    expect(canonicalRegistryHost('ATCR.io')).toBe('atcr.io');
    expect(canonicalRegistryHost('index.docker.io')).toBe('docker.io');
    expect(canonicalRegistryHost('REGISTRY-1.DOCKER.IO:443')).toBe('docker.io');
    expect(canonicalRegistryHost('mirror.corp:443')).toBe('mirror.corp');
    expect(canonicalRegistryHost('mirror.corp:8443')).toBe('mirror.corp:8443');
    expect(canonicalRegistryHost('docker.io.evil.example')).toBe('docker.io.evil.example');
  });
});
