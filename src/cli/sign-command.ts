import { VerificationError } from '../errors.js';
import { signImage } from '../publish/sign-image.js';
import { registryFactory } from './options.js';
import { Progress } from './progress.js';

export interface SignFlags {
  identity: string;
  passwordEnv: string;
  pds?: string;
  plcDirectory: string;
  handleResolver?: string;
  embedProof?: boolean;
  plainHttp?: boolean;
  allowPrivateNetwork?: boolean;
  atcrRegistry?: string[];
  output: 'text' | 'json';
}

/** `sign IMAGE`: the app password comes from an environment variable, never a flag (flags leak into ps and shell history). */
export async function signCommand(image: string, flags: SignFlags): Promise<number> {
  const password = process.env[flags.passwordEnv];
  if (!password) {
    throw new VerificationError('INPUT_INVALID', `set the app password in the environment variable ${flags.passwordEnv}`);
  }
  const registryFor = registryFactory(flags);
  let signed;
  try {
    signed = await new Progress().during(`signing ${image} as ${flags.identity}`, () =>
      signImage({
        image,
        identity: flags.identity,
        password,
        ...(flags.pds ? { pds: flags.pds } : {}),
        plcDirectory: flags.plcDirectory,
        ...(flags.handleResolver ? { handleResolverUrl: flags.handleResolver } : {}),
        allowPrivateNetwork: flags.allowPrivateNetwork === true,
        embedProof: flags.embedProof === true,
        ...(flags.atcrRegistry ? { atcrRegistries: flags.atcrRegistry } : {}),
        registryFor,
      }),
    );
  } finally {
    registryFor.closeAll();
  }
  if (flags.output === 'json') {
    process.stdout.write(`${JSON.stringify(signed, null, 2)}\n`);
  } else {
    process.stdout.write(
      [
        `SIGNED  ${signed.pinned}`,
        `  signer      ${signed.handle ? `${signed.handle} (${signed.did}; handle verified both ways)` : `${signed.did} (no handle written: ${signed.handleUnverified ?? 'not verified'})`}`,
        `  record      ${signed.recordUri} (${signed.recordCid}), repository ${signed.repository}`,
        `  commit      ${signed.commitCid} (rev ${signed.commitRev})`,
        `  referrer    ${signed.referrer}${signed.embeddedProof ? ' (proof embedded: verifies without the PDS)' : ''}`,
        '',
      ].join('\n'),
    );
  }
  return 0;
}
