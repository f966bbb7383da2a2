import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSignaturePayload } from '../src/artifact/build-payload.js';
import { startAtprotoNetwork, type AtprotoNetwork, type Publisher } from '../src/devnet/atproto-network.js';
import { startRegistry, type RegistryServer } from '../src/devnet/registry-server.js';
import { pushSampleImage } from '../src/devnet/sample-image.js';
import { attachSignature } from '../src/publish/attach-signature.js';
import { RegistryClient } from '../src/registry/client.js';
import { OCI_MANIFEST_MEDIA_TYPE, type Descriptor } from '../src/registry/oci.js';

/**
 * The benchmark's world: a real PDS + PLC (@atproto/dev-env) and a real docker-registry on
 * loopback, a few publishers, and signed images spread over them. Each publisher has its own
 * repository prefix and its own policy rule, as an organisation's policy would.
 */
export interface SignedImage {
  repository: string;
  digest: string;
  /** `host/repository@digest`: what Ratify passes as the subject. */
  reference: string;
  referrer: Descriptor;
  did: string;
}

export interface BenchWorld {
  net: AtprotoNetwork;
  registry: RegistryServer;
  publishers: Publisher[];
  dir: string;
  policyPath: string;
  images: SignedImage[];
  /**
   * Signs `count` more distinct images (round-robin over the publishers). With `embedPayload`, the
   * referrer carries the payload in its layer descriptor's `data` field too (not what `sign` does
   * today: the variant that saves the blob round trip). `registryName`: the registry host the
   * record and the reference name (a proxy in front of the registry), instead of the registry's.
   */
  signImages(count: number, opts?: { embedPayload?: boolean; registryName?: string }): Promise<SignedImage[]>;
  close(): Promise<void>;
}

export async function startWorld(opts: { publishers: number }): Promise<BenchWorld> {
  const [net, registry] = await Promise.all([startAtprotoNetwork(), startRegistry()]);
  const publishers: Publisher[] = [];
  // Sequentially: the PDS serialises account creation anyway.
  for (let i = 0; i < opts.publishers; i++) publishers.push(await net.createPublisher(`bench${i}`));
  const dir = mkdtempSync(join(tmpdir(), 'atproto-verifier-bench-world-'));
  const policyPath = join(dir, 'trust-policy.yaml');
  writeFileSync(policyPath, trustPolicyFor(publishers));
  const client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true });
  const images: SignedImage[] = [];

  // Built by hand like `sign` does (record, then payload, then referrer), without a login per image.
  async function signOne(n: number, embedPayload: boolean, registryName: string): Promise<SignedImage> {
    const publisherIndex = n % publishers.length;
    const publisher = publishers[publisherIndex]!;
    const repository = `pub${publisherIndex}/app${n}`;
    const image = await pushSampleImage(client, registry.host, repository, 'v1', `bench image ${n}`);
    const record = await publisher.putManifestRecord({ repository: `${registryName}/${repository}`, digest: image.digest });
    const payload = buildSignaturePayload({
      subjectDigest: image.digest,
      did: publisher.did,
      handle: publisher.handle,
      pdsEndpoint: net.pdsUrl,
      recordUri: record.uri,
      recordCid: record.cid,
      commitCid: record.commitCid,
      commitRev: record.rev,
    });
    const subject = { mediaType: OCI_MANIFEST_MEDIA_TYPE, digest: image.digest, size: image.size };
    const payloadBytes = new TextEncoder().encode(JSON.stringify(payload));
    const referrer = await attachSignature(client, repository, subject, payloadBytes, { embedInDescriptor: embedPayload });
    return { repository, digest: image.digest, reference: `${registryName}/${repository}@${image.digest}`, referrer, did: publisher.did };
  }

  return {
    net,
    registry,
    publishers,
    dir,
    policyPath,
    images,
    async signImages(count, opts = {}) {
      const fresh: SignedImage[] = [];
      for (let i = 0; i < count; i++) fresh.push(await signOne(images.length + i, opts.embedPayload === true, opts.registryName ?? registry.host));
      images.push(...fresh);
      return fresh;
    },
    async close() {
      client.close();
      await Promise.all([net.close(), registry.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}


/**
 * One rule per publisher, scoped to its repositories on any loopback registry port (the registry
 * itself, or a latency proxy in front of it), plus nothing else (default deny).
 */
function trustPolicyFor(publishers: Publisher[]): string {
  const lines = ['version: "1.0"', 'trustedDIDs:'];
  for (const [i, p] of publishers.entries()) lines.push(`  ${p.did}: {name: "Publisher ${i}", validFrom: "2024-01-01T00:00:00Z"}`);
  lines.push('policies:');
  for (const [i, p] of publishers.entries()) {
    lines.push(`  - name: publisher-${i}`, `    scope: "127.0.0.1:*/pub${i}/**"`, `    trustedDIDs: [${p.did}]`, '    action: enforce');
  }
  return `${lines.join('\n')}\n`;
}
