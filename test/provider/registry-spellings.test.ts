/**
 * Issue 15 item 5: registry names come from whoever creates Pods, so nothing the provider keeps
 * per registry may grow with them. 10,000 distinct registry spellings, all covered by a `**`
 * scope (so each one reaches the registry pool) and all refused by the address guard before any
 * socket, must leave the heap where it was: clients live in a bounded LRU, tokens in a bounded
 * cache, and the docker config is read once, not per spelling.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMtlsProvider, type MtlsProvider } from '../harness/mtls-provider.js';
import { call, providerRequest } from './https-client.js';

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const KEYS_PER_REQUEST = 250;
let dir: string;
let mtls: MtlsProvider;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'registry-spellings-'));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, `version: "1.0"\ntrustedDIDs:\n  ${DID}: {}\npolicies:\n  - name: all\n    scope: "**"\n    trustedDIDs: [${DID}]\n    action: enforce\n`);
  mtls = await startMtlsProvider({ env: { HEALTH_PORT: 'off', TRUST_POLICY_PATH: policy, CACHE_ENABLED: 'false' }, version: 'spellings' });
});

afterAll(async () => {
  await mtls?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The i-th distinct registry: an IPv4 or IPv6 literal in a private range, so no packet leaves. */
function spelling(i: number): string {
  const host = i % 2 === 0 ? `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` : `[fd00::${(i & 0xffff).toString(16)}]`;
  return `${host}:${5000 + (i % 1000)}/app:1`;
}

async function send(from: number, count: number): Promise<void> {
  for (let start = from; start < from + count; start += KEYS_PER_REQUEST) {
    const keys = Array.from({ length: KEYS_PER_REQUEST }, (_, k) => spelling(start + k));
    const r = await call(`${mtls.server.url}/provide`, { ...mtls.asGatekeeper, body: providerRequest(keys), timeoutMs: 30_000 });
    expect(r.status).toBe(200);
    const codes = new Set(r.json.response.items.map((i: { value: { error?: { code: string } } }) => i.value.error?.code));
    expect([...codes]).toEqual(['NETWORK_DENIED']);
  }
}

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

it('10,000 distinct registry spellings leave the heap flat', async () => {
  await send(0, 1_000); // warm-up: JIT, TLS session, pool filled to its bound
  const before = heapAfterGc();
  await send(1_000, 10_000);
  const grown = heapAfterGc() - before;
  console.log(`heap after 10,000 registry spellings: ${(grown / 1024 / 1024).toFixed(2)} MiB more than after the warm-up`);
  // One kept client per spelling (agent, maps, options) is several KiB: 10,000 of them would be tens of MiB.
  expect(grown).toBeLessThan(4 * 1024 * 1024);
}, 120_000);
