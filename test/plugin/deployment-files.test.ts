import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { SIGNATURE_ARTIFACT_TYPE } from '../../src/artifact/signature-payload.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { settingsFromParameters } from '../../src/verify/settings.js';
import { checkAgainstCrd, crdSchema, readYamlDocuments } from '../harness/crd-schema.js';

// The operator-facing files, checked against the CRD schemas Ratify v1.4.0 and Gatekeeper ship
// (test/fixtures/crds, copied from upstream) and against what the plugin itself accepts.

const RATIFY_CRDS = 'test/fixtures/crds/ratify';
const verifier = readYamlDocuments('verifier-crd.yaml')[0]!;
const deployment = readYamlDocuments('deployment.yaml');
const configMap = deployment.find((d) => d.kind === 'ConfigMap')!;
const policyCr = deployment.find((d) => d.kind === 'Policy')!;
const ratify = deployment.find((d) => d.kind === 'Deployment')!;
const dockerfile = readFileSync('Dockerfile.with-atproto', 'utf8');

describe('verifier-crd.yaml', () => {
  it('is valid under both Ratify Verifier CRDs (Helm chart and controller-gen), with nothing pruned', () => {
    for (const file of ['verifier-customresourcedefinition.yaml', 'config.ratify.deislabs.io_verifiers.yaml']) {
      const check = checkAgainstCrd(verifier, crdSchema(`${RATIFY_CRDS}/${file}`, 'v1beta1'));
      expect(check, file).toEqual({ errors: [], pruned: [] });
    }
  });

  it('would see a pruned field (the check is live): the chart CRD drops spec.type', () => {
    const withType = { ...verifier, spec: { ...verifier.spec, type: 'atproto-verifier' } };
    const check = checkAgainstCrd(withType, crdSchema(`${RATIFY_CRDS}/verifier-customresourcedefinition.yaml`, 'v1beta1'));
    expect(check.pruned).toEqual(['/spec/type']);
  });

  it('names the executable by spec.name, for the signature artifact type only', () => {
    expect(verifier.spec.name).toBe('atproto-verifier');
    expect(verifier.spec.type).toBeUndefined();
    expect(verifier.spec.artifactTypes).toBe(SIGNATURE_ARTIFACT_TYPE);
  });

  it('passes only parameters the plugin knows, with valid values', () => {
    const { settings, unknown } = settingsFromParameters(verifier.spec.parameters);
    expect(unknown).toEqual([]);
    expect(settings.trustPolicyPath).toBeTruthy();
    // Ratify gives the whole call about 2.9 s: each network step must fit well inside it.
    expect(settings.didResolverTimeoutMs + settings.pdsTimeoutMs).toBeLessThanOrEqual(5_000);
  });
});

describe('deployment.yaml', () => {
  it('mounts the trust policy ConfigMap exactly where trustPolicyPath points, and the policy is valid', () => {
    const path: string = verifier.spec.parameters.trustPolicyPath;
    const container = ratify.spec.template.spec.containers[0];
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === posix.dirname(path));
    expect(mount, `no volume mounted at ${posix.dirname(path)}`).toBeDefined();
    const volume = ratify.spec.template.spec.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(volume.configMap.name).toBe(configMap.metadata.name);
    const text = configMap.data[posix.basename(path)];
    expect(text, `ConfigMap has no key ${posix.basename(path)}`).toBeTypeOf('string');
    expect(() => parseTrustPolicy(text, 'deployment.yaml')).not.toThrow();
  });

  it('gives the shared DID cache a writable volume', () => {
    const cacheDir: string = verifier.spec.parameters.cacheDir;
    const mounts = ratify.spec.template.spec.containers[0].volumeMounts;
    const mount = mounts.find((m: { mountPath: string }) => cacheDir === m.mountPath || cacheDir.startsWith(`${m.mountPath}/`));
    expect(mount).toBeDefined();
    expect(mount.readOnly).not.toBe(true);
  });

  it('runs Ratify as non-root on the image built from Dockerfile.with-atproto', () => {
    const pod = ratify.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.containers[0].securityContext.allowPrivilegeEscalation).toBe(false);
    expect(pod.containers[0].image).toMatch(/ratify-atproto/);
  });

  it('has a Ratify Policy, valid under the Policy CRD, that requires the ATProto signature', () => {
    const check = checkAgainstCrd(policyCr, crdSchema(`${RATIFY_CRDS}/policy-customresourcedefinition.yaml`, 'v1beta1'));
    expect(check).toEqual({ errors: [], pruned: [] });
    expect(policyCr.spec.parameters.artifactVerificationPolicies[SIGNATURE_ARTIFACT_TYPE]).toBe('all');
  });
});

describe('ratify-constraint.yaml', () => {
  const [template, constraint] = readYamlDocuments('ratify-constraint.yaml');

  it('is a ConstraintTemplate valid under Gatekeeper\'s CRD, and a constraint of its kind', () => {
    const check = checkAgainstCrd(template, crdSchema('test/fixtures/crds/gatekeeper/constrainttemplate-customresourcedefinition.yaml', 'v1'));
    expect(check.errors).toEqual([]);
    expect(constraint!.kind).toBe(template!.spec.crd.spec.names.kind);
    expect(constraint!.metadata.name).toBeTruthy();
  });

  it('fails closed: calls Ratify\'s provider and denies on errors, system errors and missing reports', () => {
    const rego: string = template!.spec.targets[0].rego;
    expect(rego).toContain('external_data({"provider": "ratify-provider"');
    expect(rego).toMatch(/system_error/);
    expect(rego).toContain(SIGNATURE_ARTIFACT_TYPE);
    expect(rego).toMatch(/isSuccess/);
  });
});

describe('Dockerfile.with-atproto', () => {
  it('has no lint findings', () => {
    expect(lintDockerfile(dockerfile, {})).toEqual([]);
  });

  it('puts the plugin where Ratify looks, under the Verifier\'s spec.name, on a base with a C library', () => {
    expect(dockerfile).toMatch(new RegExp(`COPY .*dist/atproto-verifier /\\.ratify/plugins/${verifier.spec.name}\\b`));
    const final = dockerfile.split(/^FROM /m).pop()!;
    expect(final).not.toMatch(/^\S*static/);
    expect(final).toMatch(/^gcr\.io\/distroless\/cc-debian12/);
    expect(dockerfile).toMatch(/^USER 65532/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/app\/ratify"/m);
  });

  it('would be caught by the linter if it were broken (the check is live)', () => {
    expect(lintDockerfile('FROM\nCOPY a\nENTRYPOINT [', {}).length).toBeGreaterThan(0);
  });
});
