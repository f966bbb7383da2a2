/**
 * RFC 6901 JSON pointers, the address schema and semantic violations carry. Kept apart from the
 * YAML position code so that checking a cached policy document never loads the YAML library.
 */

/** Splits an RFC 6901 JSON pointer (what ajv reports as instancePath) into its segments. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Builds an RFC 6901 JSON pointer from segments. */
export function pointerOf(segments: readonly (string | number)[]): string {
  return segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}
