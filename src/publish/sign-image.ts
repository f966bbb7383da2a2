import { buildSignaturePayload } from '../artifact/build-payload.js';
import { asVerificationError, VerificationError } from '../errors.js';
import { standardHandleResolver, xrpcHandleResolver } from '../identity/handle.js';
import { resolveDid } from '../identity/resolve-did.js';
import type { RegistryClient } from '../registry/client.js';
import { parseImageReference } from '../registry/reference.js';
import { recordRepositoryFor } from '../verify/manifest-record.js';
import { DEFAULT_SETTINGS } from '../verify/settings.js';
import { attachSignature } from './attach-signature.js';
import { PdsSession } from './pds-session.js';

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
  handle: string;
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

/** Finds the account's PDS from its DID document (via its handle when given one). */
async function locatePds(req: SignRequest): Promise<string> {
  if (req.pds) return req.pds.replace(/\/+$/, '');
  const timeoutMs = req.timeoutMs ?? 15_000;
  let did = req.identity;
  if (!did.startsWith('did:')) {
    const policy = { allowPrivateNetwork: req.allowPrivateNetwork, timeoutMs };
    const resolver = req.handleResolverUrl ? xrpcHandleResolver(req.handleResolverUrl, policy) : standardHandleResolver(policy);
    const resolved = await resolver(req.identity);
    if (!resolved) throw new VerificationError('DID_RESOLUTION_FAILED', `handle ${req.identity} does not resolve to a DID; sign with your DID, or pass --pds`);
    did = resolved;
  }
  const identity = await resolveDid(did, { plcDirectory: req.plcDirectory, timeoutMs, allowPrivateNetwork: req.allowPrivateNetwork });
  return identity.pdsEndpoint;
}

/**
 * `sign`: log in first (a wrong password stops here, before anything is written), write the
 * `io.atcr.manifest` record, then attach the signature referrer. If attaching fails, the record is
 * deleted again, so no half-written signature is left behind.
 */
export async function signImage(req: SignRequest): Promise<SignedImage> {
  const ref = parseImageReference(req.image);
  const client = req.registryFor(ref.registry);
  const manifest = await client.getManifest(ref.repository, ref.digest ?? ref.tag ?? 'latest');
  const pdsEndpoint = await locatePds(req);
  const session = await PdsSession.login(pdsEndpoint, req.identity, req.password, req.timeoutMs);
  if (req.identity.startsWith('did:') && session.did !== req.identity) {
    throw new VerificationError('INPUT_INVALID', `logged in as ${session.did}, not the requested ${req.identity}`);
  }
  // The repository the verifier will expect for this path and signer (issue 20 item 5): one rule for both.
  const repository = recordRepositoryFor(ref, { did: session.did, handle: session.handle }, req.atcrRegistries ?? DEFAULT_SETTINGS.atcrRegistries);
  const record = await session.createManifestRecord({ repository, digest: manifest.digest, mediaType: manifest.mediaType });
  try {
    const proofCar = req.embedProof ? await session.getRecordProof(record.rkey) : undefined;
    const payload = buildSignaturePayload({
      subjectDigest: manifest.digest,
      subjectMediaType: manifest.mediaType,
      did: session.did,
      handle: session.handle,
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
    );
    return {
      pinned: `${ref.registry}/${ref.repository}@${manifest.digest}`,
      digest: manifest.digest,
      did: session.did,
      handle: session.handle,
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
