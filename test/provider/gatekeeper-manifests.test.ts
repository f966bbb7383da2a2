import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseDuration } from '../../src/policy/duration.js';
import { parseTrustPolicy } from '../../src/policy/trust-policy.js';
import { ENVIRONMENT_VARIABLES, providerConfig } from '../../src/provider/config.js';
import { createLogger } from '../../src/provider/log.js';
import { startProviderServer } from '../../src/provider/server.js';
import { readTlsMaterial } from '../../src/provider/tls-files.js';
import { checkAgainstCrd, crdSchema, readYamlDocuments } from '../harness/crd-schema.js';
import { call } from './https-client.js';

// The operator-facing files in gatekeeper/, checked against the CRD schemas Gatekeeper v3.23.0
// ships (test/fixtures/crds/gatekeeper, copied from upstream), against what the provider reads,
// and against each other. OPA is not installed: the Rego is checked by reading it.

const CRDS = 'test/fixtures/crds/gatekeeper';
const providers = readYamlDocuments('gatekeeper/provider-crd.yaml');
const provider = providers[0]!;
const gatekeeperValues = parse(readFileSync('gatekeeper/gatekeeper-values.yaml', 'utf8'));
const upstreamGatekeeperValues = parse(readFileSync(`test/fixtures/crds/gatekeeper/chart-values.yaml`, 'utf8'));
const template = readYamlDocuments('gatekeeper/constraint-template.yaml')[0]!;
const constraint = readYamlDocuments('gatekeeper/constraint.yaml')[0]!;
const manifests = readYamlDocuments('gatekeeper/deployment.yaml');
const of = (kind: string) => manifests.find((d) => d.kind === kind)!;
const deployment = of('Deployment');
const service = of('Service');
const container = deployment.spec.template.spec.containers[0];
const env: Record<string, string> = Object.fromEntries(container.env.map((e: { name: string; value: string }) => [e.name, e.value]));
const rego: string = template.spec.targets[0].rego;
const dockerfile = readFileSync('gatekeeper/Dockerfile', 'utf8');

/** The volume mounted at the directory of `file`, and the file's name inside it. */
function volumeFor(file: string): { volume: any; name: string } {
  const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === dirname(file));
  expect(mount, `nothing mounted at ${dirname(file)}`).toBeDefined();
  return { volume: deployment.spec.template.spec.volumes.find((v: { name: string }) => v.name === mount.name), name: basename(file) };
}

describe('provider-crd.yaml', () => {
  it('is a Provider valid under both served versions of Gatekeeper\'s CRD, with nothing pruned', () => {
    expect(provider).toMatchObject({ apiVersion: 'externaldata.gatekeeper.sh/v1beta1', kind: 'Provider' });
    for (const version of ['v1beta1', 'v1alpha1']) {
      expect(checkAgainstCrd(provider, crdSchema(`${CRDS}/provider-customresourcedefinition.yaml`, version)), version).toEqual({ errors: [], pruned: [] });
    }
  });

  it('would see a wrong type (the check is live)', () => {
    const bad = { ...provider, spec: { ...provider.spec, timeout: '3s', retries: 2 } };
    const check = checkAgainstCrd(bad, crdSchema(`${CRDS}/provider-customresourcedefinition.yaml`, 'v1beta1'));
    expect(check.errors.join()).toMatch(/timeout must be integer/);
    expect(check.pruned).toEqual(['/spec/retries']);
  });

  it('points at the Service over HTTPS, on /provide, with a timeout above the provider\'s budget', () => {
    const url = new URL(provider.spec.url);
    expect(url.protocol).toBe('https:');
    expect(url.hostname).toBe(`${service.metadata.name}.${service.metadata.namespace}`);
    expect(Number(url.port)).toBe(service.spec.ports.find((p: { name: string }) => p.name === 'https').port);
    expect(url.pathname).toBe('/provide');
    const { config } = providerConfig(env);
    expect(provider.spec.timeout * 1000).toBeGreaterThan(config.budgetMs);
    expect(provider.spec.caBundle).toBe('REPLACE_WITH_BASE64_CA_BUNDLE');
  });
});

