import { createHash } from 'node:crypto';

/**
 * SHA-256 through OpenSSL. CIDs, MST layers and PLC operations hash a few dozen small blocks per
 * verification; in a process that starts afresh per referrer (the plugin), OpenSSL, loaded anyway
 * for TLS and signatures, does it without JavaScript's cold-start cost.
 */
export function sha256(bytes: Uint8Array): Uint8Array {
  const digest = createHash('sha256').update(bytes).digest();
  // A plain Uint8Array view, as @noble/hashes returned: CIDs compare their digests by type too.
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}
