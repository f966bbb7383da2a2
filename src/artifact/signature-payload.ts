// Compiled from schemas/signature-payload.schema.json at build time (scripts/compile-schemas.mjs).
import { validate as validator } from './signature-payload-validator.generated.js';
import { VerificationError } from '../errors.js';

/** Media and artifact type of ATCR's ATProto signature referrer (SPEC section 2). */
export const SIGNATURE_ARTIFACT_TYPE = 'application/vnd.atproto.signature.v1+json';
export const SIGNATURE_PAYLOAD_TYPE = 'io.atcr.atprotoSignature';
export const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;
/**
 * Referrer manifest (and index descriptor) annotation naming the signer's DID. An untrusted hint
 * used only to ORDER referrers before fetching them (issue 12); the payload and proof decide.
 */
export const SIGNER_ANNOTATION = 'dev.atproto-verifier.signer';

/** The signature payload: every field is an untrusted hint saying where to look. */
export interface SignaturePayload {
  $type: typeof SIGNATURE_PAYLOAD_TYPE;
  version?: string;
  subject: { digest: string; mediaType?: string };
  atproto: {
    did: string;
    handle?: string;
    pdsEndpoint?: string;
    recordUri: string;
    recordCid?: string;
    commitCid?: string;
    commitRev?: string;
    signedAt?: string;
  };
  signature?: { algorithm?: string; keyId?: string; publicKeyMultibase?: string };
  proof?: { car: string };
  [extra: string]: unknown;
}


/** Parses payload bytes (or an already parsed object) into a SignaturePayload, naming the bad field. */
export function parseSignaturePayload(input: Uint8Array | unknown): SignaturePayload {
  let value: unknown = input;
  if (input instanceof Uint8Array) {
    if (input.length > MAX_PAYLOAD_BYTES) {
      throw new VerificationError('ARTIFACT_INVALID', `signature payload is ${input.length} bytes, above the ${MAX_PAYLOAD_BYTES} byte cap`);
    }
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(input));
    } catch (err) {
      throw new VerificationError('ARTIFACT_INVALID', `signature payload is not valid UTF-8 JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (!validator(value)) {
    const e = validator.errors?.[0];
    const where = e ? `${e.instancePath || '/'}${e.keyword === 'required' ? `/${(e.params as { missingProperty: string }).missingProperty}` : ''}` : '/';
    const what = e?.keyword === 'required' ? 'is required' : (e?.message ?? 'is invalid');
    throw new VerificationError('ARTIFACT_INVALID', `signature payload field ${where} ${what}`);
  }
  return value as SignaturePayload;
}

/** Decodes the embedded CAR proof (our `proof.car` extension), if any. */
export function embeddedProof(payload: SignaturePayload): Uint8Array | undefined {
  if (!payload.proof) return undefined;
  return new Uint8Array(Buffer.from(payload.proof.car, 'base64'));
}
