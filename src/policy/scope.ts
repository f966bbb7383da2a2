import { canonicalImageName, canonicalRegistryHost, isRepositoryComponent, registryHostProblem } from '../registry/reference.js';

/**
 * Policy scopes: globs over canonical image names (`registry/repository`, see
 * canonicalImageName in ../registry/reference.ts). A scope is a list of `/`-separated segments:
 *
 *   `**`   a whole segment: zero or more whole segments of the name, so `a/**\/b` covers `a/b`,
 *          `a/x/b` and `a/x/y/b`, never `a/xb`; `a/**` covers `a` and everything under it
 *   other  one segment of the name: `*` is any run of characters except `/` (a registry port is
 *          part of its segment, so `localhost:*` covers every port); anything else is itself,
 *          literally (`.`, `?`, `[` are not special)
 *
 * A `**` that is not a whole segment (`prod-**`) is refused when the policy loads (scopeProblem);
 * should one reach the matcher anyway it is read as `*`, which never crosses a `/`.
 *
 * Matching is a linear-time state walk rather than a regular expression, so no scope can make
 * matching an attacker-chosen image name slow.
 */

/** One scope segment: `**`, or the characters of a segment glob (`*` = a run inside the segment). */
type Segment = { kind: 'segments' } | { kind: 'glob'; tokens: GlobToken[] };
type GlobToken = { kind: 'literal'; char: string } | { kind: 'star' };

const compiledScopes = new Map<string, Segment[]>();

function compile(scope: string): Segment[] {
  const cached = compiledScopes.get(scope);
  if (cached) return cached;
  const segments: Segment[] = scope.split('/').map((text) => {
    if (text === '**') return { kind: 'segments' };
    const tokens: GlobToken[] = [];
    for (const char of text) {
      if (char !== '*') tokens.push({ kind: 'literal', char });
      else if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' }); // `**` inside a segment is `*`
    }
    return { kind: 'glob', tokens };
  });
  if (compiledScopes.size > 10_000) compiledScopes.clear();
  compiledScopes.set(scope, segments);
  return segments;
}

/**
 * True when `image`, a canonical image name (`registry/repository`, as canonicalImageName makes
 * it), is covered by the glob `scope`. Callers judging a reference use matchingPolicies() in
 * ./evaluate.ts, which canonicalises it first; the empty name (no reference known) has no segments.
 */
export function scopeMatches(scope: string, image: string): boolean {
  const segments = compile(scope);
  // states[t] = scope segments [0..t) match the name segments read so far.
  let states = closure(segments, new Set([0]));
  for (const part of image === '' ? [] : image.split('/')) {
    const next = new Set<number>();
    for (const t of states) {
      const segment = segments[t];
      if (!segment) continue;
      if (segment.kind === 'segments') next.add(t); // `**` takes this whole segment and may take more
      else if (globMatches(segment.tokens, part)) next.add(t + 1);
    }
    states = closure(segments, next);
    if (states.size === 0) return false;
  }
  return states.has(segments.length);
}

/** Adds the states reachable without reading a segment (`**` matching zero segments). */
function closure(segments: Segment[], states: Set<number>): Set<number> {
  const out = new Set<number>();
  for (const start of states) {
    let t = start;
    out.add(t);
    while (segments[t]?.kind === 'segments') out.add(++t);
  }
  return out;
}

/** One segment against a segment glob: a state walk, linear in the segment times the glob. */
function globMatches(tokens: GlobToken[], text: string): boolean {
  const skipStars = (set: Set<number>): Set<number> => {
    for (const t of [...set]) for (let u = t; tokens[u]?.kind === 'star'; u++) set.add(u + 1);
    return set;
  };
  let states = skipStars(new Set([0]));
  for (const char of text) {
    const next = new Set<number>();
    for (const t of states) {
      const token = tokens[t];
      if (token?.kind === 'star') next.add(t);
      else if (token?.kind === 'literal' && token.char === char) next.add(t + 1);
    }
    states = skipStars(next);
    if (states.size === 0) return false;
  }
  return states.has(tokens.length);
}

/**
 * The name a scope is matched against: the canonical image name (canonicalImageName), or the
 * empty string when no reference is known. A string that is not an image reference throws
 * INPUT_INVALID: it cannot be pulled, so it is never judged under a guessed name.
 */
