// StrykerJS over the security core, one file group per run (scripts/mutation.mjs picks the group
// through MUTATION_GROUP and merges the per-group reports into bench/MUTATION.md).
// Not part of `npm test` or CI: it is a measurement, like `npm run bench`.
import { MUTATION_GROUPS } from './scripts/mutation-groups.mjs';

const group = process.env.MUTATION_GROUP ?? 'all';
// MUTATION_MUTATE (comma-separated globs) narrows a run while developing tests for one file.
const mutate = process.env.MUTATION_MUTATE?.split(',') ?? (group === 'all' ? Object.values(MUTATION_GROUPS).flat() : MUTATION_GROUPS[group]);
if (!mutate) throw new Error(`unknown MUTATION_GROUP ${group}; one of: all, ${Object.keys(MUTATION_GROUPS).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  // Only the fast unit tests: a file that boots a PDS or a registry would boot it once per mutant.
  vitest: { configFile: 'vitest.mutation.config.ts', related: false, pool: 'threads' },
  mutate,
  // Mutants only executed while a module loads (constants, tables) need a full re-run each; their
  // effect is pinned by the tests that use the constants, and they would double the run time.
  ignoreStatic: true,
  coverageAnalysis: 'perTest',
  // A group's previous results are reused for mutants whose code and covering tests did not change.
  incremental: true,
  incrementalFile: `reports/mutation/incremental-${group}.json`,
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ['json', 'progress', 'clear-text'],
  jsonReporter: { fileName: `reports/mutation/${group}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: false, reportScoreTable: true },
  tempDirName: '.stryker-tmp',
  ignorePatterns: ['dist', 'coverage', '.cache', 'docs', 'bench'],
  thresholds: { high: 90, low: 80, break: null },
};
