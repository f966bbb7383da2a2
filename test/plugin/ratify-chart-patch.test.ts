import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { settingsFromParameters } from '../../src/verify/settings.js';
import { readYamlDocuments } from '../harness/crd-schema.js';
import { strategicMerge } from '../harness/strategic-merge.js';

// ratify-patch.yaml adds the plugin's trust policy volume to the Deployment Ratify's Helm chart (v1.4.0)
// makes, and must leave everything of the chart's as it is: its args (--ca-cert-file makes
// Ratify require Gatekeeper's client certificate), volumes and mounts. The Deployment is the
// chart's template rendered with its default values (test/fixtures/ratify-chart). The patch is
// applied with kubectl's own strategic merge when kubectl is installed, and always with the
// equivalent merge in test/harness/strategic-merge.ts.

const CHART = 'test/fixtures/ratify-chart';
const chartDeployment = readYamlDocuments(`${CHART}/deployment.rendered.yaml`)[0]!;
const patch = readYamlDocuments('ratify-patch.yaml')[0]!;
const verifier = readYamlDocuments('verifier-crd.yaml')[0]!;
const trustPolicyConfigMap = readYamlDocuments('deployment.yaml').find((d) => d.kind === 'ConfigMap')!;
const ratifyValues = parse(readFileSync('ratify-values.yaml', 'utf8'));
const chartValues = parse(readFileSync(`${CHART}/values.yaml`, 'utf8'));
const gatekeeperValues = parse(readFileSync('gatekeeper/gatekeeper-values.yaml', 'utf8'));

const kubectlVersion = spawnSync('kubectl', ['version', '--client'], { timeout: 20_000, encoding: 'utf8' });
const hasKubectl = kubectlVersion.status === 0;
// The post-renderer's `patches:` needs kustomize v3.1+ (kubectl 1.21+); Debian bookworm's
// kubernetes-client 1.20 embeds v2.0.3, where only `kubectl patch --local` can be checked.
const kustomizeMajor = Number(/Kustomize Version: v(\d+)/.exec(kubectlVersion.stdout ?? '')?.[1] ?? 0);
const podSpec = (d: any) => d.spec.template.spec;
const ratifyContainer = (d: any) => podSpec(d).containers.find((c: { name: string }) => c.name === 'ratify');
const byKey = (list: any[], key: string) => Object.fromEntries(list.map((x) => [x[key], x]));

function kubectlPatch(): any {
  const out = execFileSync('kubectl', ['patch', '--local', '-f', `${CHART}/deployment.rendered.yaml`, '--type', 'strategic', '--patch-file', 'ratify-patch.yaml', '-o', 'json'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return JSON.parse(out);
}

const merged: any = strategicMerge(chartDeployment, patch);

/**
 * Issue 20 item 1: the plugin refuses a cache directory with a level writable by others without
 * the sticky bit, and an emptyDir is exactly that (root, 0777; fsGroup adds only group bits and
 * setgid). So cacheDir must be on no volume: the plugin creates it (0700, as uid 65532) under the
 * image's /tmp (root, 1777 in every distroless base), which needs a writable root filesystem.
 */
function cacheDirProblems(deployment: any, cacheDir: string): string[] {
  const problems: string[] = [];
  const container = ratifyContainer(deployment);
  if (posix.dirname(cacheDir) !== '/tmp') problems.push(`${cacheDir} is not under /tmp`);
  for (const m of container.volumeMounts ?? []) {
    const at = m.mountPath.replace(/\/$/, '');
    if (cacheDir === at || cacheDir.startsWith(`${at}/`) || at === '/tmp') problems.push(`${cacheDir} is under the mount ${m.mountPath}`);
  }
  if (container.securityContext?.readOnlyRootFilesystem !== false) problems.push('the root filesystem is read-only (or not said to be writable)');
  if (container.securityContext?.runAsUser !== 65532) problems.push('the container does not run as 65532');
  return problems;
}

describe('the rendered chart Deployment (fixture) follows the v1.4.0 template', () => {
  const template = readFileSync(`${CHART}/deployment.template.yaml`, 'utf8');

  it('has every literal arg, mount path and volume name the template writes', () => {
    const args: string[] = ratifyContainer(chartDeployment).args;
    for (const line of template.split('\n')) {
      const m = /^\s+- ("?)(--?[\w-]+(?:=[^{"]*)?|serve|:6001|\/usr\/local\/ratify\/config\.json)\1$/.exec(line);
      if (m && !line.includes('{{')) expect(args, line).toContain(m[2]);
    }
    expect(args).toContain('--ca-cert-file=usr/local/tls/client-ca/ca.crt');
    expect(ratifyContainer(chartDeployment).command).toEqual(['/app/ratify']);
    for (const name of ['config', 'tls', 'client-ca-cert']) expect(template).toContain(`name: ${name}`);
    expect(podSpec(chartDeployment).volumes.map((v: { name: string }) => v.name)).toEqual(['config', 'tls', 'client-ca-cert']);
  });
});

