import { providerConfig, type ServeFlags } from './config.js';
import { createLogger } from './log.js';
import { startProviderServer } from './server.js';

/**
 * `atproto-verifier serve`: the Gatekeeper external data provider. Configuration errors throw
 * (the CLI prints them with their remediation and exits non-zero) before anything listens. On
 * SIGTERM (Kubernetes) or SIGINT, it stops accepting, finishes in-flight requests, and returns.
 */
export async function serveCommand(flags: ServeFlags, version: string): Promise<void> {
  const { config, warnings } = providerConfig(process.env, flags);
  const log = createLogger(config.logLevel);
  for (const w of warnings) log.warn(w);
  const server = await startProviderServer({ config, version, log });

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info('signal received', { signal });
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      void server.shutdown().then(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  process.exitCode = 0;
  // Anything still holding the event loop (a socket the OS is slow to release) must not keep a
  // terminated pod alive: exit shortly unless the loop empties first.
  setTimeout(() => process.exit(0), 1000).unref();
}
