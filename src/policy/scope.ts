/**
 * Policy scopes: globs over image names (`registry/repository`, no tag or digest).
 *
 *   `*`    any run of characters except `/` (stays inside one path segment; a registry port is
 *          part of its segment, so `localhost:*` covers every port)
 *   `**`   any run of characters, `/` included; `a/**\/b` also matches `a/b`
 *   other  itself, literally (`.`, `?`, `[` are not special)
 *
 * Matching is a linear-time state walk rather than a regular expression, so no scope can make
 * matching an attacker-chosen image name slow.
 */

type Token = { kind: 'literal'; char: string } | { kind: 'star' } | { kind: 'globstar' } | { kind: 'dirs' };

const compiledScopes = new Map<string, Token[]>();

function tokenize(scope: string): Token[] {
  const cached = compiledScopes.get(scope);
  if (cached) return cached;
  const tokens: Token[] = [];
  for (let i = 0; i < scope.length; i++) {
    const char = scope[i]!;
    if (char !== '*') {
      tokens.push({ kind: 'literal', char });
      continue;
    }
    let run = 1;
    while (scope[i + run] === '*') run++;
    i += run - 1;
    if (run === 1) {
      tokens.push({ kind: 'star' });
    } else if (scope[i - run] === '/' && scope[i + 1] === '/') {
      // `/**/`: zero or more whole segments, so `a/**/b` covers `a/b` and `a/x/y/b`.
      tokens.push({ kind: 'dirs' });
      i++; // the following `/` belongs to `dirs`
    } else {
      tokens.push({ kind: 'globstar' });
    }
  }
  if (compiledScopes.size > 10_000) compiledScopes.clear();
  compiledScopes.set(scope, tokens);
  return tokens;
}

/** True when `image` (`registry/repository`) is covered by the glob `scope`. */
export function scopeMatches(scope: string, image: string): boolean {
  const tokens = tokenize(scope);
  // states[t] = tokens[0..t) can match the image read so far.
  let states = closure(tokens, new Set([0]));
  for (const char of image) {
    const next = new Set<number>();
    for (const t of states) {
      const token = tokens[t];
      if (!token) continue;
      switch (token.kind) {
        case 'literal':
          if (token.char === char) next.add(t + 1);
          break;
        case 'star':
          if (char !== '/') next.add(t);
          break;
        case 'globstar':
          next.add(t);
          break;
        case 'dirs':
          // Inside `dirs`: consume anything; a `/` may also close it.
          next.add(t);
          if (char === '/') next.add(t + 1);
          break;
      }
    }
    states = closure(tokens, next);
    if (states.size === 0) return false;
  }
  return states.has(tokens.length);
}

/** Adds the states reachable without reading a character (stars and `dirs` matching nothing). */
function closure(tokens: Token[], states: Set<number>): Set<number> {
  const out = new Set<number>();
  const stack = [...states];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (out.has(t)) continue;
    out.add(t);
    const kind = tokens[t]?.kind;
    if (kind === 'star' || kind === 'globstar' || kind === 'dirs') stack.push(t + 1);
  }
  return out;
}

const DOCKER_HUB = 'docker.io';

/**
 * The name a scope is matched against: the reference without `:tag` or `@digest`, normalised
 * as container runtimes resolve it (distribution/reference rules), so a pod's `nginx:1.25` is
 * judged as the `docker.io/library/nginx` it pulls, and `ATCR.io/...` as `atcr.io/...`:
 * - the first path segment is a registry only if it has a `.` or `:` or is `localhost`
 *   (`localhost:5000/x:tag` keeps its port; `alice/app` is `docker.io/alice/app`);
 * - a bare Docker Hub name gains `library/`; `index.docker.io` is `docker.io`;
 * - the registry host is lowercased (DNS is case-insensitive; repositories are not).
 * Idempotent, so callers may pass a name that is already normalised. The empty string stays
 * empty (no reference known).
 */
export function imageScopeName(ref: string): string {
  let name = ref.trim();
  if (name === '') return '';
  const at = name.indexOf('@');
  if (at >= 0) name = name.slice(0, at);
  const lastSlash = name.lastIndexOf('/');
  const colon = name.indexOf(':', lastSlash + 1);
  if (colon >= 0) name = name.slice(0, colon);

  const slash = name.indexOf('/');
  const first = slash >= 0 ? name.slice(0, slash) : '';
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  if (!hasRegistry) return name.includes('/') ? `${DOCKER_HUB}/${name}` : `${DOCKER_HUB}/library/${name}`;
  let registry = first.toLowerCase();
  let path = name.slice(slash + 1);
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  return `${registry}/${path}`;
}

/**
 * Why a scope can never match a normalised image name, or undefined when it can. Catches the
 * easy mistakes: a tag or digest in the scope, or a bare Docker Hub name like `nginx` (which
 * images are matched as `docker.io/library/nginx`).
 */
export function unmatchableScope(scope: string): string | undefined {
  if (scope.includes('@')) return 'scopes match image names without a digest: drop the @digest';
  const slash = scope.indexOf('/');
  if (slash >= 0 && scope.indexOf(':', slash) >= 0) return 'scopes match image names without a tag: drop the :tag';
  const first = slash >= 0 ? scope.slice(0, slash) : scope;
  if (first.includes('*')) return undefined;
  if (slash < 0) {
    const hint = first.includes('.') || first.includes(':') || first === 'localhost' ? `${scope}/**` : `${DOCKER_HUB}/library/${scope}`;
    return `image names are registry/repository and "${scope}" has no "/": write ${hint}`;
  }
  if (!(first.includes('.') || first.includes(':') || first === 'localhost')) {
    return `"${first}" is not a registry host (no "." or ":"), and Docker Hub images are matched as ${DOCKER_HUB}/${scope}: write that instead`;
  }
  return undefined;
}
