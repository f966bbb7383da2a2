/**
 * A did:plc identity replayed from the PLC directory's signed operation log
 * (`GET {plc}/{did}/log/audit`) instead of read from the DID document the directory renders
 * (SPEC section 3 step 2; did:plc spec v0.3 "Audit Logs" and "Key Rotation & Account Recovery").
 * The directory is then trusted for availability and ordering only, never for keys: every
 * operation must be signed by a rotation key its predecessor authorised, back to a genesis
 * operation whose hash is the DID itself, so a directory cannot substitute a signing key or PDS.
 *
 * What a log cannot prove (the spec's "PLC Server Trust Model"): that it is complete (a directory
 * can withhold the newest operations and serve an older, once-valid state) and when operations
 * arrived (`createdAt` is the directory's word, and it decides the 72-hour recovery window).
 */
import * as dagCbor from '@ipld/dag-cbor';
import { sha256 } from '../atproto/sha256.js';
import { base32 } from 'multiformats/bases/base32';
import { cidForDagCbor, parseCid } from '../atproto/cid.js';
import { formatMultikey, parseDidKey, verifyEcdsaSignature, type AtprotoPublicKey } from '../atproto/keys.js';
import { VerificationError } from '../errors.js';
import { checkPdsEndpoint, firstHandle, type AtprotoIdentity } from './atproto-identity.js';

/** More operations than any account makes in years (the directory allows 10 an hour, 30 a day). */
export const MAX_PLC_LOG_ENTRIES = 256;
/** The spec's anti-abuse limit on one operation, as DAG-CBOR. */
export const MAX_PLC_OPERATION_BYTES = 7500;
/**
 * ECDSA verifications one log may cost (2-4 ms each here): a log names its own DID, so an
 * attacker's DID can be made expensive; honest logs are signed by their first or second key.
 */
export const MAX_PLC_SIGNATURE_CHECKS = 2 * MAX_PLC_LOG_ENTRIES;
/** A higher-priority rotation key may nullify operations at most this long after they arrived. */
export const PLC_RECOVERY_WINDOW_MS = 72 * 60 * 60 * 1000;

export interface PlcService {
  type: string;
  endpoint: string;
}

/** The DID data an operation sets (a legacy `create` operation normalised as the spec says). */
export interface PlcState {
  rotationKeys: readonly string[];
  verificationMethods: Readonly<Record<string, string>>;
  alsoKnownAs: readonly string[];
  services: Readonly<Record<string, PlcService>>;
}

/** The outcome of replaying a log: the operation in force and its data (null once tombstoned). */
export interface PlcLogReplay {
  did: string;
  headCid: string;
  headCreatedAt: string;
  state: PlcState | null;
  /** Operations in the chain in force, genesis included. */
  activeOperations: number;
  /** Operations a recovery fork nullified. */
  nullifiedOperations: number;
}

/** What the proof chain takes from the log, plus what an audit of it may want to report. */
export interface PlcIdentity extends AtprotoIdentity {
  alsoKnownAs: readonly string[];
  rotationKeys: readonly string[];
  headCid: string;
  activeOperations: number;
  nullifiedOperations: number;
}

/** The audit log URL of a did:plc in a directory. */
export function plcAuditLogUrl(did: string, plcDirectory: string): string {
  return `${plcDirectory.replace(/\/+$/, '')}/${did}/log/audit`;
}

/**
 * Replays a did:plc audit log and derives the atproto identity from the operation in force:
 * its `atproto` verification method, its `atproto_pds` service and its first `at://` alias.
 * A log that does not verify is PLC_LOG_INVALID; a tombstoned DID is DID_RESOLUTION_FAILED; a
 * valid DID without a usable atproto key or PDS is DID_DOCUMENT_INVALID (or KEY_UNSUPPORTED).
 */
