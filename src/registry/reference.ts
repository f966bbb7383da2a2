import { VerificationError } from '../errors.js';
import { boundedMemo } from '../bounded-memo.js';

/**
 * An image reference split the way Docker and ORAS read one, with its name in canonical form:
 * `registry` and `repository` are the same for every spelling of one image (see
 * canonicalRegistryHost), so scopes, the record and ATCR checks, caches and logs all see one name.
 */
export interface ImageReference {
  /** Canonical registry host, with port when one other than 443 is given: `ghcr.io`, `localhost:5000`. */
  registry: string;
  /** Repository path inside the registry: `library/alpine`, `alice/app` (`did:plc:x/app` is not valid). */
  repository: string;
  tag?: string;
  digest?: string;
}

const DOCKER_HUB = 'docker.io';
/** Other names of Docker Hub's registry, folded into docker.io (distribution folds index.docker.io). */
const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io']);
/** The https default port: `host:443` and `host` are one registry. */
const DEFAULT_PORT = '443';
// Grammar of github.com/distribution/reference, the one Ratify and containerd use.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
/** A port as one spelling only: 1-65535, no leading zero (`:0443` would be a second name for 443). */
const PORT = /:(?:[1-9][0-9]{0,4})$/;
const MAX_REFERENCE = 4096;

function invalid(ref: string, why: string): VerificationError {
  return new VerificationError('INPUT_INVALID', `image reference "${ref.slice(0, 200)}" is invalid: ${why}`);
}

/** True for one path component of a repository name (distribution's grammar: lower-case, separators inside). */
export function isRepositoryComponent(part: string): boolean {
  return COMPONENT.test(part);
}

/**
 * Why `host` is not a valid registry host (`name[:port]`, or `[ipv6][:port]`), or undefined.
 * Any case is valid here; canonicalRegistryHost lowercases it.
 */
export function registryHostProblem(host: string): string | undefined {
  if (!HOST.test(host)) return `"${host.slice(0, 80)}" is not a valid registry host`;
  const port = /:([0-9]+)$/.exec(host);
  if (port && (!PORT.test(host) || Number(port[1]) > 65535)) return `"${host.slice(0, 80)}" has port ${port[1]}, which is not 1-65535 written without leading zeros`;
  const normalised = urlHost(host);
  if (normalised === undefined) {
    // The pattern lets through what only the URL parser refuses; name the rule that applies.
    return host.startsWith('[')
      ? `"${host.slice(0, 80)}" is not an IPv6 address a URL can name (eight groups of at most four hex digits, or fewer with one "::"; a dotted IPv4 tail without leading zeros)`
      : `"${host.slice(0, 80)}" is not a host a URL can name (a last label of digits must make an IPv4 address)`;
  }
  const embedded = embeddedIpv4Form(normalised);
  if (embedded) {
    return `"${host.slice(0, 80)}" is an IPv6 address that carries an IPv4 address (${embedded}); refused as a registry host because which IPv4 address it reaches depends on the network, so scopes written for the IPv4 name could not be relied on to cover it: write the registry's IPv4 address or host name`;
  }
  return undefined;
}

/**
 * The eight 16-bit groups and the `:port` (or '') of a bracketed IPv6 host as the URL parser prints
 * it (`[a::b]:port`), or undefined for any other host.
 */
function ipv6Host(urlHostText: string): { groups: number[]; port: string } | undefined {
  // Only URL parser output comes here, and it prints IPv6 in one form (lower-case hex, at most one
  // `::`, no dotted quad, eight groups in all), so a small split suffices; node:net's isIP would
  // compile a large regex on its first call.
  const m = /^\[([0-9a-f:]+)\](:\d+)?$/.exec(urlHostText);
  if (!m) return undefined;
  const [head, tail] = m[1]!.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  // Without `::`, left already holds all eight groups and nothing is filled in.
  return { groups: [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right], port: m[2] ?? '' };
}

/** `[::ffff:a.b.c.d]` (IPv4-mapped, ::ffff:0:0/96) as `a.b.c.d` with its port: the address a dual-stack runtime connects to. */
function foldIpv4Mapped(urlHostText: string): string {
  const ip = ipv6Host(urlHostText);
  if (!ip) return urlHostText;
  const g = ip.groups;
  if (!g.slice(0, 5).every((x) => x === 0) || g[5] !== 0xffff) return urlHostText;
  return `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}${ip.port}`;
}

/**
 * Which embedded-IPv4 IPv6 form a host is, other than IPv4-mapped (folded instead): IPv4-compatible
 * (::/96, but not :: and ::1), IPv4-translated (::ffff:0:0:0/96), NAT64 (64:ff9b::/96, 64:ff9b:1::/48),
 * 6to4 (2002::/16), Teredo (2001::/32). Where the IPv4 address sits, or whether the network
 * unwraps it, is a deployment's choice, so these are refused rather than guessed.
 */
