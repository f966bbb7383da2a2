import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { VerificationError } from '../errors.js';

/**
 * The server's TLS material, read from files (a Kubernetes Secret volume). Gatekeeper's
 * cert-controller rotates its certificates and CA: re-reading the files lets a rotation take
 * effect without a restart, instead of refusing Gatekeeper until someone notices.
 */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
}

export interface TlsMaterial {
  options: SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean };
  /** Hash of the three files' contents, to notice a rotation. */
  fingerprint: string;
}

function read(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new VerificationError('INPUT_INVALID', `${what} ${path} cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const cert = read(files.certFile, 'TLS certificate');
  const key = read(files.keyFile, 'TLS key');
  const ca = files.clientCaFile ? read(files.clientCaFile, 'client CA') : undefined;
  try {
    // Parses the PEM and checks that the key matches the certificate, before any server uses them.
    createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
  } catch (err) {
    const names = [files.certFile, files.keyFile, files.clientCaFile].filter(Boolean).join(', ');
    throw new VerificationError('INPUT_INVALID', `TLS files ${names} are not usable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const fingerprint = createHash('sha256')
    .update(cert)
    .update('\0')
    .update(key)
    .update('\0')
    .update(ca ?? '')
    .digest('hex');
  return {
    options: {
      cert,
      key,
      // Gatekeeper (v3.11+) requires TLS 1.3 to providers; nothing older is needed.
      minVersion: 'TLSv1.3',
      // With a client CA, a client without a certificate from it is refused in the handshake.
      ...(ca ? { ca } : {}),
      requestCert: ca !== undefined,
      rejectUnauthorized: ca !== undefined,
    },
    fingerprint,
  };
}