export function verifyPlcAuditLog(did: string, entries: unknown, options: { allowPrivateNetwork: boolean }): PlcIdentity {
  const log = replayPlcAuditLog(did, entries);
  if (log.state === null) {
    throw new VerificationError('DID_RESOLUTION_FAILED', `${did} has been deactivated (its PLC operation log ends in a tombstone, ${log.headCid})`);
  }
  const { verificationMethods, services, alsoKnownAs, rotationKeys } = log.state;
  const atprotoKey = Object.hasOwn(verificationMethods, 'atproto') ? verificationMethods['atproto'] : undefined;
  if (atprotoKey === undefined) {
    throw new VerificationError('DID_DOCUMENT_INVALID', `${did}: the PLC operation in force (${log.headCid}) has no verificationMethods.atproto signing key`);
  }
  const pds = Object.hasOwn(services, 'atproto_pds') ? services['atproto_pds'] : undefined;
  if (pds === undefined || pds.type !== 'AtprotoPersonalDataServer') {
    throw new VerificationError(
      'DID_DOCUMENT_INVALID',
      `${did}: the PLC operation in force (${log.headCid}) has no services.atproto_pds of type AtprotoPersonalDataServer`,
    );
  }
  const pdsEndpoint = checkPdsEndpoint(pds.endpoint, did, options.allowPrivateNetwork);
  const signingKey = parseDidKey(atprotoKey);
  return {
    did,
    signingKey,
    signingKeyMultibase: formatMultikey(signingKey),
    pdsEndpoint,
    claimedHandle: firstHandle(alsoKnownAs),
    alsoKnownAs,
    rotationKeys,
    headCid: log.headCid,
    activeOperations: log.activeOperations,
    nullifiedOperations: log.nullifiedOperations,
  };
}

/** One operation as served, checked for shape and encoded the way it was signed. */
interface ParsedOperation {
  prev: string | null;
  sig: string;
  /** null for a tombstone. */
  state: PlcState | null;
  /** DAG-CBOR of the signed operation: hashed for its CID (and, for genesis, the DID). */
  signedBytes: Uint8Array;
  /** DAG-CBOR of the operation without `sig`: what the rotation key signed. */
  unsignedBytes: Uint8Array;
}

interface ParsedEntry {
  operation: ParsedOperation;
  cid: string;
  nullified: boolean;
  createdAt: string;
  createdAtMs: number;
}

/** Builds the PLC_LOG_INVALID error for one log, naming its DID. */
type Invalid = (reason: string, cause?: unknown) => VerificationError;

/** An operation accepted so far, with what the recovery rules need to know about it. */
interface LogNode {
  index: number;
  createdAtMs: number;
  state: PlcState | null;
  /** Rotation keys still allowed to sign a successor: narrowed to higher priority by each child. */
  allowedKeys: readonly string[];
  /** The most recent operation whose `prev` is this one. */
  lastChild: string | undefined;
  nullified: boolean;
}

/**
 * Replays an audit log in the order served, applying the rules the directory applies when it
 * accepts an operation (the reference implementations' assureValidNextOp / VerifyOperation):
 *   - entry 0 is a genesis operation (`prev` null) whose signed DAG-CBOR hashes to the DID
 *     (sha256, base32 lower case, first 24 characters), signed by one of its own rotation keys;
 *   - every later operation names an earlier, non-nullified, non-tombstone operation as `prev`
 *     (by CID) and is signed by a key that operation still allows: all its rotation keys for the
 *     first successor, and for a fork only keys of higher priority (lower index) than the one
 *     that signed the previous successor;
 *   - a fork nullifies the successors of its `prev`, each of which must have arrived at most 72
 *     hours before the fork; `createdAt` strictly increases along the log;
 *   - signatures are 64-byte r||s, low-S, in unpadded canonical base64url; each entry's `cid` is
 *     its operation's CID and its `nullified` flag is what the replay concludes.
 * The last entry is then the operation in force.
 */
