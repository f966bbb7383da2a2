import { resolve } from 'node:path';

/** The repository root: bench/run.mjs sets BENCH_ROOT, since the bundled benchmark runs from a cache directory. */
export const ROOT = resolve(process.env.BENCH_ROOT ?? process.cwd());
export const EXECUTABLE = resolve(process.env.ATPROTO_VERIFIER_EXECUTABLE ?? `${ROOT}/dist/atproto-verifier`);
export const HTTP_TRACE = `${ROOT}/bench/http-trace.cjs`;
