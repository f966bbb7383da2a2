/**
 * Issue 15 item 3: nothing a remote host says is echoed to the caller. A PLC directory, a did:web
 * host, a PDS and a handle resolver, each a real loopback server, answer with a secret body, a
 * secret XRPC error, a secret DID or a redirect to a secret host name. The typed code is kept;
 * the secret appears in no outcome message, step detail, error (or its causes' messages), nor in
 * the provider item built from the outcome.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSignaturePayload } from '../../src/artifact/build-payload.js';
import type { ErrorCode } from '../../src/errors.js';
import { verifyHandle, xrpcHandleResolver } from '../../src/identity/handle.js';
import { answerFromError, responseItem } from '../../src/provider/verification-item.js';
import { DEFAULT_SETTINGS, type VerifierSettings } from '../../src/verify/settings.js';
import { Verifier, type VerificationOutcome } from '../../src/verify/verifier.js';
import { loadCorpus } from '../adversarial/corpus.js';
import { genesisLog, newPlcKey } from '../identity/plc-log-builder.js';

const SECRET = 'SECRET-remote-words-7f3a';
/** A host name only the remote chose: never resolvable (.invalid), so the fetch fails on it. */
const SECRET_HOST = 'secret-7f3a-internal.invalid';
const SUBJECT = `sha256:${'ab'.repeat(32)}`;
const RKEY = '3lbk2ozq2dk2a';

let server: http.Server;
let origin = '';
/** PDS behaviour by DID; PLC logs by DID. */
const pdsMode = new Map<string, string>();
const logs = new Map<string, unknown>();
const dids = new Map<string, string>();

function redirectToSecret(res: http.ServerResponse, port: number): void {
  res.writeHead(302, { location: `http://${SECRET_HOST}:${port}/${SECRET}` }).end();
}

function plcMisbehave(mode: string, res: http.ServerResponse): void {
  const port = (server.address() as AddressInfo).port;
  if (mode === 'body500') return void res.writeHead(500, { 'content-type': 'text/plain' }).end(`internal: ${SECRET}`);
  if (mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end(`not json ${SECRET}`);
  if (mode === 'redirect') return redirectToSecret(res, port);
  if (mode === 'badscheme') return void res.writeHead(302, { location: `ftp://${SECRET_HOST}/${SECRET}` }).end();
  if (mode === 'creds') return void res.writeHead(302, { location: `http://${SECRET}:pw@${SECRET_HOST}/` }).end();
  if (mode === 'field') {
    // A log entry whose operation carries a field named by the secret, and a DID that is the secret.
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([{ did: `did:plc:${SECRET}`, operation: {}, cid: SECRET, nullified: false, createdAt: SECRET }]));
  }
  res.writeHead(404).end();
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean);
    const port = (server.address() as AddressInfo).port;
    if (parts[0] === 'plc' && parts[3] === 'audit') {
      const log = logs.get(decodeURIComponent(parts[1]!));
      return void (log ? res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(log)) : res.writeHead(404).end());
    }
    if (parts[0] === 'plcfault') return plcMisbehave(parts[1]!, res);
    if (url.pathname === '/.well-known/did.json') {
      // did:web host: a document for another DID, naming the secret.
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `did:web:${SECRET}`, alsoKnownAs: [] }));
    }
    if (url.pathname === '/xrpc/com.atproto.sync.getRecord') {
      const mode = pdsMode.get(url.searchParams.get('did') ?? '');
      if (mode === 'xrpc400') return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: SECRET, message: SECRET }));
      if (mode === 'notfound') return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'RecordNotFound', message: SECRET }));
      if (mode === 'body500') return void res.writeHead(500, { 'content-type': 'text/plain' }).end(SECRET);
      if (mode === 'redirect') return redirectToSecret(res, port);
    }
    if (url.pathname === '/xrpc/com.atproto.identity.resolveHandle') {
      const handle = url.searchParams.get('handle') ?? '';
      if (handle.startsWith('other.')) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ did: `did:web:${SECRET}` }));
      if (handle.startsWith('redirect.')) return redirectToSecret(res, port);
      return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: SECRET, message: SECRET }));
    }
    res.writeHead(404).end(SECRET);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  const signingKey = `did:key:${loadCorpus().world.signers.k256.publicKeyMultibase}`;
  const rotationKey = newPlcKey();
  for (const mode of ['xrpc400', 'notfound', 'body500', 'redirect']) {
    const { did, log } = genesisLog({ signingKey, pds: origin, handle: `${mode}.echo.test`, rotationKeys: [rotationKey] });
    logs.set(did, log);
    pdsMode.set(did, mode);
    dids.set(mode, did);
  }
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function settings(overrides: Partial<VerifierSettings> = {}): VerifierSettings {
  return { ...DEFAULT_SETTINGS, plcDirectory: `${origin}/plc`, allowPrivateNetwork: true, cacheEnabled: false, didResolverTimeoutMs: 2000, pdsTimeoutMs: 2000, ...overrides };
}