export function replayPlcAuditLog(did: string, entries: unknown): PlcLogReplay {
  const invalid: Invalid = (reason, cause) => new VerificationError('PLC_LOG_INVALID', `PLC operation log of ${did}: ${reason}`, { cause });
  if (!Array.isArray(entries)) throw invalid(`expected a JSON array of log entries, got ${describe(entries)}`);
  if (entries.length === 0) throw invalid('the log is empty');
  if (entries.length > MAX_PLC_LOG_ENTRIES) throw invalid(`${entries.length} entries; at most ${MAX_PLC_LOG_ENTRIES} are accepted`);

  const nodes = new Map<string, LogNode>();
  const served: ParsedEntry[] = [];
  const keys = new RotationKeys(invalid);
  let head: LogNode | undefined;

  for (let i = 0; i < entries.length; i++) {
    const entry = parseEntry(entries[i], i, did, invalid);
    const op = entry.operation;
    if (nodes.has(entry.cid)) throw invalid(`entry ${i} repeats operation ${entry.cid}`);
    let prev: LogNode | undefined;
    let allowed: readonly string[];
    if (head === undefined) {
      if (op.prev !== null || op.state === null) throw invalid('entry 0 is not a genesis operation (prev null, not a tombstone)');
      const derived = plcDidForGenesis(op.signedBytes);
      if (derived !== did) throw invalid(`its genesis operation ${entry.cid} hashes to ${derived}, not to this DID`);
      allowed = op.state.rotationKeys;
    } else {
      if (op.prev === null) throw invalid(`entry ${i} is a second genesis operation (prev null)`);
      prev = nodes.get(op.prev);
      if (prev === undefined) throw invalid(`entry ${i}: its prev is not an earlier operation in the log`);
      if (prev.nullified) throw invalid(`entry ${i} extends entry ${prev.index}, which a recovery nullified`);
      if (prev.state === null) throw invalid(`entry ${i} extends entry ${prev.index}, a tombstone`);
      // Both a plain update (prev is the head) and a fork must come after the current head.
      if (entry.createdAtMs <= head.createdAtMs) throw invalid(`entry ${i} (createdAt ${new Date(entry.createdAtMs).toISOString()}) is not later than the operation it follows`);
      allowed = prev.allowedKeys;
    }

    const signer = keys.findSigner(op, allowed, i, prev === undefined ? 'its own rotation keys' : `the rotation keys entry ${prev.index} still allows`);

    if (prev !== undefined) {
      // A fork: the successors of prev, up to the head, are nullified (recovery window permitting).
      for (let cid = prev.lastChild; cid !== undefined; ) {
        const later = nodes.get(cid)!;
        if (entry.createdAtMs - later.createdAtMs > PLC_RECOVERY_WINDOW_MS) {
          throw invalid(`entry ${i} nullifies entry ${later.index} more than 72 hours after it arrived`);
        }
        later.nullified = true;
        cid = later.lastChild;
      }
      prev.allowedKeys = prev.allowedKeys.slice(0, signer);
      prev.lastChild = entry.cid;
    }
    head = { index: i, createdAtMs: entry.createdAtMs, state: op.state, allowedKeys: op.state?.rotationKeys ?? [], lastChild: undefined, nullified: false };
    nodes.set(entry.cid, head);
    served.push(entry);
  }

  // Only now is each entry's fate known: the directory's flags must agree with the replay.
  let nullifiedOperations = 0;
  served.forEach((entry, i) => {
    const node = nodes.get(entry.cid)!;
    if (node.nullified !== entry.nullified) {
      throw invalid(`entry ${i} is marked nullified=${entry.nullified}, but its recovery history says ${node.nullified}`);
    }
    if (node.nullified) nullifiedOperations++;
  });
  const last = served[served.length - 1]!;
  return {
    did,
    headCid: last.cid,
    headCreatedAt: last.createdAt,
    state: head!.state,
    activeOperations: served.length - nullifiedOperations,
    nullifiedOperations,
  };
}

/** `did:plc:` + the first 24 characters of base32(sha256(signed genesis DAG-CBOR)). */
export function plcDidForGenesis(signedGenesis: Uint8Array): string {
  return `did:plc:${base32.baseEncode(sha256(signedGenesis)).slice(0, 24)}`;
}

/** Rotation keys parsed once per log, and the signature budget of the log. */
class RotationKeys {
  private readonly parsed = new Map<string, AtprotoPublicKey>();
  private checks = 0;

