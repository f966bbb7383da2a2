/**
 * Every failure of the proof chain is a VerificationError with a code from one closed union,
 * so an operator can tell from the code alone which step of SPEC.md section 3 broke.
 */

/** The steps of the proof chain, in the order `verify()` runs them. */
export type VerificationStep =
  | 'input' // configuration, arguments, the request itself
  | 'artifact' // referrer manifest and signature payload (untrusted hints)
  | 'registry' // talking to the OCI registry
  | 'identity' // DID resolution and the DID document
  | 'network' // outbound fetch guard (SSRF, timeouts, size caps)
  | 'proof' // CAR, CBOR, CIDs, MST inclusion
  | 'commit' // commit structure and signature
  | 'record' // the io.atcr.manifest record and what it claims
  | 'policy' // trust policy load and evaluation
  | 'internal';

interface CodeInfo {
  step: VerificationStep;
  remediation: string;
}

const CODES = {
  INPUT_INVALID: { step: 'input', remediation: 'Fix the configuration or arguments named in the message.' },
  ARTIFACT_INVALID: {
    step: 'artifact',
    remediation: 'Re-sign the image: the ATProto signature artifact is malformed or incomplete.',
  },
  ARTIFACT_NOT_FOUND: {
    step: 'artifact',
    remediation: 'Sign the image (atproto-verifier sign, or push it through ATCR) so it has an ATProto signature referrer.',
  },
  ARTIFACT_DIGEST_MISMATCH: {
    step: 'artifact',
    remediation: 'The registry served bytes that do not match their digest: treat the registry as compromised or corrupt.',
  },
  SUBJECT_MISMATCH: {
    step: 'artifact',
    remediation: 'The signature artifact belongs to another image: re-sign this image.',
  },
  REGISTRY_AUTH_FAILED: {
    step: 'registry',
    remediation: 'Provide registry credentials in the docker config.json (auths) the verifier reads.',
  },
  REGISTRY_UNREACHABLE: {
    step: 'registry',
    remediation: 'Check that the registry is up and reachable from the verifier, and the store settings (useHttp).',
  },
  REGISTRY_ERROR: { step: 'registry', remediation: 'Check the image reference and the registry logs.' },
  DID_INVALID: { step: 'identity', remediation: 'The DID is not a well-formed did:plc or did:web identifier.' },
  DID_RESOLUTION_FAILED: {
    step: 'identity',
    remediation: 'Check that the PLC directory (plcDirectory) or the did:web host is reachable and knows this DID.',
  },
  DID_DOCUMENT_INVALID: {
    step: 'identity',
    remediation: 'The DID document lacks a usable #atproto key or #atproto_pds endpoint: fix the identity.',
  },
  PLC_LOG_INVALID: {
    step: 'identity',
    remediation:
      "The PLC directory's signed operation log for this DID does not verify (genesis hash, prev chain, rotation-key signatures or recovery rules): treat the directory's answer as forged or corrupt and do not trust this identity.",
  },
  KEY_UNSUPPORTED: {
    step: 'identity',
    remediation: 'Only K-256 and P-256 keys are valid atproto signing keys: rotate to one of them.',
  },
  NETWORK_DENIED: {
    step: 'network',
    remediation:
      "The URL points at a private, loopback, link-local or non-https address. For an in-cluster registry, allow that registry alone in the trust policy's registries section (allowPrivateNetwork / allowHttp); set the global allowPrivateNetwork only for test networks.",
  },
  NETWORK_TIMEOUT: {
    step: 'network',
    remediation: 'The remote did not answer in time: check it, or raise didResolverTimeout / pdsTimeout.',
  },
  NETWORK_ERROR: { step: 'network', remediation: 'Check connectivity from the verifier to the named host.' },
  RESPONSE_TOO_LARGE: {
    step: 'network',
    remediation: 'The remote sent more bytes than the verifier accepts: it may be hostile.',
  },
  PDS_FETCH_FAILED: {
    step: 'proof',
    remediation: 'Check that the PDS in the DID document is reachable and still hosts the repository.',
  },
  RECORD_NOT_FOUND: {
    step: 'proof',
    remediation: 'The signing record no longer exists in the publisher repository (deleted or never written): re-sign.',
  },
  CAR_INVALID: { step: 'proof', remediation: 'The PDS returned a malformed CAR proof: treat it as hostile or corrupt.' },
  CBOR_INVALID: { step: 'proof', remediation: 'A proof block is not canonical DAG-CBOR: treat it as hostile or corrupt.' },
  CID_MISMATCH: { step: 'proof', remediation: 'A proof block does not hash to its CID: the proof was tampered with.' },
  MST_INVALID: { step: 'proof', remediation: 'The repository tree in the proof is malformed or incomplete.' },
  RECORD_NOT_IN_COMMIT: {
    step: 'proof',
    remediation: 'The signed commit does not contain the record: the proof was swapped or the record removed.',
  },
  COMMIT_INVALID: { step: 'commit', remediation: 'The commit block is not a valid atproto v3 commit.' },
  COMMIT_DID_MISMATCH: {
    step: 'commit',
    remediation: 'The commit belongs to another repository than the claimed signer: the proof was swapped.',
  },
  SIGNATURE_INVALID: {
    step: 'commit',
    remediation: 'The commit signature does not verify with the DID document key (tampered, or the key was rotated since).',
  },
  RECORD_INVALID: { step: 'record', remediation: 'The io.atcr.manifest record is malformed: re-sign the image.' },
  RECORD_CID_MISMATCH: {
    step: 'record',
    remediation: 'The record in the proof is not the one the artifact names: re-sign the image.',
  },
  DIGEST_MISMATCH: {
    step: 'record',
    remediation: 'The signed record is for another image digest: this image was not signed by this identity.',
  },
  REPOSITORY_MISMATCH: {
    step: 'record',
    remediation: 'The image path names another repository or identity than the signed record.',
  },
  POLICY_INVALID: { step: 'policy', remediation: 'Fix the trust policy file at the line or path named.' },
  NO_POLICY: {
    step: 'policy',
    remediation: 'Add a policy whose scope covers this image, or set defaultAction in the trust policy.',
  },
  UNTRUSTED_DID: {
    step: 'policy',
    remediation: "Add the signer's DID to the policy's trustedDIDs if you trust it; otherwise do not run this image.",
  },
  DID_EXPIRED: {
    step: 'policy',
    remediation: "The signer's trust window has ended (expiresAt): re-sign with a currently trusted identity or extend it.",
  },
  DID_NOT_YET_VALID: {
    step: 'policy',
    remediation: "The signature predates the signer's validFrom: re-sign, or correct validFrom.",
  },
  TOO_FEW_SIGNERS: {
    step: 'policy',
    remediation: 'Have each missing trusted identity sign the image too (atproto-verifier sign), or lower require.signers in the trust policy.',
  },
  KEY_NOT_PINNED: {
    step: 'policy',
    remediation: 'The signing key is not among the keys pinned for this DID in the trust policy.',
  },
  DEADLINE_EXCEEDED: {
    step: 'internal',
    remediation: 'Verification did not finish within its budget: retry, or check the PDS and registry latency.',
  },
  INTERNAL: { step: 'internal', remediation: 'This is a bug in atproto-verifier: please report it with the message.' },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof CODES;

export const ERROR_CODES = Object.keys(CODES) as ErrorCode[];

export class VerificationError extends Error {
  readonly code: ErrorCode;
  readonly step: VerificationStep;
  readonly remediation: string;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; remediation?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = 'VerificationError';
    this.code = code;
    this.step = CODES[code].step;
    this.remediation = options.remediation ?? CODES[code].remediation;
  }

  toJSON(): { code: ErrorCode; step: VerificationStep; message: string; remediation: string } {
    return { code: this.code, step: this.step, message: this.message, remediation: this.remediation };
  }
}

/** Wraps anything thrown into a VerificationError, so no caller ever sees a raw exception. */
export function asVerificationError(err: unknown, fallback: ErrorCode = 'INTERNAL'): VerificationError {
  if (err instanceof VerificationError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new VerificationError(fallback, message, { cause: err });
}

export function remediationFor(code: ErrorCode): string {
  return CODES[code].remediation;
}
