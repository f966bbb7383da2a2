import { resolve } from 'node:path';

/** The repository root: bench/run.mjs sets BENCH_ROOT, since the bundled benchmark runs from a cache directory. */
export const ROOT = resolve(process.env.BENCH_ROOT ?? process.cwd());
export const EXECUTABLE = resolve(process.env.ATPROTO_VERIFIER_EXECUTABLE ?? `${ROOT}/dist/atproto-verifier`);
export const HTTP_TRACE = `${ROOT}/bench/http-trace.cjs`;
/**
 * The `node` of the floor: the runtime the executable embeds (the pinned node-linux-<arch>, which
 * bench/run.mjs installs and names), so `node -e 0` and the executable start the same Node.
 */
export const BASELINE_NODE = process.env.BENCH_BASELINE_NODE ?? process.execPath;