export function imageScopeName(ref: string): string {
  return ref === '' ? '' : canonicalImageName(ref);
}

const DOCKER_HUB = 'docker.io';

/**
 * Why a scope cannot match a canonical image name as written, or undefined when it can. A scope
 * is checked against the same canonical form images are put in, and never fixed silently: the
 * author sees what they wrote. Refused: a tag or digest; an empty segment (`//`, a leading or
 * trailing `/`); `**` inside a segment; a host that is not canonical (upper case, a Docker Hub
 * alias, `:443`); a first segment that is no registry; a repository segment no repository
 * name has (upper case, `:`); a one-segment Docker Hub name (`docker.io/nginx`, matched as
 * `docker.io/library/nginx`).
 */
export function scopeProblem(scope: string): string | undefined {
  if (scope === '') return 'a scope cannot be empty (`**` covers every image)';
  if (scope.includes('@')) return 'scopes match image names without a digest: drop the @digest';
  const segments = scope.split('/');
  if (segments.some((s) => s === '')) {
    if (scope.startsWith('/')) return 'it starts with "/": image names start with their registry host';
    if (scope.endsWith('/')) return `it ends with "/", which no image name does: write ${scope}** for everything under it, or drop the "/"`;
    return 'it has an empty segment ("//"), which no image name has';
  }
  const inner = segments.find((s) => s.includes('**') && s !== '**');
  if (inner !== undefined) {
    return `"**" must be a whole segment (between "/"), as in a/**/b; "${inner}" puts it inside a segment: use "*" to match within one segment`;
  }
  if (scope === '**') return undefined;
  const [host, ...path] = segments as [string, ...string[]];
  if (path.length === 0) {
    const hint = host.includes('.') || host.includes(':') || host === 'localhost' ? `${scope}/**` : `${DOCKER_HUB}/library/${scope}`;
    return `image names are registry/repository and "${scope}" has no "/": write ${hint}`;
  }
  const hostProblem = host === '**' ? undefined : scopeHostProblem(host, path);
  if (hostProblem) return hostProblem;
  for (const part of path) {
    if (part === '**') continue;
    if (part.includes(':')) return 'scopes match image names without a tag: drop the :tag';
    const literal = part.replaceAll('*', '');
    if (part.includes('*') ? !/^[a-z0-9._-]*$/.test(literal) : !isRepositoryComponent(part)) {
      return `"${part}" can never be a repository path segment: those are lower-case letters, digits and separators (. _ -) between them`;
    }
  }
  if (host === DOCKER_HUB && path.length === 1 && path[0] !== '**') {
    return `Docker Hub names always have two segments and official images are matched as ${DOCKER_HUB}/library/${path[0]}: write that (or ${DOCKER_HUB}/*/${path[0]})`;
  }
  return undefined;
}

function scopeHostProblem(host: string, path: string[]): string | undefined {
  if (host.includes('*')) {
    // A host glob: its literal parts must be able to meet a canonical host.
    if (host !== host.toLowerCase()) return `registry hosts are matched lower-cased: write ${host.toLowerCase()}`;
    if (host.endsWith(`:443`)) return `":443" is the default port and image names never carry it: write ${host.slice(0, -4)}`;
    return undefined;
  }
  if (!(host.includes('.') || host.includes(':') || host === 'localhost' || host !== host.toLowerCase())) {
    return `"${host}" is not a registry host (no "." or ":"), and Docker Hub images are matched as ${DOCKER_HUB}/${[host, ...path].join('/')}: write that instead`;
  }
  const invalid = registryHostProblem(host);
  if (invalid) return invalid;
  const canonical = canonicalRegistryHost(host);
  if (canonical === host) return undefined;
  if (host.toLowerCase() === canonical) return `registry hosts are matched lower-cased: write ${canonical}`;
  if (canonical === DOCKER_HUB && !host.toLowerCase().startsWith(DOCKER_HUB)) {
    return `${host} is another name of Docker Hub, whose images are matched as ${DOCKER_HUB}/...: write ${DOCKER_HUB}`;
  }
  if (host === `${canonical}:443`) {
    return `":443" is the default port and image names never carry it: write ${canonical}`;
  }
  return `${host} is another spelling of ${canonical}, the form image names are matched in: write ${canonical}`;
}
