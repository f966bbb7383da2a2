import { posix } from 'node:path';
import { readFileSync } from 'node:fs';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { assignments, copies, lastOf, readDockerfile, valuesOf, type Dockerfile, type Stage } from '../harness/dockerfile.js';
import { readYamlDocuments } from '../harness/crd-schema.js';

// Dockerfile.with-atproto must run exactly as the official Ratify v1.4.0 image does, because
// Ratify's Helm chart runs it with the same command, args and mounts. The official image's final
// stage (test/fixtures/ratify-image/httpserver.Dockerfile, upstream httpserver/Dockerfile at tag
// v1.4.0) is the contract; a drift on either side fails here.

const upstream = readDockerfile('test/fixtures/ratify-image/httpserver.Dockerfile');
const ours = readDockerfile('Dockerfile.with-atproto');
const gatekeeperImage = readDockerfile('gatekeeper/Dockerfile');
const final = (d: Dockerfile): Stage => d.stages.at(-1)!;
const verifier = readYamlDocuments('verifier-crd.yaml')[0]!;

/**
 * Expands `${X}` / `$X` from the stage's ARG defaults. Docker expands `$HOME` in an ARG default
 * from the build environment, which for distroless images has no HOME: the official image's
 * RATIFY_FOLDER is `/.ratify/` (where SPEC section 1 and Ratify's docs put the plugins).
 */
function expand(value: string, stage: Stage): string {
  const vars: Record<string, string> = { HOME: '', ...assignments(stage, 'ARG') };
  let out = value;
  for (let i = 0; i < 3; i++) out = out.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => vars[a ?? b] ?? '');
  return out;
}
const norm = (p: string) => posix.normalize(p);

/** The runtime contract of a final stage: what a container started from the image sees. */
function contract(stage: Stage) {
  const env = Object.fromEntries(Object.entries(assignments(stage, 'ENV')).map(([k, v]) => [k, norm(expand(v, stage))]));
  return {
    base: stage.from.split('@')[0]!.split(':')[0]!.replace(/\/(static|cc|cc-debian12|static-debian12)$/, '/<base>'),
    workdir: lastOf(stage, 'WORKDIR'),
    user: lastOf(stage, 'USER'),
    entrypoint: JSON.parse(lastOf(stage, 'ENTRYPOINT')!),
    ratifyConfig: env.RATIFY_CONFIG,
    exposed: valuesOf(stage, 'EXPOSE').flatMap((v) => v.split(/\s+/)).sort(),
  };
}

