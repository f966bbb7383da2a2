/**
 * parseManifestRecordUri (src/verify/record-uri.ts): the artifact's recordUri must name a manifest
 * record of the signer it claims, with a valid record key; each refusal says which part is wrong.
 */
import { describe, expect, it } from 'vitest';
import { MANIFEST_COLLECTION, parseManifestRecordUri } from '../../src/verify/record-uri.js';
import { errorOf } from '../harness/error-code.js';

const DID = 'did:plc:abcdefghijklmnopqrstuvwx';
const uri = (rkey: string, did = DID, collection = MANIFEST_COLLECTION) => `at://${did}/${collection}/${rkey}`;

describe('a manifest record of the claimed signer, with a valid record key', () => {
  it.each(['3jzfcijpj2z2a', 'a', 'self', 'a.b:c~d_e-f', 'x'.repeat(512), '...'])('rkey %s is accepted', (rkey) => {
    expect(parseManifestRecordUri(uri(rkey), DID)).toEqual({ did: DID, collection: MANIFEST_COLLECTION, rkey });
  });

  it.each<[string, string, string]>([
    ['a URI of another shape', `at://${DID}/${MANIFEST_COLLECTION}`, `recordUri "at://${DID}/${MANIFEST_COLLECTION}" is not at://<did>/<collection>/<rkey>`],
    ['a URI with a path after the rkey', `${uri('a')}/b`, `recordUri "${uri('a')}/b" is not at://<did>/<collection>/<rkey>`],
    ['a URI with a prefix', ` ${uri('a')}`, `recordUri " ${uri('a')}" is not at://<did>/<collection>/<rkey>`],
    ['an https URI', `https://${DID}/${MANIFEST_COLLECTION}/a`, `recordUri "https://${DID}/${MANIFEST_COLLECTION}/a" is not at://<did>/<collection>/<rkey>`],
    ['a record of another DID', uri('a', 'did:plc:other'), `recordUri names did:plc:other but the artifact claims signer ${DID}`],
    ['a record of another collection', uri('a', DID, 'app.bsky.feed.post'), `recordUri points at collection app.bsky.feed.post, not ${MANIFEST_COLLECTION}`],
    ['the rkey "."', uri('.'), 'recordUri has an invalid record key "."'],
    ['the rkey ".."', uri('..'), 'recordUri has an invalid record key ".."'],
    ['an rkey of 513 characters', uri('x'.repeat(513)), `recordUri has an invalid record key "${'x'.repeat(100)}"`],
    ['an rkey with a space', uri('a b'), 'recordUri has an invalid record key "a b"'],
    ['an rkey with a percent sign', uri('a%2F'), 'recordUri has an invalid record key "a%2F"'],
  ])('%s is ARTIFACT_INVALID', (_name, value, message) => {
    const err = errorOf(() => parseManifestRecordUri(value, DID));
    expect(err.code).toBe('ARTIFACT_INVALID');
    expect(err.message).toBe(message);
  });

  it('a long malformed URI is shown cut to 200 characters', () => {
    const long = `at://${'x'.repeat(300)}`;
    expect(errorOf(() => parseManifestRecordUri(long, DID)).message).toBe(`recordUri "${long.slice(0, 200)}" is not at://<did>/<collection>/<rkey>`);
  });

  it(`the collection is ${MANIFEST_COLLECTION}`, () => {
    expect(MANIFEST_COLLECTION).toBe('io.atcr.manifest');
  });
});
