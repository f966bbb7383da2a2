import { measureCpuPerNewImage } from './cpu-per-key.js';
import { startWorld } from './fixtures.js';

// `node bench/run-cpu-per-key.mjs`: section 4b of the benchmark alone, printed as JSON.
const world = await startWorld({ publishers: 1 });
try {
  const figure = await measureCpuPerNewImage(world, {
    rounds: Number(process.env.CPU_ROUNDS ?? 8),
    keysPerRound: Number(process.env.CPU_KEYS ?? 50),
    warmupKeys: Number(process.env.CPU_WARMUP ?? 1000),
    embed: process.env.CPU_EMBED === '1',
  });
  console.log(JSON.stringify(figure));
} finally {
  await world.close();
}
