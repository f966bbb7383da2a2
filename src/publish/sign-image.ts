import { buildSignaturePayload } from '../artifact/build-payload.js';
import { asVerificationError, VerificationError } from '../errors.js';
import { standardHandleResolver, xrpcHandleResolver } from '../identity/handle.js';
import type { RegistryClient } from '../registry/client.js';
import { parseImageReference } from '../registry/reference.js';
import { recordRepositoryFor } from '../verify/manifest-record.js';
import { DEFAULT_SETTINGS } from '../verify/settings.js';
import { attachSignature } from './attach-signature.js';
import { PdsSession } from './pds-session.js';
import { proveIdentity } from './prove-identity.js';

export interface SignRequest {
  image: string;
  /** Handle or DID of the signing account. */
  identity: string;
  password: string;
  /** PDS to log in to; by default the one in the account's DID document. */
  pds?: string;
  plcDirectory: string;
  /** Resolve the handle through this XRPC service (a PDS) instead of DNS and /.well-known. */
  handleResolverUrl?: string;
  allowPrivateNetwork: boolean;
  embedProof: boolean;
  registryFor: (registry: string) => RegistryClient;
  timeoutMs?: number;
  /** Registries whose paths must start with the signer (default atcr.io), as the verifier's setting. */
  atcrRegistries?: readonly string[];
}

export interface SignedImage {
  pinned: string;
  digest: string;
  did: string;
  /** Only when verified both ways; then it is also in the signature. */
  handle?: string;
  /** Why no handle was written, when none was. */
  handleUnverified?: string;
  pdsEndpoint: string;
  recordUri: string;
  recordCid: string;
  /** The repository the record names: the path after the signer's segment (ATCR layout), else registry/repository. */
  repository: string;
  commitCid: string;
  commitRev: string;
  referrer: string;
  embeddedProof: boolean;
}

/**
 * `sign`: prove the identity (its DID; its handle both ways), log in (a wrong password stops here,
 * before anything is written) and check the session holds that very DID, also on a PDS named by
 * `--pds`; then write the `io.atcr.manifest` record and attach the signature referrer. If
 * attaching fails, the record is deleted again, so no half-written signature is left behind.
 */
export async function signImage(req: SignRequest): Promise<SignedImage> {
  const ref = parseImageReference(req.image);
  const client = req.registryFor(ref.registry);
  const manifest = await client.getManifest(ref.repository, ref.digest ?? ref.tag ?? 'latest');
  const timeoutMs = req.timeoutMs ?? 15_000;
  const policy = { allowPrivateNetwork: req.allowPrivateNetwork, timeoutMs };
  const resolver = req.handleResolverUrl ? xrpcHandleResolver(req.handleResolverUrl, policy) : standardHandleResolver(policy);
  const proven = await proveIdentity(req.identity, { resolver, plcDirectory: req.plcDirectory, timeoutMs, allowPrivateNetwork: req.allowPrivateNetwork });
  const pdsEndpoint = req.pds ? req.pds.replace(/\/+$/, '') : proven.pdsEndpoint;
  const session = await PdsSession.login(pdsEndpoint, req.identity, req.password, req.timeoutMs);
  if (session.did !== proven.did) {
    throw new VerificationError(
      'INPUT_INVALID',
      `the session on ${pdsEndpoint} is for ${session.did}, but ${req.identity} is ${proven.did}: sign refuses to sign as an identity the session does not hold (nothing was written)`,
      { remediation: 'Log in to the PDS of the identity you sign as (drop --pds to use the one its DID document names).' },
    );
  }
  // The repository the verifier will expect for this path and signer (issue 20 item 5): one rule for both.
  // Only a handle verified both ways names the signer in a path, as the verifier reads it.
  const repository = recordRepositoryFor(ref, { did: session.did, ...(proven.handle ? { handle: proven.handle } : {}) }, req.atcrRegistries ?? DEFAULT_SETTINGS.atcrRegistries);
  const record = await session.createManifestRecord({ repository, digest: manifest.digest, mediaType: manifest.mediaType });
  try {
    const proofCar = req.embedProof ? await session.getRecordProof(record.rkey) : undefined;
    const payload = buildSignaturePayload({
      subjectDigest: manifest.digest,
      subjectMediaType: manifest.mediaType,
      did: session.did,
      ...(proven.handle ? { handle: proven.handle } : {}),
      pdsEndpoint,
      recordUri: record.uri,
      recordCid: record.cid,
      commitCid: record.commitCid,
      commitRev: record.commitRev,
      ...(proofCar ? { proofCar } : {}),
    });
    const referrer = await attachSignature(
      client,
      ref.repository,
      { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length },
      new TextEncoder().encode(JSON.stringify(payload)),
      { signer: session.did },
    );
    return {
      pinned: `${ref.registry}/${ref.repository}@${manifest.digest}`,
      digest: manifest.digest,
      did: session.did,
      ...(proven.handle ? { handle: proven.handle } : { handleUnverified: proven.handleUnverified ?? 'no handle' }),
      pdsEndpoint,
      recordUri: record.uri,
      recordCid: record.cid,
      repository,
      commitCid: record.commitCid,
      commitRev: record.commitRev,
      referrer: referrer.digest,
      embeddedProof: proofCar !== undefined,
    };
  } catch (err) {
    try {
      await session.deleteManifestRecord(record.rkey);
    } catch (cleanup) {
      // The signing failed AND the record stayed: say so, or a later `sign` looks like a duplicate.
      const error = asVerificationError(err);
      throw new VerificationError(error.code, `${error.message}; the record ${record.uri} it wrote could not be deleted again (${asVerificationError(cleanup).message})`, {
        cause: err,
        remediation: `${error.remediation} Then delete ${record.uri} from your repository.`,
      });
    }
    throw err;
  }
}
