import { VerificationError } from '../errors.js';
import { MANIFEST_COLLECTION } from '../verify/record-uri.js';

/**
 * A logged-in XRPC session on the publisher's own PDS, for `sign`: it writes the
 * `io.atcr.manifest` record and reads back its proof. The password is an app password taken
 * from the environment by the caller, never from a flag.
 */
export interface WrittenManifestRecord {
  uri: string;
  cid: string;
  rkey: string;
  commitCid: string;
  commitRev: string;
}

export interface ManifestRecordInput {
  repository: string;
  digest: string;
  mediaType: string;
  createdAt?: string;
}

interface XrpcFailure {
  error?: string;
  message?: string;
}

export class PdsSession {
  private constructor(
    readonly pdsEndpoint: string,
    readonly did: string,
    readonly handle: string,
    private readonly accessJwt: string,
    private readonly timeoutMs: number,
  ) {}

  /** `com.atproto.server.createSession`; a wrong password fails here, before anything is written. */
  static async login(pdsEndpoint: string, identifier: string, password: string, timeoutMs = 15_000): Promise<PdsSession> {
    const res = await xrpc(pdsEndpoint, 'com.atproto.server.createSession', { method: 'POST', body: { identifier, password } }, timeoutMs);
    const body = res as { did?: unknown; handle?: unknown; accessJwt?: unknown };
    if (typeof body.did !== 'string' || typeof body.accessJwt !== 'string') {
      throw new VerificationError('INPUT_INVALID', `PDS ${pdsEndpoint} returned no session for ${identifier}`);
    }
    return new PdsSession(pdsEndpoint, body.did, typeof body.handle === 'string' ? body.handle : identifier, body.accessJwt, timeoutMs);
  }

  async createManifestRecord(input: ManifestRecordInput): Promise<WrittenManifestRecord> {
    const record = {
      $type: MANIFEST_COLLECTION,
      repository: input.repository,
      digest: input.digest,
      mediaType: input.mediaType,
      schemaVersion: 2,
      createdAt: input.createdAt ?? new Date().toISOString(),
    };
    const res = (await this.call('com.atproto.repo.createRecord', {
      method: 'POST',
      body: { repo: this.did, collection: MANIFEST_COLLECTION, record, validate: false },
    })) as { uri?: string; cid?: string; commit?: { cid?: string; rev?: string } };
    if (!res.uri || !res.cid || !res.commit?.cid || !res.commit.rev) {
      throw new VerificationError('PDS_FETCH_FAILED', `PDS ${this.pdsEndpoint} did not confirm the record write`);
    }
    return { uri: res.uri, cid: res.cid, rkey: res.uri.split('/').pop()!, commitCid: res.commit.cid, commitRev: res.commit.rev };
  }

  async deleteManifestRecord(rkey: string): Promise<void> {
    await this.call('com.atproto.repo.deleteRecord', { method: 'POST', body: { repo: this.did, collection: MANIFEST_COLLECTION, rkey } });
  }

  /** The getRecord CAR proof, to embed for offline verification. */
  async getRecordProof(rkey: string): Promise<Uint8Array> {
    const query = new URLSearchParams({ did: this.did, collection: MANIFEST_COLLECTION, rkey });
    const res = await fetch(`${this.pdsEndpoint}/xrpc/com.atproto.sync.getRecord?${query}`, { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!res.ok) throw new VerificationError('PDS_FETCH_FAILED', `PDS ${this.pdsEndpoint} answered ${res.status} to getRecord ${rkey}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  private call(nsid: string, init: { method: 'GET' | 'POST'; body?: unknown }): Promise<unknown> {
    return xrpc(this.pdsEndpoint, nsid, { ...init, token: this.accessJwt }, this.timeoutMs);
  }
}

async function xrpc(pds: string, nsid: string, init: { method: 'GET' | 'POST'; body?: unknown; token?: string }, timeoutMs: number): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${pds}/xrpc/${nsid}`, {
      method: init.method,
      headers: {
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new VerificationError('PDS_FETCH_FAILED', `${nsid}: PDS ${pds} unreachable (${err instanceof Error ? err.message : String(err)})`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = {};
  }
  if (!res.ok) {
    const failure = body as XrpcFailure;
    const code = res.status === 401 ? 'INPUT_INVALID' : 'PDS_FETCH_FAILED';
    throw new VerificationError(code, `${nsid} on ${pds} failed: HTTP ${res.status} ${failure.error ?? ''} ${failure.message ?? ''}`.trim(), {
      remediation: res.status === 401 ? 'Check the account identifier and the app password in the environment variable.' : undefined,
    });
  }
  return body;
}
