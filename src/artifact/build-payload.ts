import { SIGNATURE_PAYLOAD_TYPE, type SignaturePayload } from './signature-payload.js';

export interface PayloadFields {
  subjectDigest: string;
  subjectMediaType?: string;
  did: string;
  handle?: string;
  pdsEndpoint?: string;
  recordUri: string;
  recordCid?: string;
  commitCid?: string;
  commitRev?: string;
  signedAt?: string;
  /** Multikey of the signing key and its curve, as hints for humans (never trusted). */
  publicKeyMultibase?: string;
  algorithm?: 'ECDSA-K256-SHA256' | 'ECDSA-P256-SHA256';
  /** The getRecord CAR proof to embed, for offline verification. */
  proofCar?: Uint8Array;
}

/** Builds the ATCR-shaped signature payload (SPEC section 2), with our optional embedded proof. */
export function buildSignaturePayload(f: PayloadFields): SignaturePayload {
  return {
    $type: SIGNATURE_PAYLOAD_TYPE,
    version: '1.0',
    subject: { digest: f.subjectDigest, mediaType: f.subjectMediaType ?? 'application/vnd.oci.image.manifest.v1+json' },
    atproto: {
      did: f.did,
      ...(f.handle ? { handle: f.handle } : {}),
      ...(f.pdsEndpoint ? { pdsEndpoint: f.pdsEndpoint } : {}),
      recordUri: f.recordUri,
      ...(f.recordCid ? { recordCid: f.recordCid } : {}),
      ...(f.commitCid ? { commitCid: f.commitCid } : {}),
      ...(f.commitRev ? { commitRev: f.commitRev } : {}),
      signedAt: f.signedAt ?? new Date().toISOString(),
    },
    ...(f.publicKeyMultibase
      ? { signature: { algorithm: f.algorithm ?? 'ECDSA-K256-SHA256', keyId: `${f.did}#atproto`, publicKeyMultibase: f.publicKeyMultibase } }
      : {}),
    ...(f.proofCar ? { proof: { car: Buffer.from(f.proofCar).toString('base64') } } : {}),
  };
}
