/**
 * The verifier's version, set by the build (esbuild `define`); `0.0.0-dev` when run from source.
 * Caches put it in their keys: an upgraded verifier never reads what an older one wrote.
 */
declare const __VERSION__: string;
export const VERIFIER_VERSION: string = typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev';
