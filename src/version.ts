/**
 * The verifier's version: esbuild's `define` in builds (scripts/build.mjs), vitest's in tests
 * (vitest.config.ts), both from package.json; `0.0.0-dev` when run from source otherwise.
 * Caches put it in their keys: an upgraded verifier never reads what an older one wrote.
 */
declare const __VERSION__: string;
export const VERIFIER_VERSION: string = typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev';