describe('Dockerfile.with-atproto keeps the official Ratify v1.4.0 image\'s runtime contract', () => {
  const theirs = contract(final(upstream));
  const mine = contract(final(ours));

  it('reads the upstream contract (the fixture is the one we target)', () => {
    expect(readFileSync('test/fixtures/ratify-image/httpserver.Dockerfile', 'utf8')).toContain('LABEL org.opencontainers.image.source https://github.com/ratify-project/ratify');
    expect(theirs).toEqual({
      base: 'gcr.io/distroless/<base>',
      workdir: '/',
      user: '65532:65532',
      entrypoint: ['/app/ratify', 'serve', '--http', ':6001'],
      ratifyConfig: '/.ratify/',
      exposed: ['6001', '8888'],
    });
  });

  it('has the same working directory, user, entrypoint, config path and ports', () => {
    expect(mine).toEqual(theirs);
  });

  it('starts in / so the chart\'s relative --ca-cert-file=usr/local/tls/client-ca/ca.crt resolves', () => {
    const template = readFileSync('test/fixtures/ratify-chart/deployment.template.yaml', 'utf8');
    expect(template).toContain('--ca-cert-file=usr/local/tls/client-ca/ca.crt');
    expect(posix.resolve(mine.workdir!, 'usr/local/tls/client-ca/ca.crt')).toBe('/usr/local/tls/client-ca/ca.crt');
  });

  it('has Ratify\'s binary, config.json and plugin directory where the official image has them, owned by the same user', () => {
    const up = final(upstream);
    const upCopies = copies(up).map((c) => ({ ...c, dest: norm(expand(c.dest, up)) }));
    expect(upCopies.find((c) => c.sources[0] === '/app/out/ratify')!.dest).toBe('/app/');
    expect(upCopies.find((c) => c.sources[0] === '/app/out/plugins')).toMatchObject({ dest: '/.ratify/plugins', flags: { chown: '65532:65532' } });
    expect(upCopies.find((c) => c.sources[0] === '/app/config/config.json')!.dest).toBe('/.ratify/');

    const mineCopies = copies(final(ours));
    // Ratify's binary at /app/ratify and its whole folder (config.json, plugins/) from the official image.
    expect(mineCopies).toContainEqual({ flags: { from: 'ratify' }, sources: ['/app/ratify'], dest: '/app/ratify' });
    expect(mineCopies).toContainEqual({ flags: { from: 'ratify', chown: '65532:65532' }, sources: ['/.ratify/'], dest: '/.ratify/' });
    expect(ours.stages.find((s) => s.name === 'ratify')!.from).toBe('${RATIFY_IMAGE}');
    expect(ours.globalArgs.RATIFY_IMAGE).toBe('ghcr.io/ratify-project/ratify:v1.4.0');
  });

  it('adds the plugin in the plugin directory under the Verifier\'s spec.name, executable by that user', () => {
    const plugin = copies(final(ours)).find((c) => c.dest.startsWith('/.ratify/plugins/'))!;
    expect(plugin.dest).toBe(`${mine.ratifyConfig}plugins/${verifier.spec.name}`);
    expect(plugin.flags).toMatchObject({ chown: '65532:65532', chmod: '0755' });
  });

  it('runs on a base with a C library (the official static base has none)', () => {
    expect(final(upstream).from).toMatch(/^gcr\.io\/distroless\/static:nonroot/);
    expect(final(ours).from).toBe('gcr.io/distroless/cc-debian12:nonroot');
  });

  it('would see a drift (the check is live): the distroless nonroot default workdir is not /', () => {
    const drifted = { ...final(ours), instructions: final(ours).instructions.filter((i) => i.keyword !== 'WORKDIR') };
    expect(contract(drifted)).not.toEqual(theirs);
  });
});

/** The executable a platform's build copies: the stage chosen by TARGETARCH, then its COPY source. */
function executableFor(d: Dockerfile, targetArch: string): string | undefined {
  const chooser = d.stages.find((s) => s.from.includes('${TARGETARCH}'))!;
  const chosen = d.stages.find((s) => s.name === chooser.from.replace('${TARGETARCH}', targetArch));
  return chosen ? copies(chosen)[0]?.sources[0] : undefined;
}

describe.each([
  ['Dockerfile.with-atproto', ours],
  ['gatekeeper/Dockerfile', gatekeeperImage],
])('%s builds for linux/amd64 and linux/arm64', (file, d) => {
  it('has no lint findings', () => {
    expect(lintDockerfile(readFileSync(file, 'utf8'), {})).toEqual([]);
  });

  it('picks the executable by TARGETARCH (Docker amd64/arm64 -> Node x64/arm64), and no other platform', () => {
    expect(Object.keys(d.globalArgs)).toContain('TARGETARCH');
    expect(executableFor(d, 'amd64')).toBe('dist/atproto-verifier-linux-x64');
    expect(executableFor(d, 'arm64')).toBe('dist/atproto-verifier-linux-arm64');
    expect(executableFor(d, 's390x')).toBeUndefined();
  });

  it('documents the multi-platform build', () => {
    expect(readFileSync(file, 'utf8')).toContain('docker buildx build --platform linux/amd64,linux/arm64');
  });
});

describe('README', () => {
  it('builds both images for both architectures', () => {
    const readme = readFileSync('README.md', 'utf8') + readFileSync('docs/gatekeeper.md', 'utf8');
    for (const file of ['Dockerfile.with-atproto', 'gatekeeper/Dockerfile']) {
      expect(readme).toContain(`docker buildx build --platform linux/amd64,linux/arm64 -f ${file}`);
    }
  });
});
