import type { ErrorObject } from 'ajv';
// Compiled from schemas/trust-policy.schema.json at build time (scripts/compile-schemas.mjs):
// no schema compilation at run time, which cost the plugin most of a policy parse.
import { validate } from './trust-policy-validator.generated.js';
import { pointerOf, pointerSegments } from './json-pointer.js';

/** One schema violation: where (JSON pointer; `key` when the map key itself is at fault) and what. */
export interface SchemaViolation {
  pointer: string;
  key?: true;
  message: string;
}

/** Checks a parsed policy document against schemas/trust-policy.schema.json. */
export function schemaViolations(value: unknown): SchemaViolation[] {
  if (validate(value)) return [];
  const out: SchemaViolation[] = [];
  for (const error of validate.errors ?? []) {
    const violation = describe(error);
    if (violation && !out.some((v) => v.pointer === violation.pointer && v.message === violation.message)) out.push(violation);
  }
  return out;
}

/** Leaf keywords whose failure is best explained by the schema's description ("must be ..."). */
const DESCRIBED = new Set(['type', 'enum', 'const', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum']);

function describe(error: ErrorObject): SchemaViolation | undefined {
  const description = (error.parentSchema as { description?: string } | undefined)?.description;
  const must = description && DESCRIBED.has(error.keyword) ? `must be ${description}` : (error.message ?? 'is invalid');
  // A bad map key (propertyNames): ajv reports the inner failure with the key name, then a
  // summary error; keep the first, aimed at the key.
  if (error.keyword === 'propertyNames') return undefined;
  const keyName = (error as ErrorObject & { propertyName?: string }).propertyName;
  if (keyName !== undefined) {
    return { pointer: pointerOf([...pointerSegments(error.instancePath), keyName]), key: true, message: `key ${JSON.stringify(keyName)} ${must}` };
  }
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      // Every closed object of the schema lists its properties (its $comment: closed everywhere).
      const allowed = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const guess = closest(name, allowed);
      return {
        pointer: pointerOf([...pointerSegments(error.instancePath), name]),
        key: true,
        message: `unknown key ${JSON.stringify(name)}${guess ? ` (did you mean "${guess}"?)` : ''}; allowed keys: ${allowed.join(', ')}`,
      };
    }
    case 'required':
      return { pointer: error.instancePath, message: `missing required key "${String(params.missingProperty)}"` };
    case 'uniqueItems':
      return {
        pointer: pointerOf([...pointerSegments(error.instancePath), Number(params.i)]),
        message: `repeats item ${String(params.j)} of the list`,
      };
    default:
      return { pointer: error.instancePath, message: must };
  }
}

/** The allowed key a typo most likely meant (edit distance at most 2), if any. */
function closest(name: string, allowed: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
