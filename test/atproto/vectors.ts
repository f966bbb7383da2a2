/** Test-only: reads the copied atproto interop vectors (see test/vectors/atproto-interop-tests/README.md). */
import { readFileSync } from 'node:fs';

const ROOT = new URL('../vectors/atproto-interop-tests/', import.meta.url);

export function interopJson<T>(path: string): T {
  return JSON.parse(readFileSync(new URL(path, ROOT), 'utf8')) as T;
}

/** Non-empty, non-comment lines of an interop `.txt` list. */
export function interopLines(path: string): string[] {
  return readFileSync(new URL(path, ROOT), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}

/** Standard or URL-safe base64, padding optional, as the fixtures use. */
export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}