  constructor(private readonly invalid: Invalid) {}

  /** The index in `allowed` of the first key that signed `op`, as the recovery rules rank keys. */
  findSigner(op: ParsedOperation, allowed: readonly string[], index: number, whose: string): number {
    const sig = decodeSignature(op.sig);
    if (sig === undefined) {
      throw this.invalid(`entry ${index}: sig is not a 64-byte signature in unpadded canonical base64url (86 characters)`);
    }
    for (let k = 0; k < allowed.length; k++) {
      const key = this.key(allowed[k]!, index);
      if (++this.checks > MAX_PLC_SIGNATURE_CHECKS) throw this.invalid(`verifying it takes more than ${MAX_PLC_SIGNATURE_CHECKS} signature checks`);
      // verifyEcdsaSignature refuses high-S twins, so a re-encoded signature cannot mint a new CID.
      if (verifyEcdsaSignature(key, op.unsignedBytes, sig)) return k;
    }
    throw this.invalid(`entry ${index} is not signed by any of ${whose} (${allowed.length})`);
  }

  private key(didKey: string, index: number): AtprotoPublicKey {
    let key = this.parsed.get(didKey);
    if (key === undefined) {
      try {
        key = parseDidKey(didKey);
      } catch (err) {
        throw this.invalid(`a rotation key tried for entry ${index} is not a K-256 or P-256 did:key`, err);
      }
      this.parsed.set(didKey, key);
    }
    return key;
  }
}

/** Canonical unpadded base64url of exactly 64 bytes: any other spelling would be a second CID for one signature. */
function decodeSignature(sig: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]{86}$/.test(sig)) return undefined;
  const bytes = Buffer.from(sig, 'base64url');
  // The last character carries 4 padding bits; re-encoding catches any that are not zero.
  if (bytes.length !== 64 || bytes.toString('base64url') !== sig) return undefined;
  return new Uint8Array(bytes);
}

/** RFC 3339 with a time zone, as the directory writes `createdAt`. */
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function parseEntry(raw: unknown, index: number, did: string, invalid: Invalid): ParsedEntry {
  if (!isJsonObject(raw)) throw invalid(`entry ${index} is ${describe(raw)}, not an object`);
  if (raw['did'] !== did) throw invalid(`entry ${index} is for ${typeof raw['did'] === 'string' ? 'another DID' : describe(raw['did'])}`);
  const { cid, nullified, createdAt } = raw;
  if (typeof cid !== 'string') throw invalid(`entry ${index} has no cid`);
  if (typeof nullified !== 'boolean') throw invalid(`entry ${index} has no boolean nullified flag`);
  const createdAtMs = typeof createdAt === 'string' && DATETIME.test(createdAt) ? Date.parse(createdAt) : NaN;
  if (!Number.isFinite(createdAtMs)) throw invalid(`entry ${index}: createdAt is ${describe(createdAt)}, not an RFC 3339 datetime`);
  const operation = parseOperation(raw['operation'], index, invalid);
  const computed = cidForDagCbor(operation.signedBytes).toString();
  if (cid !== computed) throw invalid(`entry ${index}: its cid is not the CID of its operation (${computed})`);
  return { operation, cid, nullified, createdAt: createdAt as string, createdAtMs };
}

/** The three operation shapes of the spec, exactly: a field more or less is another operation. */
const SHAPES = {
  plc_operation: ['type', 'rotationKeys', 'verificationMethods', 'alsoKnownAs', 'services', 'prev', 'sig'],
  create: ['type', 'signingKey', 'recoveryKey', 'handle', 'service', 'prev', 'sig'],
  plc_tombstone: ['type', 'prev', 'sig'],
} as const;