async function verify(did: string, s: VerifierSettings): Promise<VerificationOutcome> {
  const payload = buildSignaturePayload({ subjectDigest: SUBJECT, did, recordUri: `at://${did}/io.atcr.manifest/${RKEY}` });
  return new Verifier(s, { handleResolver: async () => undefined }).verify({ subjectDigest: SUBJECT, payload });
}

/** Every text the caller can see: the outcome, its steps, the error and its causes, the provider item. */
function everythingShown(outcome: VerificationOutcome): string {
  const texts = [outcome.message, ...outcome.steps.map((s) => s.detail ?? '')];
  for (let e: unknown = outcome.error; e instanceof Error; e = (e as Error & { cause?: unknown }).cause) texts.push(e.message);
  if (outcome.error) texts.push(JSON.stringify(responseItem('img', answerFromError('img', outcome.error).value)));
  return texts.join('\n');
}

function expectSilent(outcome: VerificationOutcome, code: ErrorCode): void {
  expect(outcome.error?.code, outcome.message).toBe(code);
  const shown = everythingShown(outcome);
  expect(shown).not.toContain(SECRET);
  expect(shown).not.toContain(SECRET_HOST);
}

describe('a PLC directory is never quoted', () => {
  it.each<[string, ErrorCode]>([
    ['body500', 'DID_RESOLUTION_FAILED'],
    ['garbage', 'DID_RESOLUTION_FAILED'],
    ['redirect', 'DID_RESOLUTION_FAILED'],
    ['badscheme', 'NETWORK_DENIED'],
    ['creds', 'NETWORK_DENIED'],
    ['field', 'PLC_LOG_INVALID'],
  ])('%s: the code is kept, the secret is not shown', async (mode, code) => {
    const outcome = await verify('did:plc:faultyplc222222222222222', settings({ plcDirectory: `${origin}/plcfault/${mode}` }));
    expectSilent(outcome, code);
  });

  it('a redirect names the directory we chose, not the target', async () => {
    const outcome = await verify('did:plc:faultyplc222222222222222', settings({ plcDirectory: `${origin}/plcfault/redirect` }));
    expect(outcome.error!.message).toContain(`redirect target of 127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
});

describe('a did:web host is never quoted', () => {
  it('a document for another DID is DID_DOCUMENT_INVALID without naming that DID', async () => {
    const port = (server.address() as AddressInfo).port;
    const outcome = await verify(`did:web:localhost%3A${port}`, settings());
    expectSilent(outcome, 'DID_DOCUMENT_INVALID');
  });
});

describe('a PDS is never quoted', () => {
  it.each<[string, ErrorCode]>([
    ['xrpc400', 'PDS_FETCH_FAILED'],
    ['notfound', 'RECORD_NOT_FOUND'],
    ['body500', 'PDS_FETCH_FAILED'],
    ['redirect', 'PDS_FETCH_FAILED'],
  ])('%s: the code is kept (decided from the body where it must be), the secret is not shown', async (mode, code) => {
    const outcome = await verify(dids.get(mode)!, settings());
    expectSilent(outcome, code);
    // The PDS endpoint from the verified identity is ours to name.
    expect(outcome.error!.message).toContain(origin);
  });
});

describe('a handle resolver is never quoted', () => {
  const resolver = () => xrpcHandleResolver(origin, { allowPrivateNetwork: true, timeoutMs: 2000 });
  it.each(['other.echo.test', 'redirect.echo.test', 'error.echo.test'])('%s: unverified, the reason in our words', async (handle) => {
    const status = await verifyHandle(handle, 'did:plc:faultyplc222222222222222', { resolver: resolver() });
    expect(status.verified).toBe(false);
    const reason = status.verified ? '' : status.reason;
    expect(reason).toContain(handle);
    expect(reason).not.toContain(SECRET);
    expect(reason).not.toContain(SECRET_HOST);
  });
});