describe('make-certs.sh', () => {
  const out = mkdtempSync(join(tmpdir(), 'make-certs-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  const stdout = execFileSync('sh', ['gatekeeper/make-certs.sh', 'gatekeeper-system', out], { encoding: 'utf8' });
  const read = (f: string) => readFileSync(join(out, f), 'utf8');
  const filled = readYamlDocuments(join(out, 'provider.yaml'))[0]!;

  it('fills the caBundle with base64 of the CA PEM, prints it, and the result is still a valid Provider', () => {
    expect(Buffer.from(filled.spec.caBundle, 'base64').toString('utf8')).toBe(read('ca.crt'));
    expect(stdout).toContain(filled.spec.caBundle);
    expect(checkAgainstCrd(filled, crdSchema(`${CRDS}/provider-customresourcedefinition.yaml`, 'v1beta1'))).toEqual({ errors: [], pruned: [] });
    expect(filled.spec.url).toBe(provider.spec.url);
  });

  it('renews only the server certificate when run again: the CA, hence the caBundle, stays', () => {
    const before = { ca: read('ca.crt'), tls: read('tls.crt'), bundle: filled.spec.caBundle };
    const again = execFileSync('sh', ['gatekeeper/make-certs.sh', 'gatekeeper-system', out], { encoding: 'utf8' });
    expect(again).toContain('Keeping the CA');
    expect(read('ca.crt')).toBe(before.ca);
    expect(read('tls.crt')).not.toBe(before.tls);
    expect(readYamlDocuments(join(out, 'provider.yaml')).map((p) => p.spec.caBundle)).toEqual([before.bundle, before.bundle]);
    execFileSync('openssl', ['verify', '-CAfile', join(out, 'ca.crt'), join(out, 'tls.crt')]);
  });

  it('prints the Secret the Deployment mounts', () => {
    const secret = volumeFor(env.TLS_CERT_FILE!).volume.secret.secretName;
    expect(stdout).toContain(`create secret tls ${secret} `);
    // `kubectl create secret tls` stores tls.crt and tls.key: the names the Deployment reads.
    expect([basename(env.TLS_CERT_FILE!), basename(env.TLS_KEY_FILE!)]).toEqual(['tls.crt', 'tls.key']);
  });

  it('makes files the provider accepts, and it refuses a key that is not the certificate\'s', () => {
    expect(readTlsMaterial({ certFile: join(out, 'tls.crt'), keyFile: join(out, 'tls.key'), clientCaFile: join(out, 'ca.crt') }).options).toMatchObject({
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: true,
    });
    expect(() => readTlsMaterial({ certFile: join(out, 'tls.crt'), keyFile: join(out, 'ca.key') })).toThrow(/TLS files .* are not usable/);
    expect(() => readTlsMaterial({ certFile: join(out, 'tls.crt'), keyFile: join(out, 'missing.key') })).toThrow(/TLS key .*missing\.key cannot be read/);
  });

  it('issues a server certificate that Gatekeeper\'s check of the Service name accepts, served by the provider', async () => {
    const text = execFileSync('openssl', ['x509', '-in', join(out, 'tls.crt'), '-noout', '-ext', 'subjectAltName,extendedKeyUsage'], { encoding: 'utf8' });
    expect(text).toContain('DNS:atproto-verifier-provider.gatekeeper-system,');
    expect(text).toContain('TLS Web Server Authentication');

    const policyPath = join(out, 'trust-policy.yaml');
    writeFileSync(policyPath, 'version: "1.0"\ntrustedDIDs: {}\npolicies: []\n');
    const { config } = providerConfig({ TLS_CERT_FILE: join(out, 'tls.crt'), TLS_KEY_FILE: join(out, 'tls.key'), TRUST_POLICY_PATH: policyPath, HTTP_PORT: '0', HEALTH_PORT: 'off' });
    const server = await startProviderServer({ config: { ...config, host: '127.0.0.1' }, version: 't', log: createLogger('error', () => {}) });
    try {
      const host = new URL(provider.spec.url).hostname;
      const ok = await call(`${server.url}/health`, { ca: read('ca.crt'), servername: host });
      expect(ok.status).toBe(200);
      await expect(call(`${server.url}/health`, { ca: read('ca.crt'), servername: 'someone-else.gatekeeper-system' })).rejects.toThrow(/altnames|does not match/i);
    } finally {
      await server.shutdown();
    }
  });
});

describe('constraint-template.yaml and constraint.yaml', () => {
  it('is a ConstraintTemplate valid under Gatekeeper\'s CRD, named as Gatekeeper requires', () => {
    const check = checkAgainstCrd(template, crdSchema(`${CRDS}/constrainttemplate-customresourcedefinition.yaml`, 'v1'));
    expect(check).toEqual({ errors: [], pruned: [] });
    expect(template.metadata.name).toBe(template.spec.crd.spec.names.kind.toLowerCase());
    expect(rego).toMatch(new RegExp(`^package ${template.metadata.name}$`, 'm'));
  });

  it('has a constraint of its kind whose parameters fit the template\'s schema', () => {
    expect(constraint.apiVersion).toBe('constraints.gatekeeper.sh/v1beta1');
    expect(constraint.kind).toBe(template.spec.crd.spec.names.kind);
    expect(checkAgainstCrd(constraint.spec.parameters, template.spec.crd.spec.validation.openAPIV3Schema)).toEqual({ errors: [], pruned: [] });
    expect(constraint.spec.enforcementAction).toBe('deny');
  });

  it('matches Pods and every workload kind that makes them, in their API groups', () => {
    const kinds = Object.fromEntries(constraint.spec.match.kinds.flatMap((k: { apiGroups: string[]; kinds: string[] }) => k.kinds.map((kind) => [kind, k.apiGroups])));
    expect(kinds).toEqual({ Pod: [''], Deployment: ['apps'], StatefulSet: ['apps'], DaemonSet: ['apps'], Job: ['batch'], CronJob: ['batch'] });
    for (const kind of Object.keys(kinds)) expect(rego).toContain(`"${kind}"`);
  });

  it('exempts the provider\'s own namespace (its Pods cannot wait for themselves) through the parameter', () => {
    expect(constraint.spec.parameters.exemptNamespaces).toContain(deployment.metadata.namespace);
    expect(rego).toMatch(/namespace in input\.parameters\.exemptNamespaces/);
    expect(rego).toMatch(/input\.review\.namespace/);
  });

  it('sends every container image of the Pod spec, wherever each kind keeps it, to the Provider in one call', () => {
    expect(rego).toContain(`provider := "${provider.metadata.name}"`);
    expect(rego).toContain('external_data({"provider": provider, "keys": [img | images[img]]})');
    for (const list of ['containers', 'initContainers', 'ephemeralContainers']) expect(rego).toContain(`img := pod_spec.${list}[_].image`);
    expect(rego).toContain('pod_spec := input.review.object.spec {');
    expect(rego).toContain('pod_spec := input.review.object.spec.template.spec {');
    expect(rego).toContain('pod_spec := input.review.object.spec.jobTemplate.spec.template.spec {');
  });

  it('fails closed: a system error, an item error, or no passing answer is a violation', () => {
    // frameworks' RegoResponse: responses [[key, value]], errors [[key, error]], system_error.
    expect(rego).toMatch(/response\.system_error != ""/);
    expect(rego).toMatch(/err := response\.errors\[_\]/);
    expect(rego).toMatch(/not verified\(img\)/);
    expect(rego).toMatch(/some item in response\.responses\s+item\[0\] == img\s+item\[1\]\.isSuccess == true/);
    // Every violation is skipped only for exempt namespaces; none depends on status_code (0 on cache hits).
    expect(rego.match(/violation\[\{"msg": msg\}\] \{\n\s+not exempt/g)).toHaveLength(3);
    expect(rego).not.toMatch(/status_code\s*[!=]=/);
    expect(rego).toContain('import future.keywords.in');
    expect(rego.split('{').length).toBe(rego.split('}').length);
  });
});

describe('deployment.yaml', () => {
  it('sets only variables the provider reads, and they make a valid configuration with mTLS and no warnings', () => {
    for (const name of Object.keys(env)) expect([...ENVIRONMENT_VARIABLES, 'DOCKER_CONFIG'], name).toContain(name);
    const { config, warnings } = providerConfig(env);
    expect(warnings).toEqual([]);
    expect(config.tls.clientCaFile).toBeDefined();
    expect(config.budgetMs).toBeLessThanOrEqual(3000);
  });

  it('serves /provide on the https port and probes /ready and /health on the plain health port', () => {
    const port = (name: string) => container.ports.find((p: { name: string }) => p.name === name).containerPort;
    expect(port('https')).toBe(Number(env.HTTP_PORT));
    expect(port('health')).toBe(Number(env.HEALTH_PORT));
    expect(container.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'health' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health', port: 'health' });
    expect(service.spec.ports.find((p: { name: string }) => p.name === 'https').targetPort).toBe('https');
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
  });

  it('mounts the server certificate, Gatekeeper\'s CA and the trust policy where the variables point', () => {
    const tls = volumeFor(env.TLS_CERT_FILE!);
    expect(volumeFor(env.TLS_KEY_FILE!).volume).toBe(tls.volume);
    expect(tls.volume.secret.secretName).toBe(`${service.metadata.name}-tls`);
    const ca = volumeFor(env.CLIENT_CA_FILE!);
    expect(ca.volume.secret).toEqual({ secretName: 'gatekeeper-webhook-server-cert', items: [{ key: 'ca.crt', path: ca.name }] });
    const policy = volumeFor(env.TRUST_POLICY_PATH!);
    const configMap = of('ConfigMap');
    expect(policy.volume.configMap.name).toBe(configMap.metadata.name);
    expect(() => parseTrustPolicy(configMap.data[policy.name], 'deployment.yaml')).not.toThrow();
    const docker = volumeFor(`${env.DOCKER_CONFIG}/config.json`);
    expect(docker.volume.secret).toMatchObject({ optional: true, items: [{ key: '.dockerconfigjson', path: 'config.json' }] });
  });

  it('runs as non-root, read-only, without privileges, on the image from gatekeeper/Dockerfile', () => {
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.args).toEqual(['serve']);
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
  });

  // Issue 20 item 1: the only writable place is the /tmp emptyDir (root, 0777, no sticky bit),
  // which the cache directory check refuses. The provider keeps its cache in memory instead.
  it('keeps the DID cache in memory: no CACHE_DIR, which here could only be the refused /tmp emptyDir', () => {
    expect(env.CACHE_ENABLED).toBe('true');
    expect(env).not.toHaveProperty('CACHE_DIR');
    expect(providerConfig(env).config.settings.cacheDir).toBeUndefined();
  });

  it('lets only Gatekeeper\'s pods reach /provide, and keeps two replicas through disruptions', () => {
    const policy = of('NetworkPolicy');
    expect(policy.spec.podSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    const provide = policy.spec.ingress.find((r: { ports: { port: number }[] }) => r.ports.some((p) => p.port === Number(env.HTTP_PORT)));
    expect(provide.from).toEqual([{ podSelector: { matchLabels: { 'gatekeeper.sh/system': 'yes' } } }]);
    expect(deployment.metadata.namespace).toBe('gatekeeper-system');
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(of('PodDisruptionBudget').spec.minAvailable).toBe(1);
  });
});

describe('gatekeeper/Dockerfile', () => {
  it('has no lint findings, and runs the executable with `serve` on a base with a C library', () => {
    expect(lintDockerfile(dockerfile, {})).toEqual([]);
    expect(dockerfile).toMatch(/^FROM gcr\.io\/distroless\/cc-debian12/m);
    expect(dockerfile).toMatch(/^COPY --from=executable --chmod=0755 \/atproto-verifier \/usr\/local\/bin\/atproto-verifier$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/local\/bin\/atproto-verifier"\]$/m);
  });
});

describe('deadlines: every layer answers before the next one gives up, and a late answer is a refusal', () => {
  const { config } = providerConfig(env);
  const stepMs = Math.max(parseDuration(env.PDS_TIMEOUT!, 'PDS_TIMEOUT'), parseDuration(env.DID_RESOLVER_TIMEOUT!, 'DID_RESOLVER_TIMEOUT'));

  it('network step < REQUEST_BUDGET < Provider timeout (1 s margin) < webhook timeout, for both Providers', () => {
    expect(stepMs).toBeLessThan(config.budgetMs);
    for (const p of providers) {
      expect(config.budgetMs + 1000, p.metadata.name).toBeLessThanOrEqual(p.spec.timeout * 1000);
    }
    expect(providers[0]!.spec.timeout).toBeLessThan(gatekeeperValues.validatingWebhookTimeoutSeconds);
    expect(providers[1]!.spec.timeout).toBeLessThan(gatekeeperValues.mutatingWebhookTimeoutSeconds);
  });

  it('makes both webhooks fail closed (Gatekeeper\'s defaults are Ignore, with 3 s and 1 s)', () => {
    expect(upstreamGatekeeperValues).toMatchObject({
      validatingWebhookTimeoutSeconds: 3,
      validatingWebhookFailurePolicy: 'Ignore',
      mutatingWebhookTimeoutSeconds: 1,
      mutatingWebhookFailurePolicy: 'Ignore',
    });
    expect(gatekeeperValues).toMatchObject({ validatingWebhookFailurePolicy: 'Fail', mutatingWebhookFailurePolicy: 'Fail', enableExternalData: true });
  });

  it('sets only values Gatekeeper\'s v3.23.0 chart has (Helm ignores a misspelt key)', () => {
    const paths = (o: any, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? paths(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
    const known = new Set(paths(upstreamGatekeeperValues));
    for (const p of paths(gatekeeperValues)) expect(known, p).toContain(p);
  });

  it('exempts the system\'s namespace from the webhooks (the cost of Fail), as the constraint does', () => {
    expect(gatekeeperValues.controllerManager.exemptNamespaces).toContain('kube-system');
    expect(constraint.spec.parameters.exemptNamespaces).toContain('kube-system');
  });
});

describe('NetworkPolicy egress', () => {
  const policy = of('NetworkPolicy');
  const ports = (rule: { ports: { port: number; protocol: string }[] }) => rule.ports.map((p) => `${p.protocol}/${p.port}`);

  it('allows DNS, HTTPS, and a separate rule listing the registries\' ports, which the docs patch by index', () => {
    expect(policy.spec.egress.map(ports)).toEqual([['UDP/53', 'TCP/53'], ['TCP/443'], ['TCP/5000']]);
    const text = readFileSync('gatekeeper/deployment.yaml', 'utf8');
    expect(text).toContain('"path": "/spec/egress/2/ports/-"');
    expect(readFileSync('docs/gatekeeper.md', 'utf8')).toContain('/spec/egress/2/ports/-');
    expect(text).toContain('connection timed out to host:port');
  });
});

describe('cert-manager.yaml', () => {
  const docs = readYamlDocuments('gatekeeper/cert-manager.yaml');
  const certificate = docs.find((d) => d.kind === 'Certificate' && !d.spec.isCA)!;

  it('issues the server certificate into the Secret the Deployment mounts, for the Provider URL\'s host, renewed before it expires', () => {
    const tls = volumeFor(env.TLS_CERT_FILE!).volume.secret.secretName;
    expect(certificate.spec.secretName).toBe(tls);
    expect(certificate.spec.dnsNames[0]).toBe(new URL(provider.spec.url).hostname);
    expect(certificate.spec.usages).toContain('server auth');
    const hours = (d: string) => Number(/^(\d+)h$/.exec(d)![1]);
    expect(hours(certificate.spec.renewBefore)).toBeLessThan(hours(certificate.spec.duration));
    expect(certificate.metadata.namespace).toBe(deployment.metadata.namespace);
  });

  it('chains to a CA Issuer whose Secret the docs read the caBundle from', () => {
    const issuer = docs.find((d) => d.kind === 'Issuer' && d.metadata.name === certificate.spec.issuerRef.name)!;
    const ca = docs.find((d) => d.kind === 'Certificate' && d.spec.isCA)!;
    expect(issuer.spec.ca.secretName).toBe(ca.spec.secretName);
    expect(readFileSync('gatekeeper/cert-manager.yaml', 'utf8')).toContain(`get secret ${ca.spec.secretName} -o jsonpath='{.data.ca\\.crt}'`);
  });
});

describe('mutation.yaml (Assign mutators pinning images to the verified digest)', () => {
  const assigns = readYamlDocuments('gatekeeper/mutation.yaml');
  const mutateProvider = providers.find((p) => p.metadata.name === 'atproto-verifier-mutate')!;
  const ASSIGN_CRD = `${CRDS}/assign-customresourcedefinition.yaml`;
  const podSpecPath: Record<string, string> = {
    Pod: 'spec',
    Deployment: 'spec.template.spec',
    StatefulSet: 'spec.template.spec',
    DaemonSet: 'spec.template.spec',
    Job: 'spec.template.spec',
    CronJob: 'spec.jobTemplate.spec.template.spec',
  };

  it('are Assigns valid under Gatekeeper\'s mutation CRD (v3.23.0, every served version), with nothing pruned', () => {
    expect(assigns.length).toBe(9);
    for (const a of assigns) {
      expect(a).toMatchObject({ apiVersion: 'mutations.gatekeeper.sh/v1', kind: 'Assign' });
      for (const version of ['v1', 'v1beta1']) {
        expect(checkAgainstCrd(a, crdSchema(ASSIGN_CRD, version)), `${a.metadata.name} ${version}`).toEqual({ errors: [], pruned: [] });
      }
      expect(a.metadata.name.length).toBeLessThanOrEqual(63);
    }
  });

  it('would see a wrong failure policy or an unknown field (the check is live)', () => {
    const bad = structuredClone(assigns[0]!);
    bad.spec.parameters.assign.externalData.failurePolicy = 'Deny';
    bad.spec.parameters.assign.externalData.timeout = 3;
    const check = checkAgainstCrd(bad, crdSchema(ASSIGN_CRD, 'v1'));
    expect(check.errors.join()).toMatch(/failurePolicy must be equal to one of the allowed values/);
    expect(check.pruned).toEqual(['/spec/parameters/assign/externalData/timeout']);
  });

  it('ask the /mutate Provider for the value at the image location, and fail closed explicitly', () => {
    for (const a of assigns) {
      expect(a.spec.parameters.assign).toEqual({ externalData: { provider: mutateProvider.metadata.name, dataSource: 'ValueAtLocation', failurePolicy: 'Fail' } });
    }
    const url = new URL(mutateProvider.spec.url);
    expect(url.pathname).toBe('/mutate');
    expect(url.origin).toBe(new URL(provider.spec.url).origin);
    expect(mutateProvider.spec.caBundle).toBe(provider.spec.caBundle);
    expect(readFileSync('gatekeeper/mutation.yaml', 'utf8')).toMatch(/failurePolicy: Fail, on purpose/);
  });

  it('cover containers, initContainers and ephemeralContainers of every kind the constraint matches, where that kind keeps its Pod spec', () => {
    const wanted = constraint.spec.match.kinds.flatMap((k: { apiGroups: string[]; kinds: string[] }) =>
      k.kinds.flatMap((kind) => ['containers', 'initContainers', 'ephemeralContainers'].map((list) => `${k.apiGroups[0]}/${kind} ${podSpecPath[kind]}.${list}[name:*].image`)),
    );
    const have = assigns.flatMap((a) =>
      a.spec.applyTo.flatMap((t: { groups: string[]; kinds: string[]; versions: string[] }) => {
        expect(t.versions).toEqual(['v1']);
        return t.kinds.map((kind) => `${t.groups[0]}/${kind} ${a.spec.location}`);
      }),
    );
    expect(have.sort()).toEqual(wanted.sort());
    for (const a of assigns) {
      // match.kinds names the same kinds as applyTo: nothing else is touched.
      const m = a.spec.match.kinds.flatMap((k: { apiGroups: string[]; kinds: string[] }) => k.kinds.map((kind) => `${k.apiGroups[0]}/${kind}`));
      const t = a.spec.applyTo.flatMap((k: { groups: string[]; kinds: string[] }) => k.kinds.map((kind) => `${k.groups[0]}/${kind}`));
      expect(m.sort()).toEqual(t.sort());
      expect(a.spec.match.scope).toBe('Namespaced');
    }
  });

  it('skip the same namespaces as the constraint, so an exempt Pod is neither checked nor refused by mutation', () => {
    for (const a of assigns) expect(a.spec.match.excludedNamespaces).toEqual(constraint.spec.parameters.exemptNamespaces);
  });

  it('the constraint admits what they write: a digest key goes to the same Provider as any image', () => {
    // The template sends every image string as it is; a pinned one is verified at its digest
    // and answered from the result cache (test/provider/mutate.e2e.test.ts).
    expect(rego).toContain('external_data({"provider": provider, "keys": [img | images[img]]})');
  });
});
