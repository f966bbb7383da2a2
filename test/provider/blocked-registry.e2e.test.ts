import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/policy/duration.js';
import { startBlackhole, type Blackhole } from '../harness/blackhole.js';
import { readYamlDocuments } from '../harness/crd-schema.js';
import { startMtlsProvider, type MtlsProvider } from '../harness/mtls-provider.js';
import { call, providerRequest } from './https-client.js';

// A registry port the NetworkPolicy does not allow: connections never come up. With the
// deadlines gatekeeper/deployment.yaml ships (PDS_TIMEOUT inside REQUEST_BUDGET), the provider
// answers in time with a refusal that names the host and port to open, not a bare
// DEADLINE_EXCEEDED. The port is a real loopback listener whose accept queue is full.

const deployment = readYamlDocuments('gatekeeper/deployment.yaml').find((d) => d.kind === 'Deployment')!;
const shipped: Record<string, string> = Object.fromEntries(deployment.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]));

let blackhole: Blackhole;
let mtls: MtlsProvider;
let dir: string;

beforeAll(async () => {
  blackhole = await startBlackhole();
  dir = mkdtempSync(join(tmpdir(), 'blocked-registry-'));
  // A scope must cover the image, or it is refused (NO_POLICY) before any connection is tried.
  const did = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
  writeFileSync(
    join(dir, 'trust-policy.yaml'),
    `version: "1.0"\ntrustedDIDs:\n  ${did}: {}\npolicies:\n  - name: blocked\n    scope: "127.0.0.1:*/**"\n    trustedDIDs: [${did}]\n`,
  );
  mtls = await startMtlsProvider({
    env: {
      TRUST_POLICY_PATH: join(dir, 'trust-policy.yaml'),
      HEALTH_PORT: 'off',
      REGISTRY_PLAIN_HTTP: 'true',
      // The blackhole is on loopback, which the address guard refuses otherwise.
      ALLOW_PRIVATE_NETWORK: 'true',
      REQUEST_BUDGET: shipped.REQUEST_BUDGET!,
      PDS_TIMEOUT: shipped.PDS_TIMEOUT!,
      DID_RESOLVER_TIMEOUT: shipped.DID_RESOLVER_TIMEOUT!,
    },
    version: 't',
  });
}, 30_000);

afterAll(async () => {
  await mtls?.close();
  blackhole?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('an image on a registry port egress does not allow', () => {
  it.each(['/provide', '/mutate'])('is refused on %s within the budget as REGISTRY_UNREACHABLE "connection timed out to host:port"', async (path) => {
    const key = `127.0.0.1:${blackhole.port}/team/app:1.0`;
    const r = await call(`${mtls.server.url}${path}`, { ...mtls.asGatekeeper, body: providerRequest([key]) });
    expect(r.status).toBe(200);
    expect(r.ms).toBeLessThan(parseDuration(shipped.REQUEST_BUDGET!, 'REQUEST_BUDGET'));
    const [item] = r.json.response.items;
    expect(item.key).toBe(key);
    expect(item.error).toMatch(new RegExp(`^\\[REGISTRY_UNREACHABLE\\] registry: .*connection timed out to 127\\.0\\.0\\.1:${blackhole.port} `));
    expect(item.error).not.toMatch(/DEADLINE_EXCEEDED/);
  });
});
