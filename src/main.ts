/**
 * The single entry of the executable: Ratify runs it with no arguments and RATIFY_VERIFIER_*
 * variables (plugin face); people and CI run it with a command (CLI face). Each face is loaded
 * only when chosen, so a plugin run never pays for the CLI or the provider server: the build
 * (scripts/build.mjs) puts the CLI face in a bundle of its own (dist/cli-face.cjs, an asset of the
 * single executable), which this entry loads only for a command.
 */
declare const __VERSION__: string;
export const VERSION = typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev';

/** What `--version` prints: the release, and the Node runtime and platform it runs on (an operator's first question). */
export function versionLine(): string {
  return `${VERSION} (node ${process.version}, ${process.platform}-${process.arch})`;
}

const args = process.argv.slice(2);
const ratifyInvoked = Object.keys(process.env).some((k) => k.startsWith('RATIFY_VERIFIER_'));

// Plugin mode needs Ratify's variables: a bare run from a script gets the CLI's usage instead.
if (args.length === 0 && ratifyInvoked) {
  void import('../plugin/main.js').then((m) => m.runPlugin(VERSION));
} else if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${versionLine()}\n`);
} else {
  void import('./cli/main.js').then((m) => m.runCli(process.argv, VERSION));
}
