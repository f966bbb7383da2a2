import { asVerificationError } from '../errors.js';
import { verifyImage, type ImageVerification } from '../verify/verify-image.js';
import { failedOutcome, Verifier } from '../verify/verifier.js';
import { EXIT_NOT_VERIFIED, EXIT_USAGE, EXIT_VERIFIED, exitCodeForError } from './exit-codes.js';
import { caFromFlags, registryFactory, settingsFromFlags, trustPolicyFromFlags, type EngineFlags } from './options.js';
import { Progress } from './progress.js';
import { formatVerification } from './report.js';

export type VerifyFlags = EngineFlags & { output: 'text' | 'json' };

/**
 * What `verify IMAGE` decides, without printing it (the demo shows it through the same path).
 * Configuration mistakes throw (exit 2); anything else, unknown image or registry down included,
 * is a "not verified" result carrying the reason.
 */
export async function verifyImageWithFlags(image: string, flags: EngineFlags): Promise<ImageVerification> {
  const settings = settingsFromFlags(flags);
  const policy = await trustPolicyFromFlags(flags);
  const ca = await caFromFlags(flags);
  const verifier = new Verifier(settings, { policy, ...(ca ? { ca } : {}) });
  const registryFor = registryFactory(flags, policy);
  try {
    return await new Progress().during(`verifying ${image}`, () => verifyImage(image, { verifier, registryFor }));
  } catch (err) {
    const error = asVerificationError(err);
    if (exitCodeForError(error.code) === EXIT_USAGE) throw error;
    return { reference: image, pinned: image, digest: '', isSuccess: false, decisive: failedOutcome(error), signatures: [] };
  } finally {
    registryFor.closeAll();
  }
}

/**
 * `--output json`: the decision and the decisive outcome in full (evidence, every step, the
 * error as {code, step, message, remediation}); the other signatures tried, in brief.
 */
export function verificationJson(result: ImageVerification): unknown {
  return {
    ...result,
    signatures: result.signatures.map((s) => ({
      referrer: s.referrer,
      isSuccess: s.outcome.isSuccess,
      message: s.outcome.message,
      ...(s.outcome.error ? { error: s.outcome.error } : {}),
    })),
  };
}

export async function verifyCommand(image: string, flags: VerifyFlags): Promise<number> {
  const result = await verifyImageWithFlags(image, flags);
  process.stdout.write(flags.output === 'json' ? `${JSON.stringify(verificationJson(result), null, 2)}\n` : formatVerification(result));
  return result.isSuccess ? EXIT_VERIFIED : EXIT_NOT_VERIFIED;
}
