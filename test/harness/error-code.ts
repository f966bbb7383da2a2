import { VerificationError } from '../../src/errors.js';

/** What a failing call gave: its VerificationError code, or 'no error'. Any other exception escapes. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return errorFrom(err).code;
  }
  return 'no error';
}

/** The same for a promise. */
export async function codeOfAsync(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return errorFrom(err).code;
  }
  return 'no error';
}

/** The VerificationError a call throws; fails the test when it throws nothing or something else. */
export function errorOf(fn: () => unknown): VerificationError {
  try {
    fn();
  } catch (err) {
    return errorFrom(err);
  }
  throw new Error('expected a VerificationError, but nothing was thrown');
}

function errorFrom(err: unknown): VerificationError {
  if (err instanceof VerificationError) return err;
  throw new Error(`raw exception escaped instead of a VerificationError: ${String(err)}`, { cause: err });
}
