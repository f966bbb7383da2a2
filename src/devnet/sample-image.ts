import type { RegistryClient } from '../registry/client.js';
import { OCI_MANIFEST_MEDIA_TYPE } from '../registry/oci.js';

export interface PushedImage {
  reference: string;
  digest: string;
  size: number;
}

/** Pushes a tiny but real OCI image (config + one layer + manifest) for demos, tests and benchmarks. */
export async function pushSampleImage(client: RegistryClient, registry: string, repository: string, tag: string, content = `${repository}:${tag}`): Promise<PushedImage> {
  const config = await client.pushBlob(
    repository,
    new TextEncoder().encode(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { content } }, rootfs: { type: 'layers', diff_ids: [] } })),
  );
  const layer = await client.pushBlob(repository, new TextEncoder().encode(content));
  const manifest = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size }],
    }),
  );
  const digest = await client.pushManifest(repository, tag, manifest, OCI_MANIFEST_MEDIA_TYPE);
  return { reference: `${registry}/${repository}:${tag}`, digest, size: manifest.length };
}
