import { canonicalRegistryHost, isRepositoryComponent, parseImageReference, registryHostProblem, type ImageReference } from '../registry/reference.js';
import { scopeMatches } from './scope.js';
import type { RegistryRule, TrustPolicy } from './trust-policy.js';

/**
 * The trust policy's `registries` section: how an image name the cluster admits relates to the
 * name its publisher signed (issue 11).
 *
 * - The first entry whose `host` glob matches the admitted image's canonical host applies (file
 *   order). `*` matches any run of characters of a host (`*.corp`, `localhost:*`).
 * - An entry with `mirrorOf` maps the mirror's name to the origin's: `stripPrefix` (whole path
 *   segments) is removed from the mirror path, then `addPrefix` is put in front. A path outside
 *   `stripPrefix` is not mapped (it is another project of the mirror) and is judged under its own
 *   name. One hop only: the origin is never looked up as a mirror again (the policy refuses
 *   `mirrorOf` naming a host that is itself a mirror).
 * - The record check and the handle-in-path check run on the origin name: the signed record names
 *   the origin repository, and the ATCR layout is read on the origin path.
 * - Policy scopes match BOTH names, explicitly: every policy whose scope covers the admitted name
 *   or the origin name applies, and all the matching enforce policies must pass. A mapping can
 *   only add policies to satisfy, never remove one that covers the admitted name.
 * - `referrersFrom: origin` reads the signature referrers from the origin registry, at the origin
 *   repository, by the digest resolved on the mirror: the signature still binds the admitted bytes.
 */

/** A registry/repository name pair. */
export interface RegistryName {
  registry: string;
  repository: string;
}

export interface RegistryMapping {
  /** The image as admitted (canonical host, repository path). */
  admitted: RegistryName;
  /** The name its publisher signed: equal to `admitted` when no mapping applied. */
  origin: RegistryName;
  /** A `mirrorOf` entry mapped the name. */
  applied: boolean;
  /** The registries entry matching the admitted host, if any, and its index in the file. */
  rule?: RegistryRule;
  index?: number;
  /** Where the signature referrers are read: the admitted registry (self) or the origin. */
  referrersFrom: 'self' | 'origin';
  /**
   * The origin's paths are ATCR layout by configuration (`atcr: true` on the mirror's or the
   * origin's entry, or the atcrRegistries setting): the first segment MUST be the signer.
   */
  atcrLayout: boolean;
  /** One sentence for messages: the mapping applied, or that none did and why. */
  description: string;
}

/** `registry/repository`. */
export function nameOf(name: RegistryName): string {
  return `${name.registry}/${name.repository}`;
}

/** The entry that applies to `host` (canonical host): the first whose host glob matches. */
export function registryRuleFor(policy: Pick<TrustPolicy, 'registries'> | undefined, host: string): RegistryRule | undefined {
  const canonical = canonicalRegistryHost(host);
  return policy?.registries.find((rule) => scopeMatches(rule.host, canonical));
}

/** A path prefix as configured (`atcr-proxy/` or `atcr-proxy`), without its trailing slash. */
export function trimPrefix(prefix: string | undefined): string | undefined {
  const trimmed = prefix?.replace(/\/+$/, '');
  return trimmed ? trimmed : undefined;
}

/**
 * Maps the admitted image to the name its publisher signed, through the policy's registries (see
 * the top of this file). `atcrRegistries` (the setting) marks hosts whose paths are ATCR layout.
 */
