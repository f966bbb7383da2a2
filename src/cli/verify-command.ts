import { asVerificationError } from '../errors.js';
import { verifyImage, type ImageVerification } from '../verify/verify-image.js';
import { failedOutcome, Verifier } from '../verify/verifier.js';
import { EXIT_NOT_VERIFIED, EXIT_USAGE, EXIT_VERIFIED, exitCodeForError } from './exit-codes.js';
import { caFromFlags, registryFactory, settingsFromFlags, trustPolicyFromFlags, type EngineFlags } from './options.js';
import { Progress } from './progress.js';
import { formatVerification } from './report.js';

export async function verifyCommand(image: string, flags: EngineFlags & { output: 'text' | 'json' }): Promise<number> {
  const settings = settingsFromFlags(flags);
  const policy = await trustPolicyFromFlags(flags);
  const ca = await caFromFlags(flags);
  const verifier = new Verifier(settings, { policy, ...(ca ? { ca } : {}) });
  const progress = new Progress();
  let result: ImageVerification;
  try {
    result = await progress.during(`verifying ${image}`, () => verifyImage(image, { verifier, registryFor: registryFactory(flags) }));
  } catch (err) {
    const error = asVerificationError(err);
    if (exitCodeForError(error.code) === EXIT_USAGE) throw error;
    result = { reference: image, pinned: image, digest: '', isSuccess: false, decisive: failedOutcome(error), signatures: [] };
  }
  process.stdout.write(flags.output === 'json' ? `${JSON.stringify(result, null, 2)}\n` : formatVerification(result));
  return result.isSuccess ? EXIT_VERIFIED : EXIT_NOT_VERIFIED;
}
