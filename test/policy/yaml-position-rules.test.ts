/**
 * Rules of src/policy/yaml-position.ts (where a refusal points in the policy file): a pointer
 * names the value it reaches (or, asked for the key, the key), through aliases; a pointer that
 * goes further than the document points at the deepest node that exists, never at the top of the
 * file and never through a crash; keys are matched by their text only.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineCounter, parseDocument, stringify } from 'yaml';
import { pointerOf } from '../../src/policy/json-pointer.js';
import { positionOf } from '../../src/policy/yaml-position.js';

function at(text: string, pointer: string, key = false): string {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, version: '1.2' });
  const { line, col } = positionOf(doc, lineCounter, pointer, { key });
  return `${line}:${col}`;
}

describe('a pointer names the node it reaches', () => {
  const TEXT = '# policy\nroot:\n  list: [a, {b: 1}]\n  map:\n    k: v\n    ? bare\n  anchored: &x {deep: 2}\n  alias: *x\n';
  it.each<[string, string, boolean, string]>([
    ['the whole document: its first node, after comments', '', false, '2:1'],
    ['a map value', '/root/map/k', false, '5:8'],
    ['a map key, when asked for the key (only the last segment is read as a key)', '/root/map/k', true, '5:5'],
    ['a list item', '/root/list/1/b', false, '3:17'],
    ['a key without a value (`? bare`): the key', '/root/map/bare', false, '6:7'],
    ['through an alias: where the anchored value is written', '/root/alias/deep', false, '7:23'],
  ])('%s', (_name, pointer, key, position) => {
    expect(at(TEXT, pointer, key)).toBe(position);
  });
});

describe('a pointer beyond the document points at the deepest node that exists', () => {
  const TEXT = '# policy\nversion: 1\nouter:\n  inner: scalar\n  list: [x]\n';
  it.each<[string, string, string]>([
    ['a missing key: the map that lacks it', '/outer/missing', '4:3'],
    ['segments past a scalar: the scalar', '/outer/inner/further/still', '4:10'],
    ['an index past the end of a list: the list', '/outer/list/5', '5:9'],
    ['a key in a list: the list', '/outer/list/key', '5:9'],
    ['a missing top-level key: the document', '/nothing/here', '2:1'],
  ])('%s', (_name, pointer, position) => {
    expect(at(TEXT, pointer)).toBe(position);
  });

  it('an empty document: line 1, column 1', () => {
    expect(at('', '/a/b')).toBe('1:1');
    expect(at('# only a comment\n', '')).toBe('1:1');
  });
});

describe('keys are matched by their own text', () => {
  it('a collection key never stands for a key spelt "undefined"', () => {
    expect(at('[a]: 1\nundefined: 2\n', '/undefined')).toBe('2:12');
  });

  it('a number key is matched by the text JavaScript gives it', () => {
    expect(at('1.0: a\n2: b\n', '/1')).toBe('1:6');
  });
});

describe('property: every value and key of a document is found where its text starts', () => {
  const word = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/).filter((w) => !['true', 'false', 'null', 'nan', 'inf'].includes(w));
  const leaf = fc.oneof(word, fc.integer({ min: 0, max: 99999 }));
  const tree = fc.letrec<{ node: unknown }>((tie) => ({
    node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('node'), { minLength: 1, maxLength: 3 }), fc.dictionary(word, tie('node'), { minKeys: 1, maxKeys: 3 })),
  })).node;

  /** Every [path, value, key?] in the data. */
  function* leaves(value: unknown, path: (string | number)[] = []): Generator<[(string | number)[], unknown]> {
    if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* leaves(v, [...path, i]);
    else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) yield* leaves(v, [...path, k]);
    else yield [path, value];
  }

  it('in block and flow style', () => {
    fc.assert(
      fc.property(tree, fc.boolean(), (data, flow) => {
        const text = stringify(data, { version: '1.2', ...(flow ? { collectionStyle: 'flow' as const } : {}) });
        const lines = text.split('\n');
        const textAt = (position: string) => {
          const [line, col] = position.split(':').map(Number);
          return lines[line! - 1]!.slice(col! - 1);
        };
        for (const [path, value] of leaves(data)) {
          expect(textAt(at(text, pointerOf(path)))).toMatch(new RegExp(`^${String(value)}\\b`));
          const last = path.at(-1);
          if (typeof last === 'string') expect(textAt(at(text, pointerOf(path), true))).toMatch(new RegExp(`^${last}\\b`));
        }
      }),
    );
  });
});
