import { VerificationError } from '../errors.js';
import { isValidHandle, verifyHandle, type HandleResolver } from '../identity/handle.js';
import { resolveDid } from '../identity/resolve-did.js';

/**
 * What `sign` may claim about its signer (issue 20 item 4), established before anything is
 * written: the DID the `--identity` names, and a handle only when it is verified both ways (the
 * DID document claims it and it resolves back to the DID, SPEC section 3 step 7). The session
 * must then hold exactly this DID, whichever PDS it was opened on (`--pds` included).
 */
export interface ProvenIdentity {
  did: string;
  /** Verified both ways; absent otherwise (then never written into the signature). */
  handle?: string;
  /** Why no handle is written, when none is. */
  handleUnverified?: string;
  /** The PDS the DID document names. */
  pdsEndpoint: string;
}

export interface ProveOptions {
  resolver: HandleResolver;
  plcDirectory: string;
  timeoutMs: number;
  allowPrivateNetwork: boolean;
}

export async function proveIdentity(identity: string, opts: ProveOptions): Promise<ProvenIdentity> {
  const didOptions = { plcDirectory: opts.plcDirectory, timeoutMs: opts.timeoutMs, allowPrivateNetwork: opts.allowPrivateNetwork };
  if (identity.startsWith('did:')) {
    const document = await resolveDid(identity, didOptions);
    const status = await verifyHandle(document.claimedHandle, identity, { resolver: opts.resolver });
    return status.verified
      ? { did: identity, handle: status.handle, pdsEndpoint: document.pdsEndpoint }
      : { did: identity, handleUnverified: status.reason, pdsEndpoint: document.pdsEndpoint };
  }
  if (!isValidHandle(identity)) {
    throw new VerificationError('INPUT_INVALID', `--identity ${identity.slice(0, 100)} is neither a DID nor a valid handle`);
  }
  const handle = identity.toLowerCase();
  let did: string | undefined;
  try {
    did = await opts.resolver(handle);
  } catch (err) {
    throw new VerificationError('DID_RESOLUTION_FAILED', `handle ${handle} could not be resolved (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (!did) {
    throw new VerificationError('DID_RESOLUTION_FAILED', `handle ${handle} does not resolve to a DID, so sign cannot prove it is yours`, {
      remediation: 'Sign with your DID as --identity, or fix the handle (DNS TXT _atproto.<handle> or https://<handle>/.well-known/atproto-did; --handle-resolver for test networks).',
    });
  }
  const document = await resolveDid(did, didOptions);
  if (document.claimedHandle !== handle) {
    throw new VerificationError(
      'INPUT_INVALID',
      `handle ${handle} resolves to ${did}, but that DID's document claims ${document.claimedHandle ? `the handle ${document.claimedHandle}` : 'no handle'}: the handle is not verified both ways, so sign refuses to sign as it`,
      { remediation: 'Sign with your DID as --identity, or make the handle and the DID document agree.' },
    );
  }
  return { did, handle, pdsEndpoint: document.pdsEndpoint };
}