function embeddedIpv4Form(urlHostText: string): string | undefined {
  const g = ipv6Host(urlHostText)?.groups;
  if (!g) return undefined;
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 6) && !(g[6] === 0 && g[7]! <= 1)) return 'IPv4-compatible, ::/96';
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return 'IPv4-translated, ::ffff:0:0:0/96';
  if (g[0] === 0x64 && g[1] === 0xff9b && (zero(2, 6) || g[2] === 1)) return 'NAT64, 64:ff9b::/96 or 64:ff9b:1::/48';
  if (g[0] === 0x2002) return '6to4, 2002::/16';
  if (g[0] === 0x2001 && g[1] === 0) return 'Teredo, 2001::/32';
  return undefined;
}

/**
 * The one spelling of a registry host: lowercased (DNS is case-insensitive); an IP address in
 * the form the connection uses (`127.1` and `0x7f.0.0.1` are `127.0.0.1`, `[0:0::1]` is `[::1]`,
 * as the WHATWG URL parser our fetches use reads them); Docker Hub's aliases (`index.docker.io`,
 * `registry-1.docker.io`) folded into `docker.io`; an IPv4-mapped IPv6 literal (`[::ffff:a00:5]`)
 * folded into its IPv4 form (`10.0.0.5`), so an IPv4 scope covers it; the https default port `:443` dropped (any
 * other port names a different registry and stays). Idempotent. For a host registryHostProblem
 * accepts, and for a `registries` host glob: a glob the URL parser cannot read (`10.0.*.5:443`,
 * `*.corp:*`) is only lowercased and loses `:443`, so the policy loader can still name its one spelling.
 */
export const canonicalRegistryHost: (host: string) => string = boundedMemo(readRegistryHost);

/** canonicalRegistryHost without the memo (a URL parse each): registry mappings read it for every image. */
function readRegistryHost(host: string): string {
  const lower = host.toLowerCase();
  const parsed = urlHost(lower);
  let canonical = parsed === undefined ? lower : foldIpv4Mapped(parsed);
  // The URL parser drops :443 itself; this is for a host it could not read.
  if (canonical.endsWith(`:${DEFAULT_PORT}`)) canonical = canonical.slice(0, -DEFAULT_PORT.length - 1);
  return DOCKER_HUB_ALIASES.has(canonical) ? DOCKER_HUB : canonical;
}

/** `host[:port]` as the WHATWG URL parser normalises it for https (the default :443 dropped), or undefined. */
function urlHost(host: string): string | undefined {
  return URL.parse(`https://${host}/`)?.host;
}

/** registryHostProblem then canonicalRegistryHost, once per distinct host (a URL parse each). */
const checkedRegistryHost = boundedMemo((host: string): { problem: string } | { canonical: string } => {
  const problem = registryHostProblem(host);
  return problem ? { problem } : { canonical: canonicalRegistryHost(host) };
});

/**
 * Parses `[registry/]repository[:tag][@digest]` into canonical form. A first component with a dot,
 * a colon, an upper-case letter or named `localhost` is a registry (distribution's rule);
 * otherwise the image is on Docker Hub. Then the host is made canonical (canonicalRegistryHost) and
 * a one-component Docker Hub name gains `library/`, as `docker pull nginx` pulls
 * `docker.io/library/nginx`. Tag and digest are split off.
 */
export function parseImageReference(ref: string): ImageReference {
  // A non-string (from untyped input) is refused by the parser's first check; a throw is never remembered.
  return parsedReference(ref);
}

/**
 * One verification reads the same reference many times (scopes, registries, claims, signer
 * count: about 16 times per image in the provider); each distinct text is parsed once. Frozen:
 * every caller shares the answer.
 */
const parsedReference = boundedMemo((ref: string): ImageReference => Object.freeze(readImageReference(ref)));

function readImageReference(ref: string): ImageReference {
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
  const first = parts[0]!; // split always returns at least one element
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    parts.shift();
    const host = checkedRegistryHost(first);
    if ('problem' in host) throw invalid(ref, host.problem);
    registry = host.canonical;
    // `MyReg/app` is a host only for its upper case: lower-cased, it would read as the Docker
    // Hub user `myreg`, so the canonical form would name another image. Refuse the ambiguity.
    if (!(registry.includes('.') || registry.includes(':') || registry === 'localhost')) {
      throw invalid(ref, `"${first}" would be a registry only because of its upper case; a registry host has a "." or a port or is localhost`);
    }
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  for (const part of parts) {
    if (!COMPONENT.test(part)) throw invalid(ref, `repository component "${part.slice(0, 80)}" must be lower-case letters, digits and separators`);
  }
  const repository = parts.join('/');
  if (repository.length > 255) throw invalid(ref, 'the repository name is longer than 255 characters');
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/**
 * The canonical name of an image, `registry/repository` (no tag, no digest): the one name every
 * face, scope, record check, cache and log uses for it. A string is parsed first (INPUT_INVALID
 * when it is not a reference); canonicalImageName(canonicalImageName(x)) === canonicalImageName(x).
 */
export function canonicalImageName(ref: string | ImageReference): string {
  // An object may have been built by hand: it goes through the parser like any spelling.
  const parsed = parseImageReference(typeof ref === 'string' ? ref : `${ref.registry}/${ref.repository}`);
  return `${parsed.registry}/${parsed.repository}`;
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
