import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import { pointerSegments } from './json-pointer.js';

/** A 1-based line and column in the policy file, as editors count them. */
export interface SourcePosition {
  line: number;
  col: number;
}

/**
 * Where the value at `pointer` sits in the YAML source (or, with `key`, where the map key named
 * by the pointer's last segment sits, for unknown or malformed keys). Walks as far as the
 * document goes, so a missing node points at its nearest existing parent.
 */
export function positionOf(doc: Document, lineCounter: LineCounter, pointer: string, options: { key?: boolean } = {}): SourcePosition {
  const segments = pointerSegments(pointer);
  let node: Node | null = resolve(doc, doc.contents);
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    let next: Node | null = null;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === segment);
      // A pair without a value (`? key`) is found at its key.
      if (pair) next = last && options.key ? (pair.key as Node) : (resolve(doc, pair.value as Node | null) ?? (pair.key as Node));
    } else if (isSeq(node)) {
      next = resolve(doc, (node.items[Number(segment)] as Node | undefined) ?? null);
    }
    if (!next) break;
    node = next;
  }
  const offset = node?.range?.[0] ?? 0;
  return lineCounter.linePos(offset);
}

function resolve(doc: Document, node: Node | null): Node | null {
  if (node && isAlias(node)) return (node.resolve(doc) as Node | undefined) ?? node;
  return node;
}

/** The text a key takes once converted to JS (non-string scalar keys become strings). */
function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}
