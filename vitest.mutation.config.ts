import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

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
    ],
    testTimeout: 30_000,
    pool: 'threads',
  },
});
