import { execFileSync } from 'node:child_process';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import schema from '../../schemas/signature-payload.schema.json' with { type: 'json' };
import { parseSignaturePayload } from '../../src/artifact/signature-payload.js';
import { errorOf } from '../harness/error-code.js';

// The plugin validates payloads with a validator compiled from the schema at build time; it must
// be the schema's, and behave as ajv compiling the schema at run time would.

const DIGEST = `sha256:${'c'.repeat(64)}`;
const valid = {
  $type: 'io.atcr.atprotoSignature',
  version: '1.0',
  subject: { digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
  atproto: { did: 'did:plc:aliceaaaaaaaaaaaaaaaaaaa', recordUri: 'at://did:plc:aliceaaaaaaaaaaaaaaaaaaa/io.atcr.manifest/3k2abcdefghij' },
  futureField: { anything: true },
};

describe('the generated payload validator', () => {
  it('is up to date with schemas/signature-payload.schema.json', () => {
    expect(() => execFileSync(process.execPath, ['scripts/compile-schemas.mjs', '--check'], { stdio: 'pipe' })).not.toThrow();
  });

  it('agrees with ajv compiling the schema at run time, on valid and invalid payloads', () => {
    const reference = new Ajv({ strict: false }).compile(schema);
    const variants: unknown[] = [
      valid,
      { ...valid, $type: 'other' },
      { ...valid, subject: { digest: 'sha256:short' } },
      { ...valid, atproto: { ...valid.atproto, did: 5 } },
      { ...valid, atproto: undefined },
      [],
      'text',
      null,
    ];
    for (const v of variants) {
      const expected = reference(v);
      let ours = true;
      try {
        parseSignaturePayload(v);
      } catch {
        ours = false;
      }
      expect(ours, JSON.stringify(v)).toBe(expected);
    }
  });

  it('names the missing field', () => {
    const { atproto: _, ...withoutAtproto } = valid;
    expect(errorOf(() => parseSignaturePayload(withoutAtproto)).message).toContain('/atproto is required');
  });
});
