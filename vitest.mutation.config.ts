import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

const SERVER = /startAtprotoNetwork|startRegistry|@atproto\/dev-env|runCli|cliIsBuilt|dist\/atproto-verifier|startMtlsProvider|runLikeRatify/;

/** Test files that start real servers or the built executable (checked by content). */
function serverTests(): string[] {
  const root = fileURLToPath(new URL('./test/', import.meta.url));
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.test.ts') && SERVER.test(readFileSync(path, 'utf8'))) found.push(`test/${path.slice(root.length)}`);
    }
  };
  walk(root);
  return found;
}

/**
 * Targeted rule tests first, exhaustive and property tests last: Stryker stops a mutant's run at
 * the first failing test, so a mutant a small table kills never pays for the bit-flip sweeps.
 */
class TargetedFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (path: string) => (/-rules\.test\.ts$/.test(path) ? 0 : path.includes('/test/properties/') ? 2 : 1);
    return [...files].sort((a, b) => rank(a.moduleId) - rank(b.moduleId) || a.moduleId.localeCompare(b.moduleId));
  }
}

// The fast unit tests only, for `npm run mutation` (scripts/mutation.mjs): Stryker re-runs a test
// file for every mutant that file covers, so a file that boots a PDS, a PLC directory or a registry
// in beforeAll would boot it thousands of times. Those e2e files are left to `npm test`.
export default defineConfig({
  resolve: {
    // Properties run fewer cases per mutant (see test/mutation/fast-check-capped.ts).
    alias: [{ find: /^fast-check$/, replacement: fileURLToPath(new URL('./test/mutation/fast-check-capped.ts', import.meta.url)) }],
  },
  test: {
    setupFiles: ['test/setup/forget-memos.ts'],
    include: [
      'test/policy/**/*.test.ts',
      'test/atproto/**/*.test.ts',
      'test/properties/**/*.test.ts',
      'test/net/**/*.test.ts',
      'test/registry/**/*.test.ts',
      'test/identity/plc*.test.ts',
      'test/verify/**/*.test.ts',
    ],
    // Real-server e2e, found by what the file starts (so a new e2e file is left out without an edit
    // here): a PDS and PLC (dev-env), a docker-registry, or the built executable.
    exclude: serverTests(),
    testTimeout: 30_000,
    pool: 'threads',
    sequence: { sequencer: TargetedFirst },
    // One worker thread for every mutant run: its Node module cache keeps @atproto/repo, noble and
    // multiformats loaded (an isolated run starts a thread and re-imports them for every mutant).
    // Stryker switches mutants at call time, so modules loaded once serve every mutant.
    isolate: false,
  },
});
