/**
 * fetchRecordProof (src/verify/fetch-record-proof.ts) against a stand-in PDS on loopback (an
 * in-process http server, so the mutation run can use it): it asks getRecord for exactly the record
 * the artifact names, returns the bytes as served (they are verified later), and tells a record
 * that is gone (RECORD_NOT_FOUND) from a PDS that failed (PDS_FETCH_FAILED).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { MAX_PROOF_BYTES, fetchRecordProof } from '../../src/verify/fetch-record-proof.js';

const RECORD = { did: 'did:plc:aliceaaaaaaaaaaaaaaaaaaa', collection: 'io.atcr.manifest', rkey: '3jzfcijpj2z2a' };
const POLICY = { allowPrivateNetwork: true, timeoutMs: 5000 };
let server: http.Server;
let base: string;
let seen: { path: string; query: Record<string, string>; accept: string | undefined }[] = [];
/** What the stand-in answers next: status and body. */
let answer: { status: number; body: string | Uint8Array; type?: string; hang?: boolean } = { status: 200, body: '' };

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    seen.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), accept: req.headers.accept });
    if (answer.hang) return; // never answers
    res.writeHead(answer.status, { 'content-type': answer.type ?? 'application/json' }).end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function failure(): Promise<VerificationError> {
  try {
    await fetchRecordProof(base, RECORD, POLICY);
  } catch (err) {
    if (err instanceof VerificationError) return err;
    throw err;
  }
  throw new Error('expected a VerificationError');
}

describe('getRecord for exactly the record the artifact names', () => {
  it('asks com.atproto.sync.getRecord with did, collection and rkey, for a CAR, and returns the bytes as served', async () => {
    seen = [];
    answer = { status: 200, body: Uint8Array.of(1, 2, 3), type: 'application/vnd.ipld.car' };
    const bytes = await fetchRecordProof(base, RECORD, POLICY);
    expect([...bytes]).toEqual([1, 2, 3]);
    expect(seen).toEqual([{ path: '/xrpc/com.atproto.sync.getRecord', query: RECORD, accept: 'application/vnd.ipld.car' }]);
  });

  it(`a proof over ${MAX_PROOF_BYTES} bytes is refused, naming the request`, async () => {
    expect(MAX_PROOF_BYTES).toBe(2 * 1024 * 1024);
    answer = { status: 200, body: new Uint8Array(MAX_PROOF_BYTES + 1), type: 'application/vnd.ipld.car' };
    const err = await failure();
    expect(err.code).toBe('RESPONSE_TOO_LARGE');
    expect(err.message.startsWith(`PDS getRecord ${RECORD.collection}/${RECORD.rkey}: `)).toBe(true);
  });

  it("the caller's abort signal cancels the request", async () => {
    answer = { status: 200, body: Uint8Array.of(1), type: 'application/vnd.ipld.car', hang: true };
    const controller = new AbortController();
    const pending = fetchRecordProof(base, RECORD, POLICY, controller.signal);
    setTimeout(() => controller.abort(new Error('deadline')), 50);
    const started = Date.now();
    await expect(pending).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(POLICY.timeoutMs);
  });
});

describe('a record that is gone is told from a PDS that failed', () => {
  it.each(['RecordNotFound', 'RepoNotFound', 'RepoDeactivated', 'RepoTakendown', 'RepoSuspended'])('%s is RECORD_NOT_FOUND', async (error) => {
    answer = { status: 400, body: JSON.stringify({ error, message: 'x' }) };
    const err = await failure();
    expect(err.code).toBe('RECORD_NOT_FOUND');
    expect(err.message).toBe(`PDS ${base} answered ${error} for at://${RECORD.did}/${RECORD.collection}/${RECORD.rkey}`);
  });

  it.each<[number, string, string]>([
    [400, JSON.stringify({ error: 'InvalidRequest' }), ' (an XRPC error)'],
    [400, JSON.stringify({ error: 'XRecordNotFound' }), ' (an XRPC error)'],
    [400, JSON.stringify({ error: 'RecordNotFoundX' }), ' (an XRPC error)'],
    [500, 'internal error', ''],
    [502, JSON.stringify({ error: 42 }), ''],
    [404, JSON.stringify(['RecordNotFound']), ''],
  ])('HTTP %i with %s is PDS_FETCH_FAILED', async (status, body, shown) => {
    answer = { status, body };
    const err = await failure();
    expect(err.code).toBe('PDS_FETCH_FAILED');
    expect(err.message).toBe(`PDS ${base} answered HTTP ${status}${shown} for ${RECORD.collection}/${RECORD.rkey}`);
  });

  it('a PDS that cannot be reached is PDS_FETCH_FAILED, naming it, with the network error as cause', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const gone = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    try {
      await fetchRecordProof(gone, RECORD, POLICY);
      expect.unreachable();
    } catch (err) {
      expect((err as VerificationError).code).toBe('PDS_FETCH_FAILED');
      expect((err as VerificationError).message).toMatch(new RegExp(`\\(PDS ${gone.replace(/\./g, '\\.')}\\)$`));
      expect(((err as VerificationError).cause as VerificationError).code).toBe('NETWORK_ERROR');
    }
  });

  it('a PDS that does not answer in time is PDS_FETCH_FAILED, with the timeout as cause', async () => {
    answer = { status: 200, body: '', hang: true };
    try {
      await fetchRecordProof(base, RECORD, { ...POLICY, timeoutMs: 200 });
      expect.unreachable();
    } catch (err) {
      expect((err as VerificationError).code).toBe('PDS_FETCH_FAILED');
      expect(((err as VerificationError).cause as VerificationError).code).toBe('NETWORK_TIMEOUT');
    } finally {
      answer = { status: 200, body: '' };
      server.closeAllConnections();
    }
  });

  it('a refusal of the address itself is not turned into a PDS failure', async () => {
    try {
      await fetchRecordProof(base, RECORD, { ...POLICY, allowPrivateNetwork: false });
      expect.unreachable();
    } catch (err) {
      expect((err as VerificationError).code).not.toBe('PDS_FETCH_FAILED');
      expect(err).toBeInstanceOf(VerificationError);
    }
  });
});
