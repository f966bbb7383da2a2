import { VerificationError } from '../errors.js';

/** TID syntax (tid spec): 13 base32-sortable characters, the first limited so the value fits 64 bits. */
const TID_SYNTAX = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/;
const BASE32_SORTABLE = '234567abcdefghijklmnopqrstuvwxyz';

export interface Tid {
  /** Microseconds since the UNIX epoch (53 bits). */
  timestampMicros: number;
  /** The 10-bit random clock identifier. */
  clockId: number;
  /** The timestamp, truncated to milliseconds. */
  date: Date;
}

/**
 * Parses a TID, such as a commit `rev`: the signed time a commit claims. Layout (tid spec):
 * top bit 0, then 53 bits of microseconds, then a 10-bit clock id. Throws COMMIT_INVALID.
 */
export function parseTid(tid: string): Tid {
  if (typeof tid !== 'string' || !TID_SYNTAX.test(tid)) {
    throw new VerificationError('COMMIT_INVALID', `rev ${typeof tid === 'string' ? JSON.stringify(tid.slice(0, 40)) : typeof tid} is not a TID (13 base32-sortable characters)`);
  }
  let value = 0n;
  for (const char of tid) value = (value << 5n) | BigInt(BASE32_SORTABLE.indexOf(char));
  // The syntax admits first characters c-j, which set the 64-bit top bit the layout reserves as 0.
  if (value >> 63n !== 0n) {
    throw new VerificationError('COMMIT_INVALID', `rev ${tid} sets the TID top bit, which must be 0`);
  }
  const timestampMicros = Number(value >> 10n);
  const clockId = Number(value & 0x3ffn);
  return { timestampMicros, clockId, date: new Date(Math.floor(timestampMicros / 1000)) };
}
