import { compareCpuPerNewImage, type CpuVariant } from './cpu-per-key.js';
import { startWorld } from './fixtures.js';

// `node bench/run-cpu-per-key.mjs --compare`: section 4b's measurement as a before/after
// comparison. CPU_VARIANTS is a JSON list of CpuVariant (label, executable?, nodeOptions?,
// extraWarmup?, embed?; see cpu-per-key.ts), the first being the reference.
const variants = JSON.parse(process.env.CPU_VARIANTS ?? '[]') as CpuVariant[];
if (variants.length < 2) throw new Error('CPU_VARIANTS: give at least two variants, the first being the reference');
const world = await startWorld({ publishers: 1 });
try {
  const figures = await compareCpuPerNewImage(world, variants, {
    rounds: Number(process.env.CPU_ROUNDS ?? 12),
    keysPerRound: Number(process.env.CPU_KEYS ?? 50),
    warmupKeys: Number(process.env.CPU_WARMUP ?? 1000),
    embed: process.env.CPU_EMBED === '1',
  });
  for (const f of figures) console.log(JSON.stringify(f));
} finally {
  await world.close();
}
