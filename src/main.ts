/**
 * The single entry of the executable: Ratify runs it with no arguments and RATIFY_VERIFIER_*
 * variables (plugin face); people and CI run it with a command (CLI face). Each face is loaded
 * only when chosen, so a plugin run never pays for the CLI or the provider server.
 */
declare const __VERSION__: string;
export const VERSION = typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev';

const args = process.argv.slice(2);
const ratifyInvoked = Object.keys(process.env).some((k) => k.startsWith('RATIFY_VERIFIER_'));

// Plugin mode needs Ratify's variables: a bare run from a script gets the CLI's usage instead.
if (args.length === 0 && ratifyInvoked) {
  void import('../plugin/main.js').then((m) => m.runPlugin(VERSION));
} else if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${VERSION}\n`);
} else {
  void import('./cli/main.js').then((m) => m.runCli(process.argv, VERSION));
}
