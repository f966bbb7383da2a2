/** OCI media types and descriptors used by the signature artifact and the referrers fallback. */
export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
export const OCI_EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** What we ask for when fetching a manifest: every form an image or artifact can take. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST_MEDIA_TYPE, OCI_INDEX_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_LIST_MEDIA_TYPE].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/**
 * The referrers tag schema (OCI distribution spec 1.1, "Referrers Tag Schema"): registries without
 * the referrers API list the referrers of `<alg>:<ref>` in an index tagged `<alg>-<ref>`, with the
 * algorithm cut to 32 and the hex to 64 characters.
 */
export function referrersTag(digest: string): string {
  const [alg = '', hex = ''] = digest.split(':');
  return `${alg.slice(0, 32)}-${hex.slice(0, 64)}`;
}

/** Reads the descriptors of an OCI index, keeping only well-formed ones. */
export function indexDescriptors(index: unknown): Descriptor[] {
  const manifests = (index as { manifests?: unknown } | null)?.manifests;
  if (!Array.isArray(manifests)) return [];
  return manifests.filter(
    (d): d is Descriptor =>
      typeof d === 'object' && d !== null && typeof d.mediaType === 'string' && typeof d.digest === 'string' && typeof d.size === 'number',
  );
}
