import { fileURLToPath } from 'node:url';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

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
    include: [
      'test/policy/**/*.test.ts',
      'test/atproto/**/*.test.ts',
      'test/properties/**/*.test.ts',
      'test/net/**/*.test.ts',
      'test/registry/reference*.test.ts',
      'test/registry/canonical-name*.test.ts',
      'test/identity/plc*.test.ts',
      'test/verify/**/*.test.ts',
    ],
    exclude: [
      // Real-server e2e: a PDS (dev-env), a PLC directory or a docker-registry per file.
      'test/atproto/record-proof.pds.test.ts',
      'test/identity/plc-audit-log.test.ts',
      'test/verify/engine.test.ts',
      'test/verify/prefetch.test.ts',
      'test/verify/embedded-payload.test.ts',
      'test/policy/explain-agrees-with-verify.test.ts',
    ],
    testTimeout: 30_000,
    pool: 'threads',
    sequence: { sequencer: TargetedFirst },
    // One worker thread for every mutant run: its Node module cache keeps @atproto/repo, noble and
    // multiformats loaded (an isolated run starts a thread and re-imports them for every mutant).
    // Stryker switches mutants at call time, so modules loaded once serve every mutant.
    isolate: false,
  },
});
