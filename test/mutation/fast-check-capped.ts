// fast-check for the mutation run only (vitest.mutation.config.ts aliases `fast-check` here):
// every property runs at most MUTATION_MAX_RUNS cases (default 50) instead of its 100-500, because
// Stryker re-runs each property for every surviving mutant it covers. Fewer cases can only let a
// mutant survive that more cases would kill, so the score measured this way is a lower bound.
import * as real from '../../node_modules/fast-check/lib/fast-check.js';

const maxRuns = Number(process.env.MUTATION_MAX_RUNS ?? 50);

export * from '../../node_modules/fast-check/lib/fast-check.js';

export const assert: typeof real.assert = ((property: Parameters<typeof real.assert>[0], params?: Parameters<typeof real.assert>[1]) =>
  real.assert(property, { ...params, numRuns: Math.min(params?.numRuns ?? 100, maxRuns) })) as typeof real.assert;

export default { ...real.default, assert };
