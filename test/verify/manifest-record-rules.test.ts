/**
 * checkManifestRecord (src/verify/manifest-record.ts), SPEC section 3 step 6: the signed record is a
 * map with the lexicon's fields, signs exactly the image digest, and names the image's repository
 * (ATCR layout by signer, or the full name). Each refusal says which field or name is wrong.
 */
import { describe, expect, it } from 'vitest';
import { checkManifestRecord, recordRepositoryFor, type RecordExpectations } from '../../src/verify/manifest-record.js';
import { errorOf } from '../harness/error-code.js';

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const record = (changes: Record<string, unknown> = {}) => ({
  $type: 'io.atcr.manifest',
  repository: 'app',
  digest: DIGEST,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  schemaVersion: 2,
  createdAt: '2025-01-01T00:00:00Z',
  ...changes,
});
const expected: RecordExpectations = {
  subjectDigest: DIGEST,
  did: ALICE,
  reference: 'atcr.io/alice.example/app:1',
  atcrRegistries: ['atcr.io'],
  verifiedHandle: 'alice.example',
};
const refusal = (value: unknown, changes: Partial<RecordExpectations> = {}) => errorOf(() => checkManifestRecord(value, { ...expected, ...changes }));

describe('the record is a map with the lexicon fields', () => {
  it('a record that verifies returns its fields', () => {
    expect(checkManifestRecord(record(), expected)).toEqual({
      repository: 'app',
      digest: DIGEST,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      schemaVersion: 2,
      createdAt: '2025-01-01T00:00:00Z',
    });
    const { $type: _omitted, ...untyped } = record();
    expect(checkManifestRecord(untyped, expected).repository).toBe('app');
  });

  it.each<[string, unknown, string]>([
    ['null', null, 'io.atcr.manifest record is not a map'],
    ['a list', [record()], 'io.atcr.manifest record is not a map'],
    ['a string', 'record', 'io.atcr.manifest record is not a map'],
    ['another $type', record({ $type: 'app.bsky.feed.post' }), 'record $type is app.bsky.feed.post, not io.atcr.manifest'],
    ['no digest', record({ digest: undefined }), 'io.atcr.manifest record lacks the required string field "digest"'],
    ['an empty repository', record({ repository: '' }), 'io.atcr.manifest record lacks the required string field "repository"'],
    ['a numeric mediaType', record({ mediaType: 1 }), 'io.atcr.manifest record lacks the required string field "mediaType"'],
    ['no createdAt', record({ createdAt: undefined }), 'io.atcr.manifest record lacks the required string field "createdAt"'],
    ['a string schemaVersion', record({ schemaVersion: '2' }), 'io.atcr.manifest record lacks the required integer field "schemaVersion"'],
  ])('%s is RECORD_INVALID', (_name, value, message) => {
    const err = refusal(value);
    expect(err.code).toBe('RECORD_INVALID');
    expect(err.message).toBe(message);
  });
});

describe('the record signs exactly this image', () => {
  it('another digest is DIGEST_MISMATCH, naming both', () => {
    const other = `sha256:${'b'.repeat(64)}`;
    const err = refusal(record({ digest: other }));
    expect(err.code).toBe('DIGEST_MISMATCH');
    expect(err.message).toBe(`the signed record is for ${other}, not the image ${DIGEST}`);
  });

  it('the digest is compared exactly (case and algorithm count)', () => {
    expect(refusal(record({ digest: DIGEST.toUpperCase() })).code).toBe('DIGEST_MISMATCH');
    expect(refusal(record({ digest: `sha512:${'a'.repeat(64)}` })).code).toBe('DIGEST_MISMATCH');
  });
});

