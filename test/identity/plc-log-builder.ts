/**
 * Builds signed did:plc operations and audit logs in memory (our own signer, not @did-plc/lib),
 * for stand-in directories that must serve a log which really verifies (fault and SSRF servers)
 * and for logs no directory would accept (too costly, hostile shapes). Logs that a real directory
 * can produce are taken from the real one (startAtprotoNetwork) instead.
 */
import * as dagCbor from '@ipld/dag-cbor';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { cidForDagCbor } from '../../src/atproto/cid.js';
import { formatDidKey } from '../../src/atproto/keys.js';
import { plcDidForGenesis } from '../../src/identity/plc-audit-log.js';

export interface PlcTestKey {
  /** `did:key:z...` of the public key. */
  did: string;
  /** Compact r||s, low-S, over sha256(message). */
  sign(message: Uint8Array): Uint8Array;
}

export interface PlcLogEntry {
  did: string;
  operation: Record<string, unknown>;
  cid: string;
  nullified: boolean;
  createdAt: string;
}

/** A rotation key; `highS` makes it sign the malleable twin (s > n/2) that the spec forbids. */
export function newPlcKey(curve: 'k256' | 'p256' = 'k256', options: { highS?: boolean } = {}): PlcTestKey {
  const impl = curve === 'k256' ? secp256k1 : p256;
  const secret = impl.utils.randomSecretKey();
  return {
    did: formatDidKey({ curve, compressed: impl.getPublicKey(secret, true) }),
    sign: (message) => {
      const sig = impl.sign(message, secret, { prehash: true, lowS: true, format: 'compact' });
      if (!options.highS) return sig;
      const low = impl.Signature.fromBytes(sig, 'compact');
      return new impl.Signature(low.r, impl.Point.Fn.ORDER - low.s).toBytes('compact');
    },
  };
}

/** The operation with `sig`: unpadded base64url of the signature over its DAG-CBOR. */
export function signPlcOperation(unsigned: Record<string, unknown>, key: PlcTestKey): Record<string, unknown> {
  return { ...unsigned, sig: Buffer.from(key.sign(dagCbor.encode(unsigned))).toString('base64url') };
}

export function plcOperationCid(operation: Record<string, unknown>): string {
  return cidForDagCbor(dagCbor.encode(operation)).toString();
}

export function plcLogEntry(did: string, operation: Record<string, unknown>, createdAt: Date, nullified = false): PlcLogEntry {
  return { did, operation, cid: plcOperationCid(operation), nullified, createdAt: createdAt.toISOString() };
}

export interface AtprotoOperationFields {
  /** `did:key:...` of the atproto signing key. */
  signingKey: string;
  pds: string;
  handle?: string;
  rotationKeys: readonly PlcTestKey[];
}

/** An unsigned `plc_operation` carrying an atproto identity. */
export function atprotoOperation(fields: AtprotoOperationFields, prev: string | null): Record<string, unknown> {
  return {
    type: 'plc_operation',
    rotationKeys: fields.rotationKeys.map((k) => k.did),
    verificationMethods: { atproto: fields.signingKey },
    alsoKnownAs: fields.handle ? [`at://${fields.handle}`] : [],
    services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: fields.pds } },
    prev,
  };
}

/** A one-operation log: a genesis signed by the first rotation key, and the DID it defines. */
export function genesisLog(fields: AtprotoOperationFields, createdAt = new Date()): { did: string; log: PlcLogEntry[] } {
  const genesis = signPlcOperation(atprotoOperation(fields, null), fields.rotationKeys[0]!);
  const did = plcDidForGenesis(dagCbor.encode(genesis));
  return { did, log: [plcLogEntry(did, genesis, createdAt)] };
}
