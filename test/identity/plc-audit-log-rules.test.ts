/**
 * The replay rules of src/identity/plc-audit-log.ts, one table row per rule, on logs built here and
 * on the did-method-plc interop vectors: no directory needed, so the mutation run can use them
 * (the real-directory cases stay in plc-audit-log.test.ts). Each refusal must name the entry and
 * the rule it broke: that message is what an operator reads when a DID stops resolving.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as dagCbor from '@ipld/dag-cbor';
import { describe, expect, it } from 'vitest';
import {
  MAX_PLC_LOG_ENTRIES,
  MAX_PLC_OPERATION_BYTES,
  MAX_PLC_SIGNATURE_CHECKS,
  PLC_RECOVERY_WINDOW_MS,
  plcAuditLogUrl,
  plcDidForGenesis,
  replayPlcAuditLog,
  verifyPlcAuditLog,
} from '../../src/identity/plc-audit-log.js';
import { errorOf } from '../harness/error-code.js';
import { atprotoOperation, genesisLog, newPlcKey, plcLogEntry, plcOperationCid, signPlcOperation, type PlcLogEntry, type PlcTestKey } from './plc-log-builder.js';

const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms);
const HOUR = 60 * 60 * 1000;
const PUBLIC = { allowPrivateNetwork: false };
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** A DID whose genesis (signed by `high`) lists rotation keys [high, low], at T0. */
function newIdentity() {
  const high = newPlcKey();
  const low = newPlcKey();
  const signingKey = newPlcKey().did;
  const fields = { signingKey, pds: 'https://pds.example', handle: 'alice.test', rotationKeys: [high, low] };
  const { did, log } = genesisLog(fields, at(0));
  /** An update of `prev` signed by `signer`, `ms` after T0; `changes` edit the unsigned operation. */
  const op = (prev: string, signer: PlcTestKey, ms: number, changes: Record<string, unknown> = {}) =>
    plcLogEntry(did, signPlcOperation({ ...atprotoOperation(fields, prev), ...changes }, signer), at(ms));
  return { did, log, high, low, fields, op };
}

/** A genesis-only log whose operation is `unsigned` (edited as given), signed by `key`, with its own DID. */
function genesisOf(unsigned: Record<string, unknown>, key: PlcTestKey): { did: string; log: PlcLogEntry[] } {
  const signed = signPlcOperation(unsigned, key);
  const did = plcDidForGenesis(dagCbor.encode(signed));
  return { did, log: [plcLogEntry(did, signed, at(0))] };
}

const message = (did: string, entries: unknown) => errorOf(() => replayPlcAuditLog(did, entries));

describe('the log as a whole', () => {
  const did = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
  it.each([
    ['an object', { length: 1 }, 'expected a JSON array of log entries, got an object'],
    ['null', null, 'expected a JSON array of log entries, got null'],
    ['a string', '[]', 'expected a JSON array of log entries, got a string'],
    ['empty', [], 'the log is empty'],
  ])('%s is refused', (_name, entries, reason) => {
    const err = message(did, entries);
    expect(err.code).toBe('PLC_LOG_INVALID');
    expect(err.message).toBe(`PLC operation log of ${did}: ${reason}`);
  });

  it(`at most ${MAX_PLC_LOG_ENTRIES} entries: one more is refused before any is read`, () => {
    const entries = new Array(MAX_PLC_LOG_ENTRIES + 1).fill(null);
    expect(message(did, entries).message).toBe(`PLC operation log of ${did}: ${MAX_PLC_LOG_ENTRIES + 1} entries; at most ${MAX_PLC_LOG_ENTRIES} are accepted`);
    // Exactly the limit gets past the count (and fails on the first entry instead).
    expect(message(did, entries.slice(1)).message).toMatch(/entry 0 is null, not an object$/);
  });
});

