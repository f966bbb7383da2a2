import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

export default defineConfig({
  // The same build-time constant scripts/build.mjs defines (src/version.ts).
  define: { __VERSION__: JSON.stringify(version) },
  test: {
    setupFiles: ['test/setup/forget-memos.ts'],
    include: ['test/**/*.test.ts'],
    // Real servers (PDS, PLC, registry) start per file; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
