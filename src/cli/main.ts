import { Command, CommanderError, Option } from 'commander';
import { asVerificationError } from '../errors.js';
import { EXIT_USAGE, exitCodeForError } from './exit-codes.js';

/** Collects a repeatable option (`--trusted-did A --trusted-did B`); unlike a variadic option it never swallows the IMAGE argument. */
function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function engineOptions(cmd: Command): Command {
  return cmd
    .option('--policy <file>', 'trust policy YAML file')
    .option('--trusted-did <did>', 'trust this DID for every image (instead of --policy; repeatable)', collect)
    .option('--plc-directory <url>', 'PLC directory for did:plc', 'https://plc.directory')
    .option('--did-resolver-timeout <duration>', 'timeout for DID and handle resolution', '10s')
    .option('--pds-timeout <duration>', 'timeout for PDS requests', '10s')
    .option('--cache-dir <dir>', 'share the DID cache with other processes through this directory')
    .option('--no-cache', 'do not cache DID documents')
    .option('--plain-http', 'talk to the registry over plain HTTP')
    .option('--ca-file <file>', 'extra CA certificates (PEM) for https fetches')
    .option('--handle-resolver <url>', 'resolve handles through this XRPC service (a PDS) instead of DNS and /.well-known')
    .option('--atcr-registry <host>', 'paths on this registry are <handle-or-did>/<repository> and must start with the signer (repeatable; default atcr.io)', collect)
    .option('--offline', 'accept proofs embedded in the artifact for DIDs whose policy entry says offline: allowed and pins keys (revocation is NOT checked)')
    .addOption(new Option('--allow-private-network', 'allow http and private addresses for PLC, PDS and did:web (test networks only)'));
}

export async function runCli(argv: string[], version: string): Promise<void> {
  const program = new Command('atproto-verifier')
    .description('Prove that a container image was published by an ATProto identity you trust.')
    .version(version)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  engineOptions(program.command('verify <image>'))
    .description('verify the ATProto signatures of an image (tag or digest)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (image: string, flags) => {
      const { verifyCommand } = await import('./verify-command.js');
      process.exitCode = await verifyCommand(image, flags);
    });

  program
    .command('sign <image>')
    .alias('attach')
    .description('sign an image: write its io.atcr.manifest record to your PDS and attach the signature referrer')
    .requiredOption('--identity <handle-or-did>', 'the ATProto account that signs')
    .option('--password-env <name>', 'environment variable holding the app password', 'ATPROTO_APP_PASSWORD')
    .option('--pds <url>', 'PDS endpoint (default: the one in the DID document)')
    .option('--plc-directory <url>', 'PLC directory for did:plc', 'https://plc.directory')
    .option('--handle-resolver <url>', 'resolve the handle through this XRPC service (a PDS) instead of DNS and /.well-known')
    .option('--embed-proof', 'embed the record proof, so verifiers that pin your key verify offline (online ones still fetch it live)')
    .option('--plain-http', 'talk to the registry over plain HTTP')
    .option('--atcr-registry <host>', 'paths on this registry must start with the signer, as verify --atcr-registry (repeatable; default atcr.io)', collect)
    .option('--allow-private-network', 'allow http and private addresses for PLC and PDS (test networks only)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (image: string, flags) => {
      const { signCommand } = await import('./sign-command.js');
      process.exitCode = await signCommand(image, flags);
    });

  const policy = program.command('policy').description('check and explain trust policies');
  policy
    .command('check <file>')
    .description('validate a trust policy and print what it trusts, per scope')
    .action(async (file: string) => {
      const { policyCheckCommand } = await import('./policy-command.js');
      process.exitCode = await policyCheckCommand(file);
    });
  policy
    .command('explain <file> <image> <did>')
    .description('say which policy applies to IMAGE signed by DID, and why it would pass or fail')
    .option('--signed-at <time>', 'signing time to evaluate (default: now)')
    .option('--signing-key <multikey>', 'the key that verified the commit, to judge pinned keys too (default: say that they remain)')
    .action(async (file: string, image: string, did: string, flags: { signedAt?: string; signingKey?: string }) => {
      const { policyExplainCommand } = await import('./policy-command.js');
      process.exitCode = await policyExplainCommand(file, image, did, flags);
    });

  program
    .command('demo')
    .description('start a local PDS, PLC and registry, sign an image, and verify it (needs the dev dependencies)')
    .action(async () => {
      const { demoCommand } = await import('./demo-command.js');
      process.exitCode = await demoCommand();
    });

  program
    .command('serve')
    .description('run the Gatekeeper external data provider (HTTPS)')
    .option('--port <port>', 'port (env HTTP_PORT, default 8443)')
    .option('--cert <file>', 'TLS certificate (env TLS_CERT_FILE)')
    .option('--key <file>', 'TLS private key (env TLS_KEY_FILE)')
    .option('--client-ca <file>', 'require client certificates from this CA (mTLS; env CLIENT_CA_FILE)')
    .option('--policy <file>', 'trust policy (env TRUST_POLICY_PATH)')
    .option('--plc-directory <url>', 'PLC directory (env PLC_DIRECTORY)')
    .option('--handle-resolver <url>', 'resolve handles through this XRPC service (env HANDLE_RESOLVER)')
    .option('--budget <duration>', 'answer every request within this time (env REQUEST_BUDGET, default 3s)')
    .option('--health-port <port>', 'plain-HTTP port for /health, /ready, /metrics, or "off" (env HEALTH_PORT, default 8080)')
    .option('--cache-dir <dir>', 'share the DID cache through this directory (env CACHE_DIR)')
    .option('--log-level <level>', 'debug, info, warn or error (env LOG_LEVEL, default info)')
    .option('--plain-http', 'talk to registries over plain HTTP')
    .option('--allow-private-network', 'allow http and private addresses (test networks only)')
    .action(async (flags) => {
      const { serveCommand } = await import('../provider/serve-command.js');
      await serveCommand(flags, version);
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    const error = asVerificationError(err);
    process.stderr.write(`error: [${error.code}] ${error.message}\n  ${error.remediation}\n`);
    process.exitCode = exitCodeForError(error.code);
  }
}
