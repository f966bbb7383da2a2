/**
 * Runs the adversarial corpus (manifest.json) through the engine: every case must end in exactly
 * its expected typed code, controls (`OK`) must pass, and nothing may escape as an untyped
 * exception. Payload and car cases go through the whole Verifier (offline: keys pinned in
 * cases/policy.yaml, proof embedded); car cases also through verifyRecordProof alone; DID
 * documents through parseDidDocument; DIDs through locateDid and resolveDid; referrer manifests
 * through a real docker-registry and fetchSignatureArtifact, then the Verifier.
 *
 * `REGENERATE=1 npx vitest run test/adversarial/corpus.test.ts` rewrites cases/ and manifest.json
 * from generate.ts; without it, the first test checks the committed files are what it produces.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchSignatureArtifact } from '../../src/artifact/fetch-signature-artifact.js';
import { parseMultikey } from '../../src/atproto/keys.js';
import { verifyRecordProof } from '../../src/atproto/record-proof.js';
import { startRegistry, type RegistryServer } from '../../src/devnet/registry-server.js';
import { ERROR_CODES } from '../../src/errors.js';
import { locateDid } from '../../src/identity/did.js';
import { parseDidDocument } from '../../src/identity/did-document.js';
import { resolveDid } from '../../src/identity/resolve-did.js';
import { digestOf, RegistryClient } from '../../src/registry/client.js';
import {
  caseId,
  CORPUS_DIR,
  codeOf,
  corpusBytes,
  corpusVerifier,
  listCases,
  loadCorpus,
  OFFLINE_SETTINGS,
  outcomeCode,
  verifyRequestFor,
  type CorpusCase,
} from './corpus.js';
import { generateCorpus } from './generate.js';

if (process.env.REGENERATE === '1') {
  const { files } = await generateCorpus();
  rmSync(join(CORPUS_DIR, 'cases'), { recursive: true, force: true });
  for (const file of files) {
    mkdirSync(dirname(join(CORPUS_DIR, file.path)), { recursive: true });
    writeFileSync(join(CORPUS_DIR, file.path), file.bytes);
  }
}

const text = (c: CorpusCase) => Buffer.from(corpusBytes(c.file)).toString('utf8');
const byId = (cases: CorpusCase[]) => cases.map((c) => [caseId(c), c] as const);

describe('the corpus', () => {
  it('is exactly what generate.ts produces (deterministic; REGENERATE=1 rewrites it)', async () => {
    const { files } = await generateCorpus();
    const expected = new Map(files.map((f) => [f.path, f.bytes]));
    const onDisk = walk(join(CORPUS_DIR, 'cases')).map((p) => relative(CORPUS_DIR, p));
    expect(onDisk.sort()).toEqual([...expected.keys()].filter((p) => p.startsWith('cases/')).sort());
    for (const [path, bytes] of expected) {
      expect(Buffer.compare(readFileSync(join(CORPUS_DIR, path)), Buffer.from(bytes)), `${path} differs from generate.ts`).toBe(0);
    }
  });

  it('has over 80 cases, each with a known code or OK, and a note', () => {
    const cases = listCases();
    expect(cases.length).toBeGreaterThan(80);
    for (const c of cases) {
      expect([...ERROR_CODES, 'OK'], caseId(c)).toContain(c.expect);
      if (c.expectProof) expect([...ERROR_CODES, 'OK']).toContain(c.expectProof);
      if (c.knownGap) expect([...ERROR_CODES, 'OK'], caseId(c)).toContain(c.today);
      expect(c.note.length, caseId(c)).toBeGreaterThan(0);
    }
    const counts: Record<string, number> = {};
    for (const c of cases) counts[c.kind] = (counts[c.kind] ?? 0) + 1;
    console.log(`adversarial corpus: ${cases.length} cases`, counts);
  });
});

describe('payload cases, through the Verifier', () => {
  const verifier = corpusVerifier();
  it.each(byId(listCases('payload')))('%s', async (_id, c) => {
    const outcome = await verifier.verify(verifyRequestFor(c));
    expect(outcomeCode(outcome), c.note).toBe(c.expect);
    // Whatever the payload carried, nothing leaked into shared prototypes.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isSuccess).toBeUndefined();
  });
});

describe('car cases, through verifyRecordProof and the Verifier (offline, pinned key)', () => {
  const verifier = corpusVerifier();
  const world = loadCorpus().world;
  it.each(byId(listCases('car')))('%s', async (_id, c) => {
    const signer = world.signers[c.signer ?? 'k256'];
    const expected = { did: signer.did, collection: world.collection, rkey: signer.rkey, key: parseMultikey(signer.publicKeyMultibase) };
    expect(await codeOf(() => verifyRecordProof(corpusBytes(c.file), expected)), `verifyRecordProof: ${c.note}`).toBe(c.expectProof ?? c.expect);
    const outcome = await verifier.verify(verifyRequestFor(c));
    expect(outcomeCode(outcome), `Verifier: ${c.note}`).toBe(c.expect);
    if (c.expect === 'OK') expect(outcome.offline).toBe(true);
  });
});

describe('did-document cases, through parseDidDocument', () => {
  const world = loadCorpus().world;
  it.each(byId(listCases('did-document')))('%s', async (_id, c) => {
    const doc = JSON.parse(text(c)) as unknown;
    expect(await codeOf(() => parseDidDocument(doc, c.did ?? world.signers.k256.did, c.allowPrivateNetwork ?? false)), c.note).toBe(c.expect);
  });
});

describe('did cases, through locateDid and resolveDid', () => {
  it.each(byId(listCases('did')))('%s', async (_id, c) => {
    const did = text(c);
    const allow = c.allowPrivateNetwork ?? false;
    expect(await codeOf(() => locateDid(did, allow)), c.note).toBe(c.expect);
    if (c.expect !== 'OK') {
      // Refused before any I/O: the resolver never builds a URL from it.
      const resolved = await codeOf(() =>
        resolveDid(did, { plcDirectory: OFFLINE_SETTINGS.plcDirectory, timeoutMs: 1000, allowPrivateNetwork: allow }),
      );
      expect(resolved).toBe(c.expect);
    }
  });
});

describe('manifest cases, through a real docker-registry, fetchSignatureArtifact and the Verifier', () => {
  const world = loadCorpus().world;
  const repository = world.registry.repository;
  let registry: RegistryServer;
  let client: RegistryClient;
  const pushed = new Map<string, string>();

  beforeAll(async () => {
    registry = await startRegistry();
    client = new RegistryClient({ registry: registry.host, allowPrivateNetwork: true, useHttp: true, timeoutMs: 5000 });
    for (const blob of world.registry.blobs) await client.pushBlob(repository, corpusBytes(blob));
    const subject = corpusBytes(world.registry.subjectManifest);
    expect(await client.pushManifest(repository, 'subject', subject, 'application/vnd.oci.image.manifest.v1+json')).toBe(world.subjectDigest);
    for (const c of listCases('manifest')) {
      const bytes = corpusBytes(c.file);
      const mediaType = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType: string }).mediaType;
      pushed.set(c.file, await client.pushManifest(repository, digestOf(bytes), bytes, mediaType));
    }
  });
  afterAll(async () => {
    client?.close();
    await registry?.close();
  });

  const verifier = corpusVerifier();
  it.each(byId(listCases('manifest')))('%s', async (_id, c) => {
    const digest = pushed.get(c.file)!;
    let payload: Uint8Array | undefined;
    const fetched = await codeOf(async () => {
      payload = (await fetchSignatureArtifact(client, repository, digest, world.subjectDigest)).payload;
    });
    const code = fetched === 'OK' ? outcomeCode(await verifier.verify({ subjectDigest: world.subjectDigest, reference: world.reference, payload: payload! })) : fetched;
    expect(code, c.note).toBe(c.expect);
  });
});

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}
