import { describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { failedOutcome } from '../../src/verify/verifier.js';
import { checkCommand, logLine, MAX_LINE_CHARS, parsePluginRequest, PluginError } from '../../plugin/protocol.js';
import { toVerifierResult } from '../../plugin/result.js';
import { createReferrerStore } from '../../plugin/store.js';

// The protocol layer alone: the order and codes of Ratify v1.4.0's Go skeleton
// (pkg/verifier/plugin/skel/skel.go), and the output shapes Ratify parses.

const DIGEST = `sha256:${'a'.repeat(64)}`;
const ENV = { RATIFY_VERIFIER_COMMAND: 'VERIFY', RATIFY_VERIFIER_SUBJECT: `reg.example/app@${DIGEST}`, RATIFY_VERIFIER_VERSION: '1.0.0' };
const STDIN = JSON.stringify({ config: { name: 'atproto-verifier' }, storeConfig: { store: { name: 'oras' } }, referenceDesc: { digest: DIGEST } });

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof PluginError) return err.code;
    throw err;
  }
  return undefined;
}

describe('parsePluginRequest', () => {
  it('parses a well-formed request, keeping the subject parsed', () => {
    const req = parsePluginRequest(ENV, STDIN);
    expect(req.subjectRef).toEqual({ registry: 'reg.example', repository: 'app', digest: DIGEST });
    expect(req.config.name).toBe('atproto-verifier');
  });

  it('checks in the skeleton\'s order: env (4), subject (7), version (6), stdin (1), name (2)', () => {
    // Every fault at once: the first check in Ratify's order wins.
    const bad = { RATIFY_VERIFIER_SUBJECT: 'NOT VALID', RATIFY_VERIFIER_VERSION: '9', RATIFY_VERIFIER_COMMAND: 'NOPE' };
    expect(codeOf(() => parsePluginRequest({}, 'x'))).toBe(4);
    expect(codeOf(() => parsePluginRequest(bad, 'x'))).toBe(7);
    expect(codeOf(() => parsePluginRequest({ ...bad, RATIFY_VERIFIER_SUBJECT: ENV.RATIFY_VERIFIER_SUBJECT }, 'x'))).toBe(6);
    expect(codeOf(() => parsePluginRequest({ ...ENV, RATIFY_VERIFIER_COMMAND: 'NOPE' }, 'x'))).toBe(1);
    expect(codeOf(() => parsePluginRequest(ENV, '{"config": {}}'))).toBe(2);
    expect(codeOf(() => parsePluginRequest(ENV, '[]'))).toBe(1);
    expect(codeOf(() => parsePluginRequest(ENV, '{"config": 5}'))).toBe(1);
  });

  it('lists missing variables in Ratify\'s order and format', () => {
    expect(() => parsePluginRequest({ RATIFY_VERIFIER_VERSION: '1.0.0' }, '')).toThrow('missing env variables [RATIFY_VERIFIER_COMMAND,RATIFY_VERIFIER_SUBJECT]');
  });

  it('accepts the versions Ratify sends (1.0.0 for CRDs, 0.1.0 for config.json verifiers)', () => {
    expect(parsePluginRequest({ ...ENV, RATIFY_VERIFIER_VERSION: '0.1.0' }, STDIN).version).toBe('0.1.0');
    expect(codeOf(() => parsePluginRequest({ ...ENV, RATIFY_VERIFIER_VERSION: '1.0' }, STDIN))).toBe(6);
  });

  it('checks the command last (3), after the store (7)', () => {
    const req = parsePluginRequest({ ...ENV, RATIFY_VERIFIER_COMMAND: 'SIGN' }, STDIN.replace('"oras"', '"other"'));
    expect(codeOf(() => createReferrerStore(req.storeConfig))).toBe(7);
    expect(codeOf(() => checkCommand(req))).toBe(3);
  });

  it('serialises errors as Ratify\'s plugin.Error', () => {
    const err = new PluginError(4, 'missing env variables [X]');
    expect(JSON.parse(JSON.stringify(err))).toEqual({ code: 4, msg: 'missing env variables [X]' });
  });
});

describe('createReferrerStore', () => {
  const store = (s: Record<string, unknown>) => () => createReferrerStore({ store: { name: 'oras', ...s } as never });
  it('accepts the ORAS store with dockerConfig auth, and refuses what it cannot honour by name', () => {
    expect(codeOf(store({}))).toBeUndefined();
    expect(codeOf(store({ authProvider: { name: 'dockerConfig', configPath: '/x/config.json' } }))).toBeUndefined();
    expect(() => store({ authProvider: { name: 'k8Secrets' } })()).toThrow(/k8Secrets/);
    expect(codeOf(store({ useHttp: 'yes' }))).toBe(7);
    expect(codeOf(store({ authProvider: { name: 'dockerConfig', configPath: 5 } }))).toBe(7);
  });
});

describe('log lines', () => {
  it('never contain a brace (Ratify would read them as result JSON) and stay short', () => {
    const line = logLine('warn', `bad {"isSuccess": true} ${'x'.repeat(100_000)}\nsecond line`);
    expect(line).toMatch(/^warn: /);
    expect(line).not.toMatch(/[{}]/);
    expect(line.trimEnd()).not.toContain('\n');
    expect(line.length).toBeLessThanOrEqual(MAX_LINE_CHARS + 10);
  });
});

describe('toVerifierResult', () => {
  it('carries the failed step, code, reason and remediation of a failure', () => {
    const result = toVerifierResult(failedOutcome(new VerificationError('UNTRUSTED_DID', 'did:plc:x is not trusted')), { name: 'v', type: 't' });
    expect(result).toMatchObject({ isSuccess: false, name: 'v', type: 't', verifierName: 'v', verifierType: 't', errorReason: 'did:plc:x is not trusted' });
    expect(result.extensions).toMatchObject({ errorCode: 'UNTRUSTED_DID', failedStep: 'policy', error: 'did:plc:x is not trusted' });
    expect(result.remediation).toBeTruthy();
    expect(result.message).toContain('did:plc:x is not trusted');
  });
});