export function mapToOrigin(
  policy: Pick<TrustPolicy, 'registries'> | undefined,
  image: string | ImageReference,
  atcrRegistries: readonly string[] = [],
): RegistryMapping {
  const ref = typeof image === 'string' ? parseImageReference(image) : image;
  const admitted = { registry: canonicalRegistryHost(ref.registry), repository: ref.repository };
  const atcrHosts = new Set(atcrRegistries.map(canonicalRegistryHost));
  const rule = registryRuleFor(policy, admitted.registry);
  const index = rule ? policy!.registries.indexOf(rule) : undefined;
  const entry = rule ? { rule, index: index! } : {};
  const own = (why: string): RegistryMapping => ({
    admitted,
    origin: admitted,
    applied: false,
    ...entry,
    referrersFrom: 'self',
    atcrLayout: rule?.atcr === true || atcrHosts.has(admitted.registry),
    description: `${why}: ${nameOf(admitted)} is judged under its own name`,
  });
  if (!rule) return own(`no registries entry matches ${admitted.registry}`);
  if (!rule.mirrorOf) return own(`registries[${index}] (${rule.host}) names no mirrorOf`);

  const strip = trimPrefix(rule.stripPrefix);
  const add = trimPrefix(rule.addPrefix);
  let path = admitted.repository;
  if (strip) {
    if (!path.startsWith(`${strip}/`)) {
      return own(`registries[${index}] (${rule.host}, mirror of ${rule.mirrorOf}) maps only paths under ${strip}/, and ${path} is not one`);
    }
    path = path.slice(strip.length + 1);
  }
  if (add) path = `${add}/${path}`;
  const originHost = canonicalRegistryHost(rule.mirrorOf);
  // As image references read it: a one-segment Docker Hub name is library/<name>.
  if (originHost === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  const origin = { registry: originHost, repository: path };
  const originRule = registryRuleFor(policy, origin.registry);
  const referrersFrom = rule.referrersFrom ?? 'self';
  const how = [`mirrorOf ${rule.mirrorOf}`, ...(strip ? [`stripPrefix ${strip}/`] : []), ...(add ? [`addPrefix ${add}/`] : [])];
  if (referrersFrom === 'origin') how.push('referrers read from the origin');
  return {
    admitted,
    origin,
    applied: true,
    rule,
    index: index!,
    referrersFrom,
    atcrLayout: rule.atcr === true || originRule?.atcr === true || atcrHosts.has(origin.registry),
    description: `${nameOf(admitted)} is read as ${nameOf(origin)} (registries[${index}] ${rule.host}: ${how.join(', ')})`,
  };
}

/** Where the signature referrers of the mapped image are read (same digest either way). */
export function referrerLocation(mapping: RegistryMapping): RegistryName {
  return mapping.referrersFrom === 'origin' ? mapping.origin : mapping.admitted;
}

/**
 * The `registries` entry that would make the admitted name read as the repository a signed record
 * names, when the two share their last path segments: for an operator to add IF the host really
 * mirrors that origin. Undefined when no such entry exists. `recordRepository` is a full name
 * (`host/path`) or, for ATCR-layout records, the path after the signer's segment; then
 * `signerSegments` (the signer's DID and verified handle) locate that segment in the image path.
 */
export function suggestedMirrorEntry(admitted: RegistryName, recordRepository: string, signerSegments: readonly string[] = []): string | undefined {
  const image = admitted.repository.split('/');
  const slash = recordRepository.indexOf('/');
  const first = recordRepository.slice(0, Math.max(slash, 0)); // '' when there is no / (or it leads)
  const isHost = first.includes('.') || first.includes(':') || first === 'localhost';
  let originHost: string;
  let originPath: string[];
  if (isHost) {
    // The record's text is the signer's choice: suggest only a well-formed host and path.
    if (registryHostProblem(first)) return undefined;
    originHost = canonicalRegistryHost(first);
    originPath = recordRepository.slice(slash + 1).split('/');
    if (!originPath.every(isRepositoryComponent)) return undefined;
  } else {
    // An ATCR-layout record: the origin path is <signer>/<repository>, on a host the record does not name.
    const at = image.findIndex((segment, i) => i > 0 && signerSegments.includes(segment));
    if (at < 0 || image.slice(at + 1).join('/') !== recordRepository) return undefined;
    return entryText(admitted.registry, '<origin host>', image.slice(0, at).join('/'), undefined);
  }
  let common = 0;
  while (common < Math.min(image.length, originPath.length) && image[image.length - 1 - common] === originPath[originPath.length - 1 - common]) common++;
  if (common === 0) return undefined;
  const strip = image.slice(0, image.length - common).join('/');
  const add = originPath.slice(0, originPath.length - common).join('/');
  if (originHost === admitted.registry && !strip && !add) return undefined;
  return entryText(admitted.registry, originHost, strip, add);
}

function entryText(host: string, mirrorOf: string, strip: string | undefined, add: string | undefined): string {
  return `registries: [{host: "${host}", mirrorOf: "${mirrorOf}"${strip ? `, stripPrefix: "${strip}/"` : ''}${add ? `, addPrefix: "${add}/"` : ''}}]`;
}
