import { fetchSignatureArtifact } from '../src/artifact/fetch-signature-artifact.js';
import { SIGNATURE_ARTIFACT_TYPE } from '../src/artifact/signature-payload.js';
import { asVerificationError, VerificationError } from '../src/errors.js';
import { loadTrustPolicy } from '../src/policy/trust-policy.js';
import { RegistryClient } from '../src/registry/client.js';
import { loadRegistryCredentials } from '../src/registry/docker-config.js';
import { parseImageReference } from '../src/registry/reference.js';
import { settingsFromParameters, type VerifierSettings } from '../src/verify/settings.js';
import { failedOutcome, Verifier, type VerificationOutcome } from '../src/verify/verifier.js';
import { PluginError, PluginErrorCode, type PluginRequest, type VerifierResult } from './protocol.js';
import { toVerifierResult } from './result.js';

/** Keys of the verifier config that belong to Ratify itself, not to our parameters. */
// Ratify writes name (the CR's metadata.name), type, artifactTypes and source over the parameters,
// and reads version and nestedReferences itself (pkg/controllers/utils/verifier.go, v1.4.0).
const RATIFY_CONFIG_KEYS = new Set(['name', 'type', 'artifactTypes', 'source', 'version', 'nestedReferences']);

export interface PluginContext {
  log: (level: 'info' | 'warn' | 'debug', message: string) => void;
}

/** Reads the verifier parameters; configuration mistakes are protocol errors (code 2). */
function readSettings(request: PluginRequest, ctx: PluginContext): { settings: VerifierSettings; warnings: string[] } {
  const params = Object.fromEntries(Object.entries(request.config).filter(([k]) => !RATIFY_CONFIG_KEYS.has(k)));
  try {
    const { settings, unknown } = settingsFromParameters(params);
    const warnings = unknown.map((k) => `unknown verifier parameter "${k}" ignored`);
    for (const w of warnings) ctx.log('warn', w);
    if (!settings.trustPolicyPath) {
      throw new VerificationError('INPUT_INVALID', 'trustPolicyPath is required: the plugin never admits an image without a trust policy');
    }
    return { settings, warnings };
  } catch (err) {
    throw new PluginError(PluginErrorCode.InvalidVerifierConfig, asVerificationError(err).message);
  }
}

/** Builds the registry client from storeConfig, as Ratify's Go skeleton builds the ORAS store. */
function registryClientFor(request: PluginRequest, registry: string): RegistryClient {
  const store = request.storeConfig.store;
  if (store.name !== 'oras') {
    throw new PluginError(PluginErrorCode.ArgsParsing, `store "${store.name}" is not supported: this plugin reads referrers through an ORAS (OCI distribution) store`);
  }
  const authProvider = store.authProvider?.name ?? 'dockerConfig';
  if (authProvider !== 'dockerConfig') {
    throw new PluginError(
      PluginErrorCode.ArgsParsing,
      `store auth provider "${authProvider}" is not supported by this plugin: use dockerConfig (a docker config.json with the registry credentials)`,
    );
  }
  const configPath = store.authProvider?.configPath;
  const credentials = loadRegistryCredentials(registry, typeof configPath === 'string' ? { configPath } : {});
  return new RegistryClient({ registry, useHttp: store.useHttp === true, ...(credentials ? { credentials } : {}) });
}

/** One Ratify VERIFY call: fetch the referrer through the store, then run the engine on it. */
export async function verifyReference(request: PluginRequest, ctx: PluginContext): Promise<VerifierResult> {
  const id = { name: request.config.name, type: typeof request.config.type === 'string' ? request.config.type : request.config.name };
  const { settings, warnings } = readSettings(request, ctx);
  let outcome: VerificationOutcome;
  try {
    outcome = await verifyWithStore(request, settings, ctx);
  } catch (err) {
    if (err instanceof PluginError) throw err;
    outcome = failedOutcome(err);
  }
  ctx.log(outcome.isSuccess ? 'info' : 'warn', outcome.message);
  return toVerifierResult(outcome, id, warnings);
}

async function verifyWithStore(request: PluginRequest, settings: VerifierSettings, ctx: PluginContext): Promise<VerificationOutcome> {
  const subject = parseImageReference(request.subject);
  if (!subject.digest) {
    throw new VerificationError('INPUT_INVALID', `subject ${request.subject} is not pinned to a digest`);
  }
  const desc = request.referenceDesc;
  if (desc.artifactType !== undefined && desc.artifactType !== SIGNATURE_ARTIFACT_TYPE) {
    throw new VerificationError('ARTIFACT_INVALID', `reference ${desc.digest} has artifactType ${desc.artifactType}, not ${SIGNATURE_ARTIFACT_TYPE}`);
  }
  let policy;
  try {
    policy = await loadTrustPolicy(settings.trustPolicyPath!);
  } catch (err) {
    throw new PluginError(PluginErrorCode.InvalidVerifierConfig, asVerificationError(err).message);
  }
  const client = registryClientFor(request, subject.registry);
  ctx.log('debug', `fetching referrer ${desc.digest} from ${subject.registry}/${subject.repository}`);
  const artifact = await fetchSignatureArtifact(client, subject.repository, desc.digest, subject.digest);
  const verifier = new Verifier(settings, { policy });
  return verifier.verify({ subjectDigest: subject.digest, reference: request.subject, payload: artifact.payload });
}
