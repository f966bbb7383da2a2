/** Every memo made here, so tests can start each case from an empty memory (forgetBoundedMemos). */
const memos = new Set<Map<string, unknown>>();

/**
 * Remembers a pure function of a string, for at most `max` distinct inputs (then starts afresh:
 * inputs can come from admission requests, so the memory stays bounded whatever they are).
 * For the long-running verifier: the same registry host, policy key or DID key is parsed once,
 * not once per image (issue 12, item 3). Only for functions whose result nobody mutates.
 */
export function boundedMemo<R>(fn: (input: string) => R, max = 256): (input: string) => R {
  const memo = new Map<string, R>();
  memos.add(memo);
  return (input: string): R => {
    if (memo.has(input)) return memo.get(input)!;
    const result = fn(input);
    if (memo.size >= max) memo.clear();
    memo.set(input, result);
    return result;
  };
}

/**
 * Empties every memo. For tests only: mutation testing switches the code under test between
 * cases in one process, and an answer remembered from another case would hide the change.
 */
export function forgetBoundedMemos(): void {
  for (const memo of memos) memo.clear();
}

/**
 * A cache of verified, immutable facts keyed by content hashes (a commit CID and key, an MST node
 * CID, a public key), holding at most `max` entries: past that the oldest goes, so inputs from
 * admission requests cannot grow it. Emptied by forgetBoundedMemos like the memos above.
 */
export interface BoundedCache<V> {
  get(key: string): V | undefined;
  /** Stores `value` under `key` (evicting the oldest entry when full) and returns it. */
  remember(key: string, value: V): V;
  readonly size: number;
}

export function boundedCache<V>(max: number): BoundedCache<V> {
  const map = new Map<string, V>();
  memos.add(map);
  return {
    get: (key) => map.get(key),
    remember(key, value) {
      if (!map.has(key) && map.size >= max) map.delete(map.keys().next().value!);
      map.set(key, value);
      return value;
    },
    get size() {
      return map.size;
    },
  };
}