describe('an entry, before its operation is looked at', () => {
  const { did, log } = newIdentity();
  const entry = log[0]!;
  it.each<[string, unknown, RegExp]>([
    ['an array', [entry], /entry 0 is an array, not an object$/],
    ['a number', 7, /entry 0 is number, not an object$/],
    ['an object with a prototype', Object.assign(Object.create({ polluted: true }), entry), /entry 0 is an object, not an object$/],
    ['for another DID', { ...entry, did: 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb' }, /entry 0 is for another DID$/],
    ['without a did', { ...entry, did: undefined }, /entry 0 is for undefined$/],
    // The entry's own did is described, whatever its type.
    ['with a numeric did', { ...entry, did: 42 }, /entry 0 is for number$/],
    ['with a null did', { ...entry, did: null }, /entry 0 is for null$/],
    ['without a cid', { ...entry, cid: 42 }, /entry 0 has no cid$/],
    ['with a string nullified flag', { ...entry, nullified: 'false' }, /entry 0 has no boolean nullified flag$/],
    ['with a date-only createdAt', { ...entry, createdAt: '2025-01-01' }, /entry 0: createdAt is a string, not an RFC 3339 datetime$/],
    ['with a createdAt without a time zone', { ...entry, createdAt: '2025-01-01T00:00:00' }, /createdAt is a string, not an RFC 3339/],
    ['with text around the createdAt', { ...entry, createdAt: ` ${entry.createdAt}` }, /, not an RFC 3339 datetime$/],
    ['with a createdAt followed by text', { ...entry, createdAt: `${entry.createdAt}x` }, /, not an RFC 3339 datetime$/],
    ['with a numeric createdAt', { ...entry, createdAt: T0 }, /entry 0: createdAt is number, not an RFC 3339 datetime$/],
    ['with a createdAt inside an array', { ...entry, createdAt: [entry.createdAt] }, /entry 0: createdAt is an array, not an RFC 3339 datetime$/],
    ['undefined', undefined, /entry 0 is undefined, not an object$/],
    ['for a long other DID', { ...entry, did: `did:plc:${'b'.repeat(100)}` }, /entry 0 is for another DID$/],
    ['with an impossible date', { ...entry, createdAt: '2025-13-45T99:00:00Z' }, /, not an RFC 3339 datetime$/],
    ['whose cid is not its operation\'s', { ...entry, cid: plcOperationCid({ other: 1 }) }, /entry 0: its cid is not the CID of its operation \(bafy.*\)$/],
  ])('%s is refused', (_name, raw, reason) => {
    const err = message(did, [raw]);
    expect(err.code).toBe('PLC_LOG_INVALID');
    expect(err.message).toMatch(reason);
  });

  it.each(['2025-01-01T00:00:00Z', '2025-01-01T00:00:00.1Z', '2025-01-01T00:00:00.123456789Z', '2025-01-01T01:00:00+01:00', '2024-12-31T19:00:00-05:00'])(
    'createdAt %s is an RFC 3339 datetime',
    (createdAt) => {
      expect(replayPlcAuditLog(did, [{ ...entry, createdAt }]).headCreatedAt).toBe(createdAt);
    },
  );
});

describe('an operation has exactly one of the three shapes', () => {
  const { did, log } = newIdentity();
  const op = log[0]!.operation;
  const withOp = (operation: unknown) => [{ ...log[0]!, operation }];
  it.each<[string, unknown, string]>([
    ['null', null, 'is null, not an object'],
    ['an array', [op], 'is an array, not an object'],
    ['of an unknown type', { ...op, type: 'plc_operation_v2' }, 'has an unknown type (a string)'],
    ['without a type', { ...op, type: undefined }, 'has an unknown type (undefined)'],
    ['with a field more', { ...op, handle: 'x' }, '(plc_operation) has an unexpected field'],
    ['with an undefined prev (present, but no value)', { ...op, prev: undefined }, 'prev is neither null nor a string'],
    ['a plc_operation lacking prev', Object.fromEntries(Object.entries(op).filter(([k]) => k !== 'prev')), '(plc_operation) lacks prev'],
    ['with a long unknown field name', { ...op, ['x'.repeat(100)]: 1 }, '(plc_operation) has an unexpected field'],
    ['a tombstone with a field more', { type: 'plc_tombstone', prev: null, sig: op['sig'], services: {} }, '(plc_tombstone) has an unexpected field'],
    ['a plc_operation lacking services', Object.fromEntries(Object.entries(op).filter(([k]) => k !== 'services')), '(plc_operation) lacks services'],
    ['a tombstone lacking sig', { type: 'plc_tombstone', prev: null }, '(plc_tombstone) lacks sig'],
    ['with a numeric sig', { ...op, sig: 5 }, 'sig is not a string'],
    ['with a sig holding a lone surrogate', { ...op, sig: 'a\uD800b' }, 'sig is not a string'],
    ['with a numeric prev', { ...op, prev: 0 }, 'prev is neither null nor a string'],
    ['a tombstone without prev', { type: 'plc_tombstone', prev: null, sig: op['sig'] }, 'is a tombstone without prev'],
    ['with rotation keys that are not strings', { ...op, rotationKeys: [1] }, 'rotationKeys is not an array of strings'],
    ['with rotation keys that are not an array', { ...op, rotationKeys: 'did:key:z' }, 'rotationKeys is not an array of strings'],
    ['with an alias that is not a string', { ...op, alsoKnownAs: [null] }, 'alsoKnownAs is not an array of strings'],
    ['with aliases that are not an array', { ...op, alsoKnownAs: {} }, 'alsoKnownAs is not an array of strings'],
    ['with an alias holding a lone low surrogate', { ...op, alsoKnownAs: ['at://\uDC00.test'] }, 'alsoKnownAs is not an array of strings'],
    ['with verification methods that are an array', { ...op, verificationMethods: ['did:key:z'] }, 'verificationMethods is not a map of strings'],
    ['with a verification method that is not a string', { ...op, verificationMethods: { atproto: 1 } }, 'verificationMethods is not a map of strings'],
    ['with services that are an array', { ...op, services: [] }, 'services is not a map'],
    ['with a service with a field more', { ...op, services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://pds.example', x: '1' } } }, 'has a service that is not exactly {type, endpoint} strings'],
    ['with a service lacking its endpoint', { ...op, services: { atproto_pds: { type: 'AtprotoPersonalDataServer', url: 'https://pds.example' } } }, 'has a service that is not exactly {type, endpoint} strings'],
    ['with a service whose type is not a string', { ...op, services: { atproto_pds: { type: 1, endpoint: 'https://pds.example' } } }, 'has a service that is not exactly {type, endpoint} strings'],
    ['with a service that is a string', { ...op, services: { ['s'.repeat(60)]: 'https://pds.example' } }, 'has a service that is not exactly {type, endpoint} strings'],
    ['a legacy create with a numeric handle', { type: 'create', signingKey: 'a', recoveryKey: 'b', handle: 1, service: 'c', prev: null, sig: op['sig'] }, '(create) has a field that is not a string'],
    ['a legacy create with a numeric signing key', { type: 'create', signingKey: 1, recoveryKey: 'b', handle: 'h', service: 'c', prev: null, sig: op['sig'] }, '(create) has a field that is not a string'],
    ['a legacy create with a numeric recovery key', { type: 'create', signingKey: 'a', recoveryKey: 1, handle: 'h', service: 'c', prev: null, sig: op['sig'] }, '(create) has a field that is not a string'],
    ['a legacy create with a numeric service', { type: 'create', signingKey: 'a', recoveryKey: 'b', handle: 'h', service: 1, prev: null, sig: op['sig'] }, '(create) has a field that is not a string'],
    ['a legacy create with a prev', { type: 'create', signingKey: 'a', recoveryKey: 'b', handle: 'h', service: 'c', prev: log[0]!.cid, sig: op['sig'] }, '(create) has a prev; legacy operations only create DIDs'],
  ])('%s is refused', (_name, operation, reason) => {
    const err = message(did, withOp(operation));
    expect(err.code).toBe('PLC_LOG_INVALID');
    expect(err.message).toBe(`PLC operation log of ${did}: entry 0: operation ${reason}`);
  });

  it('a prev that is not a dag-cbor CID is refused as the prev of its entry', () => {
    const raw = 'bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity';
    const err = message(did, withOp({ ...op, prev: raw }));
    expect(err.code).toBe('PLC_LOG_INVALID');
    expect(err.message).toMatch(/^prev of entry 0 .* raw \(0x55\)/);
  });

  it(`an operation over ${MAX_PLC_OPERATION_BYTES} bytes of DAG-CBOR is refused; one at the limit is not refused for its size`, () => {
    const sized = (n: number) => ({ ...op, alsoKnownAs: ['a'.repeat(n)] });
    const base = dagCbor.encode(sized(0)).length;
    // The string's length header grows from 1 to 3 bytes past 23 and 255 characters.
    const exact = MAX_PLC_OPERATION_BYTES - base - 2;
    expect(dagCbor.encode(sized(exact)).length).toBe(MAX_PLC_OPERATION_BYTES);
    expect(message(did, withOp(sized(exact))).message).toMatch(/its cid is not the CID of its operation/);
    expect(message(did, withOp(sized(exact + 1))).message).toBe(
      `PLC operation log of ${did}: entry 0: operation is ${MAX_PLC_OPERATION_BYTES + 1} bytes of DAG-CBOR; the limit is ${MAX_PLC_OPERATION_BYTES}`,
    );
  });
});

describe('the chain of signatures back to the genesis that names the DID', () => {
  it('a genesis whose hash is another DID is refused, naming the DID it hashes to', () => {
    const { log, did } = newIdentity();
    const other = 'did:plc:cccccccccccccccccccccccc';
    const err = message(other, [{ ...log[0]!, did: other }]);
    expect(err.message).toBe(`PLC operation log of ${other}: its genesis operation ${log[0]!.cid} hashes to ${did}, not to this DID`);
  });

  it('entry 0 must be a genesis: neither an update nor a tombstone', () => {
    const a = newIdentity();
    const update = a.op(a.log[0]!.cid, a.high, 1000);
    expect(message(a.did, [update]).message).toMatch(/: entry 0 is not a genesis operation \(prev null, not a tombstone\)$/);
    const tombstone = plcLogEntry(a.did, signPlcOperation({ type: 'plc_tombstone', prev: a.log[0]!.cid }, a.high), at(1000));
    expect(message(a.did, [tombstone]).message).toMatch(/: entry 0 is not a genesis operation/);
  });

  it('a genesis is signed by one of its own rotation keys', () => {
    const a = newIdentity();
    const stranger = newPlcKey();
    const { did, log } = genesisOf(atprotoOperation(a.fields, null), stranger);
    expect(message(did, log).message).toBe(`PLC operation log of ${did}: entry 0 is not signed by any of its own rotation keys (2)`);
  });

  it('a genesis with no rotation keys can never be signed', () => {
    const a = newIdentity();
    const { did, log } = genesisOf({ ...atprotoOperation(a.fields, null), rotationKeys: [] }, a.high);
    expect(message(did, log).message).toMatch(/entry 0 is not signed by any of its own rotation keys \(0\)$/);
  });

  it('a second genesis in the log is refused', () => {
    const a = newIdentity();
    const again = plcLogEntry(a.did, signPlcOperation({ ...atprotoOperation(a.fields, null), alsoKnownAs: [] }, a.high), at(1000));
    expect(message(a.did, [...a.log, again]).message).toMatch(/: entry 1 is a second genesis operation \(prev null\)$/);
  });

  it('the same operation twice is refused', () => {
    const a = newIdentity();
    const update = a.op(a.log[0]!.cid, a.high, 1000);
    expect(message(a.did, [...a.log, update, update]).message).toMatch(new RegExp(`: entry 2 repeats operation ${update.cid}$`));
  });

  it('an update whose prev is not in the log is refused', () => {
    const a = newIdentity();
    const update = a.op(plcOperationCid({ foreign: true }), a.high, 1000);
    expect(message(a.did, [...a.log, update]).message).toMatch(/: entry 1: its prev is not an earlier operation in the log$/);
  });

  it('an update is signed by a rotation key of the operation it follows, not of itself', () => {
    const a = newIdentity();
    const intruder = newPlcKey();
    const update = plcLogEntry(
      a.did,
      signPlcOperation({ ...atprotoOperation({ ...a.fields, rotationKeys: [intruder] }, a.log[0]!.cid) }, intruder),
      at(1000),
    );
    expect(message(a.did, [...a.log, update]).message).toMatch(/: entry 1 is not signed by any of the rotation keys entry 0 still allows \(2\)$/);
  });

  it('createdAt strictly increases: an update at the same millisecond as its predecessor is refused', () => {
    const a = newIdentity();
    const same = a.op(a.log[0]!.cid, a.low, 0);
    expect(message(a.did, [...a.log, same]).message).toMatch(/: entry 1 \(createdAt 2025-01-01T00:00:00.000Z\) is not later than the operation it follows$/);
    expect(replayPlcAuditLog(a.did, [...a.log, a.op(a.log[0]!.cid, a.low, 1)]).activeOperations).toBe(2);
  });

  it('a fork must also come after the current head, not only after the operation it forks from', () => {
    const a = newIdentity();
    const u1 = a.op(a.log[0]!.cid, a.low, 10_000);
    const fork = a.op(a.log[0]!.cid, a.high, 5_000);
    expect(message(a.did, [...a.log, u1, fork]).message).toMatch(/: entry 2 \(createdAt .*\) is not later than the operation it follows$/);
  });

  it('a rotation key that is not a did:key is refused when it is tried, naming it', () => {
    const a = newIdentity();
    const { did, log } = genesisOf({ ...atprotoOperation(a.fields, null), rotationKeys: ['did:web:x'.padEnd(100, 'x'), a.high.did] }, a.high);
    const err = message(did, log);
    expect(err.message).toBe(`PLC operation log of ${did}: a rotation key tried for entry 0 is not a K-256 or P-256 did:key`);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('the signing key that comes first in priority order is the one that signed (same key listed twice)', () => {
    const a = newIdentity();
    const { did, log } = genesisOf({ ...atprotoOperation(a.fields, null), rotationKeys: [a.low.did, a.high.did, a.high.did] }, a.high);
    expect(replayPlcAuditLog(did, log).activeOperations).toBe(1);
  });
});

describe('signatures: 64 bytes, unpadded canonical base64url only', () => {
  const a = newIdentity();
  const op = a.log[0]!.operation;
  const sig = String(op['sig']);
  const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  it.each([
    ['padded with =', `${sig}==`],
    ['with a character of standard base64', `+${sig.slice(1)}`],
    ['one character short', sig.slice(0, -1)],
    ['one character long', `${sig}A`],
    // 86 characters carry 516 bits for 512: the last character's low 4 bits must be zero.
    ['with non-zero padding bits', sig.slice(0, -1) + B64URL[B64URL.indexOf(sig.at(-1)!) | 1]!],
    ['with a newline', `${sig.slice(0, 40)}\n${sig.slice(40)}`],
    ['empty', ''],
  ])('a sig %s is refused', (_name, bad) => {
    // Another sig hashes to another DID: build the log around the edited genesis.
    const operation = { ...op, sig: bad };
    const did = plcDidForGenesis(dagCbor.encode(operation));
    const err = message(did, [plcLogEntry(did, operation, at(0))]);
    expect(err.code).toBe('PLC_LOG_INVALID');
    expect(err.message).toBe(`PLC operation log of ${did}: entry 0: sig is not a 64-byte signature in unpadded canonical base64url (86 characters)`);
  });
});

describe('recovery: a higher-priority key nullifies what a lower one signed, within 72 hours', () => {
  it('a fork by the higher-priority key nullifies the update and is in force', () => {
    const a = newIdentity();
    const byLow = a.op(a.log[0]!.cid, a.low, 1000, { alsoKnownAs: ['at://low.test'] });
    const byHigh = a.op(a.log[0]!.cid, a.high, 2000, { alsoKnownAs: ['at://high.test'] });
    const replay = replayPlcAuditLog(a.did, [...a.log, { ...byLow, nullified: true }, byHigh]);
    expect(replay).toMatchObject({ headCid: byHigh.cid, activeOperations: 2, nullifiedOperations: 1 });
    expect(replay.state?.alsoKnownAs).toEqual(['at://high.test']);
  });

  it('the directory\'s nullified flag must be what the replay concludes, either way', () => {
    const a = newIdentity();
    const byLow = a.op(a.log[0]!.cid, a.low, 1000);
    const byHigh = a.op(a.log[0]!.cid, a.high, 2000);
    expect(message(a.did, [...a.log, byLow, byHigh]).message).toMatch(/: entry 1 is marked nullified=false, but its recovery history says true$/);
    expect(message(a.did, [...a.log, { ...a.op(a.log[0]!.cid, a.low, 1000), nullified: true }]).message).toMatch(
      /: entry 1 is marked nullified=true, but its recovery history says false$/,
    );
  });

  it('a fork by a key of equal or lower priority than the one it overrides is refused', () => {
    const a = newIdentity();
    const byHigh = a.op(a.log[0]!.cid, a.high, 1000);
    const forkByLow = a.op(a.log[0]!.cid, a.low, 2000);
    const forkByHigh = a.op(a.log[0]!.cid, a.high, 2000, { alsoKnownAs: [] });
    expect(message(a.did, [...a.log, byHigh, forkByLow]).message).toMatch(/: entry 2 is not signed by any of the rotation keys entry 0 still allows \(0\)$/);
    expect(message(a.did, [...a.log, byHigh, forkByHigh]).message).toMatch(/still allows \(0\)$/);
    const byLow = a.op(a.log[0]!.cid, a.low, 1000);
    const forkByLowAgain = a.op(a.log[0]!.cid, a.low, 2000, { alsoKnownAs: [] });
    expect(message(a.did, [...a.log, byLow, forkByLowAgain]).message).toMatch(/still allows \(1\)$/);
  });

  it('a fork exactly 72 hours after the update it nullifies is in time; a millisecond later is not', () => {
    const a = newIdentity();
    const byLow = a.op(a.log[0]!.cid, a.low, 1000);
    const inTime = a.op(a.log[0]!.cid, a.high, 1000 + PLC_RECOVERY_WINDOW_MS);
    const late = a.op(a.log[0]!.cid, a.high, 1001 + PLC_RECOVERY_WINDOW_MS);
    expect(replayPlcAuditLog(a.did, [...a.log, { ...byLow, nullified: true }, inTime]).nullifiedOperations).toBe(1);
    expect(message(a.did, [...a.log, byLow, late]).message).toMatch(/: entry 2 nullifies entry 1 more than 72 hours after it arrived$/);
    expect(PLC_RECOVERY_WINDOW_MS).toBe(72 * HOUR);
  });

  it('a fork nullifies the whole branch after its prev, and each of those must be within the window', () => {
    const a = newIdentity();
    const u1 = a.op(a.log[0]!.cid, a.low, 1000);
    const u2 = a.op(u1.cid, a.low, 2000);
    const u3 = a.op(u2.cid, a.low, 3000);
    const fork = a.op(a.log[0]!.cid, a.high, 4000);
    const replay = replayPlcAuditLog(a.did, [...a.log, ...[u1, u2, u3].map((e) => ({ ...e, nullified: true })), fork]);
    expect(replay).toMatchObject({ activeOperations: 2, nullifiedOperations: 3, headCid: fork.cid, headCreatedAt: fork.createdAt });
    // The oldest of the branch is what the window is measured from.
    const lateFork = a.op(a.log[0]!.cid, a.high, 1001 + PLC_RECOVERY_WINDOW_MS);
    expect(message(a.did, [...a.log, u1, u2, u3, lateFork]).message).toMatch(/nullifies entry 1 more than 72 hours/);
  });

  it('nothing extends a nullified operation or a tombstone', () => {
    const a = newIdentity();
    const byLow = a.op(a.log[0]!.cid, a.low, 1000);
    const byHigh = a.op(a.log[0]!.cid, a.high, 2000);
    const onNullified = a.op(byLow.cid, a.low, 3000);
    expect(message(a.did, [...a.log, { ...byLow, nullified: true }, byHigh, onNullified]).message).toMatch(
      /: entry 3 extends entry 1, which a recovery nullified$/,
    );
    const tombstone = plcLogEntry(a.did, signPlcOperation({ type: 'plc_tombstone', prev: a.log[0]!.cid }, a.high), at(1000));
    const afterTombstone = a.op(tombstone.cid, a.high, 2000);
    expect(message(a.did, [...a.log, tombstone, afterTombstone]).message).toMatch(/: entry 2 extends entry 1, a tombstone$/);
  });

  it('a tombstone can itself be nullified by a fork, and the DID lives on', () => {
    const a = newIdentity();
    const tombstone = plcLogEntry(a.did, signPlcOperation({ type: 'plc_tombstone', prev: a.log[0]!.cid }, a.low), at(1000));
    const fork = a.op(a.log[0]!.cid, a.high, 2000);
    const replay = replayPlcAuditLog(a.did, [...a.log, { ...tombstone, nullified: true }, fork]);
    expect(replay.state).not.toBeNull();
    expect(replay.nullifiedOperations).toBe(1);
  });
});

describe('verifyPlcAuditLog: the identity the operation in force defines', () => {
  it('returns the signing key, PDS, handle, rotation keys and counts of the head', () => {
    const a = newIdentity();
    const update = a.op(a.log[0]!.cid, a.low, 1000, { alsoKnownAs: ['https://not-a-handle', 'at://bob.test'] });
    const identity = verifyPlcAuditLog(a.did, [...a.log, update], PUBLIC);
    expect(identity).toMatchObject({
      did: a.did,
      pdsEndpoint: 'https://pds.example',
      claimedHandle: 'bob.test',
      alsoKnownAs: ['https://not-a-handle', 'at://bob.test'],
      rotationKeys: [a.high.did, a.low.did],
      headCid: update.cid,
      activeOperations: 2,
      nullifiedOperations: 0,
    });
    expect(`did:key:${identity.signingKeyMultibase}`).toBe(a.fields.signingKey);
  });

  it('a tombstoned DID is DID_RESOLUTION_FAILED, naming the tombstone', () => {
    const a = newIdentity();
    const tombstone = plcLogEntry(a.did, signPlcOperation({ type: 'plc_tombstone', prev: a.log[0]!.cid }, a.high), at(1000));
    const err = errorOf(() => verifyPlcAuditLog(a.did, [...a.log, tombstone], PUBLIC));
    expect(err.code).toBe('DID_RESOLUTION_FAILED');
    expect(err.message).toBe(`${a.did} has been deactivated (its PLC operation log ends in a tombstone, ${tombstone.cid})`);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no atproto verification method', { verificationMethods: { other: 'did:key:zQ3sh' } }, 'has no verificationMethods.atproto signing key'],
    ['an atproto key only on the prototype chain', { verificationMethods: {} }, 'has no verificationMethods.atproto signing key'],
    ['no atproto_pds service', { services: { other: { type: 'AtprotoPersonalDataServer', endpoint: 'https://pds.example' } } }, 'has no services.atproto_pds of type AtprotoPersonalDataServer'],
    ['an atproto_pds service of another type', { services: { atproto_pds: { type: 'Other', endpoint: 'https://pds.example' } } }, 'has no services.atproto_pds of type AtprotoPersonalDataServer'],
  ])('an operation in force with %s is DID_DOCUMENT_INVALID', (_name, changes, reason) => {
    const a = newIdentity();
    const { did, log } = genesisOf({ ...atprotoOperation(a.fields, null), ...changes }, a.high);
    const err = errorOf(() => verifyPlcAuditLog(did, log, PUBLIC));
    expect(err.code).toBe('DID_DOCUMENT_INVALID');
    expect(err.message).toBe(`${did}: the PLC operation in force (${log[0]!.cid}) ${reason}`);
  });

  it('a PDS on a private address needs allowPrivateNetwork', () => {
    const a = newIdentity();
    const { did, log } = genesisOf(atprotoOperation({ ...a.fields, pds: 'http://127.0.0.1:2583' }, null), a.high);
    expect(errorOf(() => verifyPlcAuditLog(did, log, PUBLIC)).code).toBe('DID_DOCUMENT_INVALID');
    expect(verifyPlcAuditLog(did, log, { allowPrivateNetwork: true }).pdsEndpoint).toBe('http://127.0.0.1:2583');
  });

  it('an atproto key that is no did:key is KEY_UNSUPPORTED', () => {
    const a = newIdentity();
    const { did, log } = genesisOf({ ...atprotoOperation(a.fields, null), verificationMethods: { atproto: 'zQ3shNotADidKey' } }, a.high);
    expect(errorOf(() => verifyPlcAuditLog(did, log, PUBLIC)).code).toBe('KEY_UNSUPPORTED');
  });
});

describe('a legacy `create` genesis is normalised as the spec says', () => {
  it.each([
    ['a bare handle and host', 'alice.test', 'pds.example', 'at://alice.test', 'https://pds.example'],
    ['an at:// handle', 'at://alice.test', 'https://pds.example', 'at://alice.test', 'https://pds.example'],
    ['an https:// handle and an http:// service', 'https://alice.test', 'http://pds.example', 'at://alice.test', 'http://pds.example'],
    ['an http:// handle', 'http://alice.test', 'https://pds.example', 'at://alice.test', 'https://pds.example'],
    ['a scheme only at the start counts', 'alice-https://x', 'pds.example/http://x', 'at://alice-https://x', 'https://pds.example/http://x'],
  ])('%s', (_name, handle, service, alias, endpoint) => {
    const signing = newPlcKey();
    const recovery = newPlcKey();
    const { did, log } = genesisOf({ type: 'create', signingKey: signing.did, recoveryKey: recovery.did, handle, service, prev: null }, signing);
    expect(replayPlcAuditLog(did, log).state).toEqual({
      rotationKeys: [recovery.did, signing.did],
      verificationMethods: { atproto: signing.did },
      alsoKnownAs: [alias],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint } },
    });
  });
});

describe('did-method-plc interop vectors replay without a directory (test/vectors/did-method-plc, MIT)', () => {
  const dir = new URL('../vectors/did-method-plc/audit_log/', import.meta.url);
  const files = (kind: string) => readdirSync(new URL(`${kind}/`, dir)).filter((f) => f.endsWith('.json'));
  const read = (kind: string, file: string) => JSON.parse(readFileSync(new URL(`${kind}/${file}`, dir), 'utf8')) as PlcLogEntry[];

  it.each(files('valid'))('valid/%s replays to its last entry', (file) => {
    const log = read('valid', file);
    const replay = replayPlcAuditLog(log[0]!.did, clone(log));
    expect(replay.headCid).toBe(log.at(-1)!.cid);
    expect(replay.headCreatedAt).toBe(log.at(-1)!.createdAt);
    expect(replay.nullifiedOperations).toBe(log.filter((e) => e.nullified).length);
    expect(replay.activeOperations).toBe(log.filter((e) => !e.nullified).length);
  });

  it.each(files('invalid'))('invalid/%s is PLC_LOG_INVALID', (file) => {
    const log = read('invalid', file);
    expect(message(log[0]!.did, log).code).toBe('PLC_LOG_INVALID');
  });
});

describe(`a log may cost at most ${MAX_PLC_SIGNATURE_CHECKS} signature checks`, () => {
  it('ten rotation keys and every operation signed by the last: refused once the checks pass the budget', () => {
    const keys = Array.from({ length: 10 }, () => newPlcKey());
    const fields = { signingKey: keys[0]!.did, pds: 'https://pds.example', rotationKeys: keys };
    const genesis = signPlcOperation(atprotoOperation(fields, null), keys[9]!);
    const did = plcDidForGenesis(dagCbor.encode(genesis));
    const log = [plcLogEntry(did, genesis, at(0))];
    while (log.length * 10 < MAX_PLC_SIGNATURE_CHECKS + 10) {
      const op = signPlcOperation(atprotoOperation({ ...fields, handle: `h${log.length}.test` }, log.at(-1)!.cid), keys[9]!);
      log.push(plcLogEntry(did, op, at(log.length * 1000)));
    }
    // 10 checks per operation: 51 operations cost 510 checks (within 512), 52 cost 520.
    const fits = Math.floor(MAX_PLC_SIGNATURE_CHECKS / 10);
    expect(replayPlcAuditLog(did, log.slice(0, fits)).activeOperations).toBe(fits);
    expect(message(did, log.slice(0, fits + 1)).message).toBe(`PLC operation log of ${did}: verifying it takes more than ${MAX_PLC_SIGNATURE_CHECKS} signature checks`);
  });

  it('exactly the budget is accepted: keys tried in order, the budget counts every try', () => {
    // Two keys, signed by the second: 2 checks per operation, 256 operations = 512 checks.
    const keys = [newPlcKey(), newPlcKey()];
    const fields = { signingKey: keys[0]!.did, pds: 'https://pds.example', rotationKeys: keys };
    const genesis = signPlcOperation(atprotoOperation(fields, null), keys[1]!);
    const did = plcDidForGenesis(dagCbor.encode(genesis));
    const log = [plcLogEntry(did, genesis, at(0))];
    while (log.length < MAX_PLC_LOG_ENTRIES) {
      const op = signPlcOperation(atprotoOperation({ ...fields, handle: `h${log.length}.test` }, log.at(-1)!.cid), keys[1]!);
      log.push(plcLogEntry(did, op, at(log.length * 1000)));
    }
    expect(log.length * 2).toBe(MAX_PLC_SIGNATURE_CHECKS);
    expect(replayPlcAuditLog(did, log).activeOperations).toBe(MAX_PLC_LOG_ENTRIES);
  });
});

describe('plcAuditLogUrl', () => {
  it.each([
    ['https://plc.directory', 'https://plc.directory/did:plc:x/log/audit'],
    ['https://plc.directory/', 'https://plc.directory/did:plc:x/log/audit'],
    ['https://plc.directory///', 'https://plc.directory/did:plc:x/log/audit'],
    ['https://host/base', 'https://host/base/did:plc:x/log/audit'],
  ])('%s -> %s (trailing slashes dropped)', (directory, url) => {
    expect(plcAuditLogUrl('did:plc:x', directory)).toBe(url);
  });
});