describe('the record names the image repository', () => {
  it('ATCR layout: the path after the signer, or the full name', () => {
    expect(checkManifestRecord(record({ repository: 'app' }), expected).repository).toBe('app');
    expect(checkManifestRecord(record({ repository: 'atcr.io/alice.example/app' }), expected).repository).toBe('atcr.io/alice.example/app');
  });

  it('ATCR layout: another repository is REPOSITORY_MISMATCH', () => {
    const err = refusal(record({ repository: 'other' }));
    expect(err.code).toBe('REPOSITORY_MISMATCH');
    expect(err.message).toMatch(/^image atcr\.io\/alice\.example\/app is repository "app" of alice\.example, but the signed record names "other"; name mapping: /);
  });

  it('ATCR layout under another identity\'s path is REPOSITORY_MISMATCH, naming both', () => {
    const err = refusal(record(), { reference: 'atcr.io/mallory.example/app:1', verifiedHandle: undefined });
    expect(err.code).toBe('REPOSITORY_MISMATCH');
    expect(err.message).toMatch(/^atcr\.io paths are <handle-or-did>\/<repository>, and image atcr\.io\/mallory\.example\/app names "mallory\.example", not the signer \(did:plc:alice\w+, no verified handle\); name mapping: /);
  });

  it('a verified handle names the signer too, in any case', () => {
    const withHandle = { verifiedHandle: 'Alice.Example' };
    expect(checkManifestRecord(record(), { ...expected, ...withHandle }).repository).toBe('app');
    expect(refusal(record({ repository: 'x' }), withHandle).message).toMatch(/^image atcr\.io\/alice\.example\/app is repository "app" of alice\.example/);
    const err = refusal(record(), { reference: 'atcr.io/bob.example/app:1', verifiedHandle: 'alice.example' });
    expect(err.message).toMatch(/not the signer \(did:plc:alice\w+, handle alice\.example\)/);
  });

  it('without a verified handle, a handle path is not the signer\'s', () => {
    expect(refusal(record(), { verifiedHandle: undefined }).code).toBe('REPOSITORY_MISMATCH');
  });

  it('full layout: the record must name registry/repository exactly', () => {
    const full = { reference: 'ghcr.io/team/app:1', verifiedHandle: undefined };
    expect(checkManifestRecord(record({ repository: 'ghcr.io/team/app' }), { ...expected, ...full }).repository).toBe('ghcr.io/team/app');
    const err = refusal(record({ repository: 'team/app' }), full);
    expect(err.code).toBe('REPOSITORY_MISMATCH');
    expect(err.message).toMatch(/^image ghcr\.io\/team\/app is not the signed record's repository "team\/app" \(signer did:plc:alice\w+, no verified handle\); name mapping: /);
  });

  it('an ATCR-layout host path under another identity: the remediation says a signature never crosses identities', () => {
    const err = refusal(record(), { reference: 'atcr.io/mallory.example/app:1', verifiedHandle: undefined });
    expect(err.remediation).toBe("The image path names another identity than the signer: a signature by one identity never admits an image under another identity's path.");
  });

  it('full layout, no registries entry would map the name: the plain remediation', () => {
    const err = refusal(record({ repository: 'quay.io/x/y' }), { reference: 'ghcr.io/team/app:1', verifiedHandle: undefined });
    expect(err.remediation).toBe('The image path names another repository or identity than the signed record: this signature is not for this image name.');
  });

  it('without a reference the repository is not checked (the digest still is)', () => {
    expect(checkManifestRecord(record({ repository: 'anything' }), { ...expected, reference: undefined }).repository).toBe('anything');
  });
});

describe('recordRepositoryFor: what `sign` writes, by the same layout rule', () => {
  it.each([
    ['a path under the verified handle: the rest of the path', 'ghcr.io/alice.example/app:1', 'app'],
    ['a single-segment path is never ATCR layout, even if it starts with the handle', 'ghcr.io/alice.examplex:1', 'ghcr.io/alice.examplex'],
    ['another first segment: the full name', 'ghcr.io/team/app:1', 'ghcr.io/team/app'],
  ])('%s', (_rule, image, repository) => {
    expect(recordRepositoryFor(image, { did: ALICE, handle: 'alice.example' }, ['atcr.io'])).toBe(repository);
  });

  it('on an ATCR-layout host, a path under someone else is refused before any record is written, naming the segment', () => {
    const err = errorOf(() => recordRepositoryFor('atcr.io/mallory.example/app:1', { did: ALICE, handle: 'alice.example' }, ['atcr.io']));
    expect(err.code).toBe('INPUT_INVALID');
    expect(err.message).toBe(`atcr.io paths are <handle-or-did>/<repository>, and atcr.io/mallory.example/app starts with "mallory.example", which is not you (${ALICE}, handle alice.example)`);
  });
});
