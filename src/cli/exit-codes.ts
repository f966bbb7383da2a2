/** Exit codes, like `cosign verify`: 0 verified, 1 not verified, 2 usage or configuration error. */
export const EXIT_VERIFIED = 0;
export const EXIT_NOT_VERIFIED = 1;
export const EXIT_USAGE = 2;

/** Configuration mistakes are usage errors; every other failure means "not verified" or "not done". */
export function exitCodeForError(code: string): number {
  return code === 'INPUT_INVALID' || code === 'POLICY_INVALID' ? EXIT_USAGE : EXIT_NOT_VERIFIED;
}