function parseOperation(raw: unknown, index: number, invalid: Invalid): ParsedOperation {
  const bad = (reason: string, cause?: unknown) => invalid(`entry ${index}: operation ${reason}`, cause);
  if (!isJsonObject(raw)) throw bad(`is ${describe(raw)}, not an object`);
  const type = raw['type'];
  if (type !== 'plc_operation' && type !== 'create' && type !== 'plc_tombstone') throw bad(`has an unknown type (${describe(type)})`);
  const fields = SHAPES[type] as readonly string[];
  const extra = Object.keys(raw).find((k) => !fields.includes(k));
  if (extra !== undefined) throw bad(`(${type}) has an unexpected field`);
  const missing = fields.find((k) => !Object.hasOwn(raw, k));
  if (missing !== undefined) throw bad(`(${type}) lacks ${missing}`);
  const { prev, sig } = raw;
  if (!isText(sig)) throw bad('sig is not a string');
  if (!(prev === null || isText(prev))) throw bad('prev is neither null nor a string');
  if (typeof prev === 'string') parseCid(prev, { code: 'PLC_LOG_INVALID', what: `prev of entry ${index}`, dagCborOnly: true });

  let state: PlcState | null;
  if (type === 'plc_tombstone') {
    if (prev === null) throw bad('is a tombstone without prev');
    state = null;
  } else if (type === 'create') {
    // Legacy genesis format (spec "deprecated legacy operation format"), normalised as the spec says.
    const { signingKey, recoveryKey, handle, service } = raw;
    if (!isText(signingKey) || !isText(recoveryKey) || !isText(handle) || !isText(service)) throw bad('(create) has a field that is not a string');
    if (prev !== null) throw bad('(create) has a prev; legacy operations only create DIDs');
    state = {
      rotationKeys: [recoveryKey, signingKey],
      verificationMethods: { atproto: signingKey },
      alsoKnownAs: [handle.startsWith('at://') ? handle : `at://${handle.replace(/^https?:\/\//, '')}`],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: /^https?:\/\//.test(service) ? service : `https://${service}` } },
    };
  } else {
    state = parseState(raw, bad);
  }

  let signedBytes: Uint8Array;
  let unsignedBytes: Uint8Array;
  try {
    signedBytes = dagCbor.encode(raw);
    unsignedBytes = dagCbor.encode(Object.fromEntries(Object.entries(raw).filter(([k]) => k !== 'sig')));
  } catch (err) {
    throw bad('cannot be encoded as DAG-CBOR', err);
  }
  if (signedBytes.length > MAX_PLC_OPERATION_BYTES) throw bad(`is ${signedBytes.length} bytes of DAG-CBOR; the limit is ${MAX_PLC_OPERATION_BYTES}`);
  return { prev, sig, state, signedBytes, unsignedBytes };
}

function parseState(raw: Record<string, unknown>, bad: (reason: string) => VerificationError): PlcState {
  const { rotationKeys, verificationMethods, alsoKnownAs, services } = raw;
  if (!Array.isArray(rotationKeys) || !rotationKeys.every(isText)) throw bad('rotationKeys is not an array of strings');
  if (!Array.isArray(alsoKnownAs) || !alsoKnownAs.every(isText)) throw bad('alsoKnownAs is not an array of strings');
  if (!isJsonObject(verificationMethods) || !Object.values(verificationMethods).every(isText)) {
    throw bad('verificationMethods is not a map of strings');
  }
  if (!isJsonObject(services)) throw bad('services is not a map');
  for (const [id, service] of Object.entries(services)) {
    const fields = isJsonObject(service) ? Object.keys(service) : [];
    if (!isJsonObject(service) || fields.length !== 2 || !isText(service['type']) || !isText(service['endpoint'])) {
      throw bad('has a service that is not exactly {type, endpoint} strings');
    }
  }
  return {
    rotationKeys: rotationKeys as string[],
    verificationMethods: verificationMethods as Record<string, string>,
    alsoKnownAs: alsoKnownAs as string[],
    services: services as Record<string, PlcService>,
  };
}

/** A plain JSON object (not an array or null). */
function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

/** A string that UTF-8 can carry as is: a lone surrogate would be signed as U+FFFD but used as itself. */
function isText(value: unknown): value is string {
  return typeof value === 'string' && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value);
}

function describe(value: unknown): string {
  // The log is the directory's text: its strings are described, never quoted (issue 15).
  if (typeof value === 'string') return 'a string';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}