describe('ratify-patch.yaml', () => {
  it('holds only the trust policy volume and its mount: no args, image, command, env, securityContext or anything else', () => {
    expect(Object.keys(patch).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    expect(patch.metadata).toEqual({ name: chartDeployment.metadata.name });
    expect(Object.keys(patch.spec)).toEqual(['template']);
    expect(Object.keys(patch.spec.template)).toEqual(['spec']);
    expect(Object.keys(podSpec(patch)).sort()).toEqual(['containers', 'volumes']);
    expect(podSpec(patch).containers).toHaveLength(1);
    expect(Object.keys(podSpec(patch).containers[0]).sort()).toEqual(['name', 'volumeMounts']);
    expect(podSpec(patch).containers[0].name).toBe(ratifyContainer(chartDeployment).name);
    expect(podSpec(patch).volumes.map((v: { name: string }) => v.name)).toEqual(['atproto-trust-policy']);
  });

  it('collides with none of the chart\'s volume names or mount paths (the merge keys), so it cannot replace one', () => {
    const chartMounts = ratifyContainer(chartDeployment).volumeMounts.map((m: { mountPath: string }) => m.mountPath);
    const chartVolumes = podSpec(chartDeployment).volumes.map((v: { name: string }) => v.name);
    for (const m of podSpec(patch).containers[0].volumeMounts) {
      expect(chartMounts).not.toContain(m.mountPath);
      for (const c of chartMounts) expect(m.mountPath.startsWith(`${c}/`), `${m.mountPath} under ${c}`).toBe(false);
    }
    for (const v of podSpec(patch).volumes) expect(chartVolumes).not.toContain(v.name);
  });

  it('keeps the chart\'s args, command, image, env, ports, volumes and mounts unchanged once applied', () => {
    const before = ratifyContainer(chartDeployment);
    const after = ratifyContainer(merged);
    for (const field of ['args', 'command', 'image', 'env', 'ports', 'securityContext', 'resources', 'livenessProbe', 'readinessProbe']) {
      expect(after[field], field).toEqual(before[field]);
    }
    const mounts = byKey(after.volumeMounts, 'mountPath');
    for (const m of before.volumeMounts) expect(mounts[m.mountPath]).toEqual(m);
    const volumes = byKey(podSpec(merged).volumes, 'name');
    for (const v of podSpec(chartDeployment).volumes) expect(volumes[v.name]).toEqual(v);
    expect(after.volumeMounts).toHaveLength(before.volumeMounts.length + 1);
    expect(podSpec(merged).volumes).toHaveLength(podSpec(chartDeployment).volumes.length + 1);
    // Nothing outside the container's mounts and the Pod's volumes moved.
    const strip = (d: any) => ({ ...d, spec: { ...d.spec, template: { ...d.spec.template, spec: { ...podSpec(d), volumes: [], containers: podSpec(d).containers.map((c: any) => ({ ...c, volumeMounts: [] })) } } } });
    expect(strip(merged)).toEqual(strip(chartDeployment));
  });

  it('mounts the trust policy ConfigMap where trustPolicyPath points', () => {
    const { settings } = settingsFromParameters(verifier.spec.parameters);
    const mounts = ratifyContainer(merged).volumeMounts;
    const volumes = byKey(podSpec(merged).volumes, 'name');
    const policyMount = mounts.find((m: { mountPath: string }) => m.mountPath === posix.dirname(settings.trustPolicyPath!));
    expect(policyMount.readOnly).toBe(true);
    expect(volumes[policyMount.name].configMap.name).toBe(trustPolicyConfigMap.metadata.name);
    expect(trustPolicyConfigMap.data[posix.basename(settings.trustPolicyPath!)]).toBeTypeOf('string');
  });

  it('puts cacheDir on the image\'s /tmp, under no volume, in a container whose root filesystem the chart keeps writable', () => {
    const { settings } = settingsFromParameters(verifier.spec.parameters);
    expect(settings.cacheEnabled).toBe(true);
    expect(cacheDirProblems(merged, settings.cacheDir!)).toEqual([]);
    // A literal in the template, not a value an install could have flipped.
    const template = readFileSync(`${CHART}/deployment.template.yaml`, 'utf8');
    const containerBlock = template.slice(template.indexOf('- name: {{ .Chart.Name }}'), template.indexOf('command:'));
    expect(containerBlock).toMatch(/^\s+readOnlyRootFilesystem: false$/m);
    // The image keeps the distroless /tmp (root, 1777): no step of ours replaces or re-modes it.
    const dockerfile = readFileSync('Dockerfile.with-atproto', 'utf8');
    expect(dockerfile).toMatch(/^FROM gcr\.io\/distroless\//m);
    for (const line of dockerfile.split('\n').filter((l) => /^(COPY|ADD|RUN|VOLUME|WORKDIR)\b/.test(l))) expect(line).not.toMatch(/\/tmp\b/);
  });

  it('would be caught putting the cache on an emptyDir again, or on a read-only root filesystem (the check is live)', () => {
    const bad = structuredClone(patch);
    podSpec(bad).containers[0].volumeMounts.push({ name: 'atproto-cache', mountPath: '/tmp/atproto-verifier-cache' });
    podSpec(bad).volumes.push({ name: 'atproto-cache', emptyDir: { sizeLimit: '64Mi' } });
    expect(cacheDirProblems(strategicMerge(chartDeployment, bad), '/tmp/atproto-verifier-cache').join('\n')).toMatch(/under the mount \/tmp\/atproto-verifier-cache/);
    const hardened: any = structuredClone(merged);
    ratifyContainer(hardened).securityContext.readOnlyRootFilesystem = true;
    expect(cacheDirProblems(hardened, '/tmp/atproto-verifier-cache').join('\n')).toMatch(/read-only/);
    expect(cacheDirProblems(merged, '/var/cache/atproto').join('\n')).toMatch(/not under \/tmp/);
  });

  it('would be caught replacing a chart mount (the check is live)', () => {
    const bad = structuredClone(patch);
    podSpec(bad).containers[0].volumeMounts.push({ name: 'atproto-trust-policy', mountPath: '/usr/local/tls' });
    const broken: any = strategicMerge(chartDeployment, bad);
    expect(byKey(ratifyContainer(broken).volumeMounts, 'mountPath')['/usr/local/tls'].name).toBe('atproto-trust-policy');
  });

  it.runIf(hasKubectl)('gives the same Deployment with kubectl patch --type strategic (kubectl installed)', () => {
    const real = kubectlPatch();
    const sortBy = (list: any[], key: string) => [...list].sort((a, b) => String(a[key]).localeCompare(String(b[key])));
    const normal = (d: any) => ({
      volumes: sortBy(podSpec(d).volumes, 'name'),
      mounts: sortBy(ratifyContainer(d).volumeMounts, 'mountPath'),
      args: ratifyContainer(d).args,
      container: { ...ratifyContainer(d), volumeMounts: undefined },
    });
    expect(normal(real)).toEqual(normal(merged));
  });

  it.runIf(hasKubectl && kustomizeMajor >= 4)('is what ratify-post-renderer.sh (kustomize on Helm\'s output) applies', () => {
    const out = execFileSync('sh', ['ratify-post-renderer.sh'], { input: readFileSync(`${CHART}/deployment.rendered.yaml`), encoding: 'utf8', timeout: 30_000 });
    const rendered = parse(out);
    expect(ratifyContainer(rendered).args).toEqual(ratifyContainer(chartDeployment).args);
    expect(podSpec(rendered).volumes.map((v: { name: string }) => v.name).sort()).toEqual(['atproto-trust-policy', 'client-ca-cert', 'config', 'tls']);
  });
});

describe('ratify-values.yaml', () => {
  /** Every key path of ours must exist in the chart's values.yaml: Helm ignores a misspelt key silently. */
  function paths(o: any, prefix = ''): string[] {
    return Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? paths(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
  }

  it('sets only values the v1.4.0 chart has', () => {
    const known = new Set(paths(chartValues));
    for (const p of paths(ratifyValues)) expect(known, p).toContain(p);
  });

  it('sets the image through image.repository and image.tag, the Ratify version the image is built from', () => {
    expect(ratifyValues.image.tag).toBe(chartValues.image.tag);
    expect(ratifyValues.image.repository).toMatch(/ratify-atproto$/);
  });

  it('gives the plugin a deadline inside Ratify\'s executor timeout, inside the Provider timeout, inside the webhook timeout', () => {
    // configmap.yaml: "verificationRequestTimeout": validationTimeoutSeconds * 1000 - 100.
    const configmap = readFileSync(`${CHART}/configmap.template.yaml`, 'utf8');
    expect(configmap).toContain('"verificationRequestTimeout": {{ .Values.provider.timeout.validationTimeoutSeconds | int | mul 1000 | add -100 }}');
    const executorMs = ratifyValues.provider.timeout.validationTimeoutSeconds * 1000 - 100;
    const { settings } = settingsFromParameters(verifier.spec.parameters);
    // The plugin starts after Ratify listed the referrers, and Node needs ~0.1-0.2 s to start.
    expect(settings.timeoutMs! + 500).toBeLessThanOrEqual(executorMs);
    expect(Math.max(settings.didResolverTimeoutMs, settings.pdsTimeoutMs)).toBeLessThan(settings.timeoutMs!);
    // Ratify's Provider timeout is validationTimeoutSeconds: Gatekeeper must outwait it.
    expect(ratifyValues.provider.timeout.validationTimeoutSeconds).toBeLessThan(gatekeeperValues.validatingWebhookTimeoutSeconds);
    expect(ratifyValues.provider.timeout.mutationTimeoutSeconds).toBeLessThan(gatekeeperValues.mutatingWebhookTimeoutSeconds);
    expect(gatekeeperValues.validatingWebhookFailurePolicy).toBe('Fail');
  });

  it('raises the memory limit above the chart\'s 512Mi for the plugin processes Ratify runs at once', () => {
    expect(chartValues.resources.limits.memory).toBe('512Mi');
    expect(Number.parseInt(ratifyValues.resources.limits.memory, 10)).toBeGreaterThanOrEqual(1);
    expect(ratifyValues.resources.limits.memory).toMatch(/^\d+Gi$/);
  });
});
