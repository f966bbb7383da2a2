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
    // Ratify kills the plugin at its executor timeout (3,900 ms with ratify-values.yaml, whose
    // chain test/plugin/ratify-chart-patch.test.ts checks): each step fits inside the plugin's own.
    expect(settings.timeoutMs).toBeDefined();
    expect(Math.max(settings.didResolverTimeoutMs, settings.pdsTimeoutMs)).toBeLessThan(settings.timeoutMs!);
  });
});

describe('deployment.yaml', () => {
  it('holds the trust policy ConfigMap, valid, under the file name trustPolicyPath reads', () => {
    const path: string = verifier.spec.parameters.trustPolicyPath;
    const text = configMap.data[posix.basename(path)];
    expect(text, `ConfigMap has no key ${posix.basename(path)}`).toBeTypeOf('string');
    expect(() => parseTrustPolicy(text, 'deployment.yaml')).not.toThrow();
    expect(configMap.metadata.namespace).toBe('gatekeeper-system');
  });

  it('fights the chart over nothing: no Deployment (ratify-patch.yaml adds the trust policy volume) and no Policy (the chart owns ratify-policy)', () => {
    expect(deployment.map((d) => d.kind)).toEqual(['ConfigMap']);
  });

  it('relies on the chart\'s own Policy, which requires every signature found to pass, and is valid under the Policy CRD', () => {
    const template = readFileSync('test/fixtures/ratify-chart/policy.template.yaml', 'utf8');
    expect(template).toContain('name: "ratify-policy"');
    expect(template).toMatch(/type: "config-policy"\n\s+parameters:\n\s+artifactVerificationPolicies:\n\s+default: "all"/);
    const policy = { apiVersion: 'config.ratify.deislabs.io/v1beta1', kind: 'Policy', metadata: { name: 'ratify-policy' }, spec: { type: 'config-policy', parameters: { artifactVerificationPolicies: { default: 'all' } } } };
    expect(checkAgainstCrd(policy, crdSchema(`${RATIFY_CRDS}/policy-customresourcedefinition.yaml`, 'v1beta1'))).toEqual({ errors: [], pruned: [] });
    expect(SIGNATURE_ARTIFACT_TYPE).toBe('application/vnd.atproto.signature.v1+json');
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

  it('checks exemptions against the AdmissionRequest\'s namespace first (controller-made Pods may have none in metadata)', () => {
    const rego: string = template!.spec.targets[0].rego;
    expect(rego).toMatch(/namespace := ns \{\s+ns := input\.review\.namespace\s+\} else := ns \{\s+ns := input\.review\.object\.metadata\.namespace\s+\}/);
    expect(rego).toMatch(/exempt \{\s+namespace in input\.parameters\.exemptNamespaces\s+\}/);
    expect(rego).not.toMatch(/input\.review\.object\.metadata\.namespace in/);
  });
});

describe('Dockerfile.with-atproto', () => {
  it('has no lint findings (its runtime contract: test/plugin/ratify-image.test.ts)', () => {
    expect(lintDockerfile(dockerfile, {})).toEqual([]);
  });

  it('would be caught by the linter if it were broken (the check is live)', () => {
    expect(lintDockerfile('FROM\nCOPY a\nENTRYPOINT [', {}).length).toBeGreaterThan(0);
  });
});
