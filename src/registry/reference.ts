import { VerificationError } from '../errors.js';

/** An image reference split the way Docker and ORAS read one. */
export interface ImageReference {
  /** Registry host, with port when one is given: `ghcr.io`, `localhost:5000`. */
  registry: string;
  /** Repository path inside the registry: `library/alpine`, `did:plc:x/app` is not valid, `alice/app` is. */
  repository: string;
  tag?: string;
  digest?: string;
}

const DOCKER_HUB = 'docker.io';
// Grammar of github.com/distribution/reference, the one Ratify and containerd use.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
const MAX_REFERENCE = 4096;

function invalid(ref: string, why: string): VerificationError {
  return new VerificationError('INPUT_INVALID', `image reference "${ref.slice(0, 200)}" is invalid: ${why}`);
}

/**
 * Parses `[registry/]repository[:tag][@digest]`. A first component with a dot, a colon or named
 * `localhost` is a registry; otherwise the image is on Docker Hub (`library/` for one-part names).
 */
export function parseImageReference(ref: string): ImageReference {
  if (typeof ref !== 'string' || ref.length === 0) throw invalid(String(ref), 'it is empty');
  if (ref.length > MAX_REFERENCE) throw invalid(ref, `it is longer than ${MAX_REFERENCE} characters`);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(ref, `"${digest.slice(0, 80)}" is not a sha256 or sha512 digest`);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(ref, `"${tag.slice(0, 80)}" is not a valid tag`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first;
    parts.shift();
    if (!HOST.test(registry)) throw invalid(ref, `"${registry}" is not a valid registry host`);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  for (const part of parts) {
    if (!COMPONENT.test(part)) throw invalid(ref, `repository component "${part.slice(0, 80)}" must be lower-case letters, digits and separators`);
  }
  const repository = parts.join('/');
  if (repository.length > 255) throw invalid(ref, 'the repository name is longer than 255 characters');
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `registry/repository@digest`, or with the tag when there is no digest. */
export function formatImageReference(ref: ImageReference): string {
  const name = `${ref.registry}/${ref.repository}`;
  if (ref.digest) return `${name}@${ref.digest}`;
  return ref.tag ? `${name}:${ref.tag}` : name;
}

/** True for `sha256:<64 hex>` / `sha512:<128 hex>`. */
export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}
