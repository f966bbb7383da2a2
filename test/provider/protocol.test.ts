import { describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { parseProviderRequest, ProtocolError, providerResponse, systemErrorResponse } from '../../src/provider/gatekeeper-protocol.js';
import { ResultCache } from '../../src/provider/result-cache.js';
import { answerFromError, isTransient, responseItem } from '../../src/provider/verification-item.js';

// The protocol layer alone: Gatekeeper's ProviderRequest / ProviderResponse (frameworks
// constraint/pkg/externaldata) and the ATCR simple shape, plus the per-key answer and the cache.

const GK = 'externaldata.gatekeeper.sh/v1beta1';
const parse = (body: unknown, maxKeys = 10) => parseProviderRequest(typeof body === 'string' ? body : JSON.stringify(body), { maxKeys });

describe('parseProviderRequest', () => {
  it('reads a Gatekeeper ProviderRequest, as frameworks NewProviderRequest builds it', () => {
    expect(parse({ apiVersion: GK, kind: 'ProviderRequest', request: { keys: ['a.example/x:1', 'b.example/y@sha256:' + 'a'.repeat(64)] } })).toEqual({
      shape: 'gatekeeper',
      apiVersion: GK,
      keys: ['a.example/x:1', 'b.example/y@sha256:' + 'a'.repeat(64)],
    });
  });

  it('treats absent keys as none (Go omits an empty list)', () => {
    expect(parse({ apiVersion: GK, kind: 'ProviderRequest', request: {} }).keys).toEqual([]);
    expect(parse({ apiVersion: GK, kind: 'ProviderRequest' }).keys).toEqual([]);
  });

  it('accepts v1alpha1, whose types are the same, and answers in the version asked', () => {
    const req = parse({ apiVersion: 'externaldata.gatekeeper.sh/v1alpha1', kind: 'ProviderRequest', request: { keys: [] } });
    expect(providerResponse(req, [])).toMatchObject({ apiVersion: 'externaldata.gatekeeper.sh/v1alpha1', kind: 'ProviderResponse' });
  });

  it('reads the ATCR simple shape {keys, values}', () => {
    expect(parse({ keys: ['r.example/a:1'], values: [] })).toEqual({ shape: 'simple', apiVersion: GK, keys: ['r.example/a:1'] });
  });

  it.each([
    ['not JSON', '{"apiVersion":', /not valid JSON/],
    ['an array', [], /must be a JSON object/],
    ['no apiVersion', { kind: 'ProviderRequest', request: { keys: [] } }, /apiVersion must be externaldata\.gatekeeper\.sh\/v1beta1, got null/],
    ['another group', { apiVersion: 'example.com/v1beta1', kind: 'ProviderRequest' }, /apiVersion must be/],
    ['a response', { apiVersion: GK, kind: 'ProviderResponse', request: { keys: [] } }, /kind must be ProviderRequest, got "ProviderResponse"/],
    ['request not an object', { apiVersion: GK, kind: 'ProviderRequest', request: ['a'] }, /request must be an object/],
    ['keys not a list', { apiVersion: GK, kind: 'ProviderRequest', request: { keys: 'a' } }, /request\.keys must be a list/],
    ['a non-string key', { apiVersion: GK, kind: 'ProviderRequest', request: { keys: ['a', null] } }, /request\.keys\[1\] is null/],
    ['too many keys', { apiVersion: GK, kind: 'ProviderRequest', request: { keys: Array(11).fill('a') } }, /11 keys, above the limit of 10/],
    ['simple shape, bad key', { keys: [{}] }, /keys\[0\] is object/],
  ])('refuses %s as a whole (systemError)', (_name, body, message) => {
    let error: unknown;
    try {
      parse(body);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).message).toMatch(message);
    expect((error as ProtocolError).status).toBe(400);
  });

  it('keeps the shape of a malformed simple request, so its error comes back in that shape', () => {
    try {
      parse({ keys: 'a' });
    } catch (err) {
      expect((err as ProtocolError).shape).toBe('simple');
    }
  });
});

describe('responses', () => {
  it('builds a ProviderResponse with idempotent true, and a systemError response with no items', () => {
    const req = { shape: 'gatekeeper' as const, apiVersion: GK };
    expect(providerResponse(req, [{ key: 'k', value: { isSuccess: true } }])).toEqual({
      apiVersion: GK,
      kind: 'ProviderResponse',
      response: { idempotent: true, items: [{ key: 'k', value: { isSuccess: true } }] },
    });
    expect(systemErrorResponse(req, 'boom')).toEqual({ apiVersion: GK, kind: 'ProviderResponse', response: { idempotent: true, items: [], systemError: 'boom' } });
    expect(providerResponse({ shape: 'simple', apiVersion: GK }, [{ key: 'k', error: 'e' }])).toEqual({ responses: [{ key: 'k', error: 'e' }] });
    expect(systemErrorResponse({ shape: 'simple', apiVersion: GK }, 'boom')).toEqual({ responses: [], systemError: 'boom' });
  });

  it('sets the item error exactly when the image is not admitted, with code, step and remediation', () => {
    const refused = answerFromError('r.example/a:1', new VerificationError('UNTRUSTED_DID', 'did:plc:x is not trusted for r.example/a'));
    const item = responseItem('r.example/a:1', refused.value);
    expect(item.error).toBe(`[UNTRUSTED_DID] policy: did:plc:x is not trusted for r.example/a. ${refused.value.error!.remediation}`);
    expect(item.value).toMatchObject({ isSuccess: false, reference: 'r.example/a:1', error: { code: 'UNTRUSTED_DID', step: 'policy' } });
    expect(refused.result).toBe('failure');

    const ok = responseItem('k', { isSuccess: true, audit: false, message: 'verified', reference: 'k', cached: false });
    expect(ok.error).toBeUndefined();
  });

  it('counts unreachable services as errors and the budget as timeouts, and never caches them', () => {
    const down = answerFromError('k', new VerificationError('REGISTRY_UNREACHABLE', 'connect ECONNREFUSED'));
    expect(down.result).toBe('error');
    expect(isTransient(down.value.error)).toBe(true);
    const late = answerFromError('k', new VerificationError('DEADLINE_EXCEEDED', 'budget'));
    expect(late.result).toBe('timeout');
    expect(isTransient(late.value.error)).toBe(true);
    expect(isTransient(answerFromError('k', new VerificationError('SIGNATURE_INVALID', 'bad')).value.error)).toBe(false);
    expect(answerFromError('k', new Error('raw')).value.error?.code).toBe('INTERNAL');
  });
});

describe('ResultCache', () => {
  it('expires entries and evicts the least recently used beyond its bound', () => {
    let now = 1000;
    const cache = new ResultCache<string>(2, () => now);
    cache.set('a', 'A', 100);
    cache.set('b', 'B', 100);
    expect(cache.get('a')).toBe('A'); // a is now the most recent
    cache.set('c', 'C', 100);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe('A');
    expect(cache.get('c')).toBe('C');
    now += 100;
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(1);
    cache.set('d', 'D', 0);
    expect(cache.get('d')).toBeUndefined();
    expect(() => new ResultCache(0)).toThrow(RangeError);
  });
});
