/**
 * Bundled by network-faults.test.ts and run as its own Node process: one verification, described
 * by a JSON argument, then a JSON line with the outcome code and the time it took. It never calls
 * process.exit, so a socket or timer the verifier leaks keeps the process alive and the test,
 * which times the exit, sees it.
 */
import { DEFAULT_SETTINGS, type VerifierSettings } from '../../src/verify/settings.js';
import { Verifier } from '../../src/verify/verifier.js';

interface ChildInput {
  settings: Partial<VerifierSettings>;
  subjectDigest: string;
  payload: unknown;
  deadlineMs?: number;
}

void (async () => {
  const input = JSON.parse(process.argv[2] ?? '{}') as ChildInput;
  const verifier = new Verifier({ ...DEFAULT_SETTINGS, ...input.settings }, { handleResolver: async () => undefined });
  const started = Date.now();
  const outcome = await verifier.verify({
    subjectDigest: input.subjectDigest,
    payload: input.payload,
    ...(input.deadlineMs ? { signal: AbortSignal.timeout(input.deadlineMs) } : {}),
  });
  process.stdout.write(`${JSON.stringify({ code: outcome.isSuccess ? 'OK' : outcome.error?.code, ms: Date.now() - started })}\n`);
})();
