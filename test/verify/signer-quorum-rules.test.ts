/**
 * Counting signers (issue 17, src/verify/signer-quorum.ts): k DISTINCT DIDs, each with a signature
 * that passed on its own; one DID twice counts once; a refused signature never counts; the missing
 * list names eligible DIDs not yet proven; the decision message says who is missing and why.
 */
import { describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import type { SignerRequirement } from '../../src/policy/claims.js';
import { countSigners, decideWithQuorum, quorumSettled, type SignatureCheck } from '../../src/verify/signer-quorum.js';
import type { VerificationOutcome } from '../../src/verify/verifier.js';

const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const B = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const C = 'did:plc:cccccccccccccccccccccccc';

const passed = (did: string, extra: Partial<VerificationOutcome> = {}): VerificationOutcome => ({ isSuccess: true, audit: false, message: `verified ${did}`, did, steps: [], ...extra });
const refused = (did: string, code = 'UNTRUSTED_DID'): VerificationOutcome => ({
  isSuccess: false, audit: false, message: 'refused', did, steps: [], error: new VerificationError(code as 'UNTRUSTED_DID', 'no'),
});
const checks = (...outcomes: VerificationOutcome[]): SignatureCheck[] => outcomes.map((outcome, i) => ({ referrer: `sha256:${i}`, outcome }));
const need = (required: number, eligible?: string[], auditRequired = 0): SignerRequirement => ({ required, auditRequired, ...(eligible ? { eligible } : {}), policies: ['p'] });

describe('countSigners: k distinct DIDs whose own signature passed', () => {
  // [rule, requirement, outcomes, counted DIDs, met, missing]
  const table: [string, SignerRequirement, VerificationOutcome[], string[], boolean, string[]][] = [
    ['one passing signer meets k=1', need(1), [passed(A)], [A], true, []],
    ['no signature: not met', need(1), [], [], false, []],
    ['two distinct passing DIDs meet k=2', need(2, [A, B]), [passed(A), passed(B)], [A, B], true, []],
    ['the same DID twice counts once', need(2, [A, B]), [passed(A), passed(A)], [A], false, [B]],
    ['a refused signature does not count (failed a matching enforce policy)', need(2, [A, B]), [passed(A), refused(B)], [A], false, [B]],
    ['a refused then passing signature by one DID counts it once', need(1, [A]), [refused(A), passed(A)], [A], true, []],
    ['a passing outcome without a DID does not count', need(1), [{ ...passed(A), did: undefined }], [], false, []],
    ['more signers than required: met, all listed in proven order', need(2, [A, B, C]), [passed(C), passed(A), passed(B)], [C, A, B], true, []],
    ['missing lists eligible DIDs not proven, in policy order', need(3, [A, B, C]), [passed(B)], [B], false, [A, C]],
  ];
  it.each(table)('%s', (_rule, requirement, outcomes, counted, met, missing) => {
    const q = countSigners(requirement, checks(...outcomes));
    expect(q.signers.map((s) => s.did)).toEqual(counted);
    expect([q.met, q.missing, q.required]).toEqual([met, missing, requirement.required]);
  });

  it('a counted signer keeps the first passing referrer, its handle and commit', () => {
    const q = countSigners(need(1), checks(passed(A, { handle: 'a.example', commitCid: 'bafyA' }), passed(A, { handle: 'other.example' }), passed(B)));
    expect(q.signers).toEqual([{ did: A, handle: 'a.example', commitCid: 'bafyA', referrer: 'sha256:0' }, { did: B, referrer: 'sha256:2' }]);
  });

  it.each([
    ['fewer than the audit k: auditShort, not settled', 2, [passed(A)], true, false],
    ['exactly the audit k: settled', 2, [passed(A), passed(B)], false, true],
    ['no audit k: settled once met', 0, [passed(A)], false, true],
  ] as [string, number, VerificationOutcome[], boolean, boolean][])('audit requirement: %s', (_rule, auditRequired, outcomes, short, settled) => {
    const q = countSigners(need(1, undefined, auditRequired), checks(...outcomes));
    expect([q.auditShort, q.auditRequired, quorumSettled(q)]).toEqual([short, auditRequired, settled]);
  });

  it('not met is never settled', () => {
    expect(quorumSettled(countSigners(need(2), checks(passed(A))))).toBe(false);
  });
});

describe('decideWithQuorum: the image passes only when the quorum is met', () => {
  it('a failed base outcome stays failed, with the quorum attached', () => {
    const base = refused(A);
    const q = countSigners(need(1), checks(base));
    expect(decideWithQuorum(base, q, checks(base))).toEqual({ ...base, quorum: q });
  });

  it('k=1 met: the outcome is unchanged apart from the quorum', () => {
    const base = passed(A);
    const q = countSigners(need(1), checks(base));
    expect(decideWithQuorum(base, q, checks(base))).toEqual({ ...base, quorum: q });
  });

  it('too few: TOO_FEW_SIGNERS naming proven, missing, refused others and unread referrers', () => {
    const all = checks(passed(A, { handle: 'a.example' }), refused(C, 'KEY_NOT_PINNED'), refused(A));
    const q = countSigners(need(3, [A, B, C]), all);
    const d = decideWithQuorum(all[0]!.outcome, q, all, 2);
    expect([d.isSuccess, d.audit, d.error?.code]).toEqual([false, false, 'TOO_FEW_SIGNERS']);
    expect(d.error!.message).toBe(
      `the image needs 3 distinct trusted signers, 1 proven: a.example (${A}); missing 2 more from ${B}, ${C}; other signatures refused: ${C} KEY_NOT_PINNED; 2 signature referrer(s) beyond the read limit were not read`,
    );
    expect(d.message).toBe(`policy step failed [TOO_FEW_SIGNERS]: ${d.error!.message}`);
    expect(d.steps).toEqual([{ step: 'policy', ok: false, detail: d.error!.message }]);
  });

  it('too few with nothing else to say: no missing list, no refused, no unread', () => {
    const all = checks(passed(A));
    const d = decideWithQuorum(all[0]!.outcome, countSigners(need(2), all), all);
    expect(d.error!.message).toBe(`the image needs 2 distinct trusted signers, 1 proven: ${A}; missing 1 more`);
  });

  it('at most five refused others are named', () => {
    const dids = 'defghij'.split('').map((ch) => `did:plc:${ch.repeat(24)}`);
    const all = checks(passed(A), ...dids.map((d) => refused(d)));
    const d = decideWithQuorum(all[0]!.outcome, countSigners(need(2), all), all);
    expect(d.error!.message.match(/UNTRUSTED_DID/g)).toHaveLength(5);
  });

  it('audit short: admitted as audit, saying how many the audit policy needs', () => {
    const all = checks(passed(A));
    const d = decideWithQuorum(all[0]!.outcome, countSigners(need(1, undefined, 2), all), all);
    expect([d.isSuccess, d.audit]).toEqual([true, true]);
    expect(d.message).toBe(`audit: would be refused [TOO_FEW_SIGNERS]: an audit policy needs 2 distinct trusted signers, 1 proven (${A}); allowed because that policy is in audit mode`);
  });

  it.each([
    ['online', {}, `verified: 2 distinct trusted signers (2 required): ${A}, ${B}`],
    ['offline says revocation was not checked', { offline: true }, `offline: revocation not checked; verified: 2 distinct trusted signers (2 required): ${A}, ${B}`],
    ['an audit base keeps its message', { audit: true, message: 'audit: x' }, `verified: 2 distinct trusted signers (2 required): ${A}, ${B} (audit: x)`],
  ] as [string, Partial<VerificationOutcome>, string][])('k=2 met, %s', (_rule, extra, message) => {
    const all = checks(passed(A, extra), passed(B));
    const d = decideWithQuorum(all[0]!.outcome, countSigners(need(2), all), all);
    expect([d.isSuccess, d.message]).toEqual([true, message]);
  });
});

describe('decideWithQuorum: what TOO_FEW_SIGNERS names', () => {
  const noError = (did: string): VerificationOutcome => ({ isSuccess: false, audit: false, message: 'refused', did, steps: [] });

  it('refused others: only failures that name a DID not already proven, comma-separated, "refused" when no code', () => {
    // B refused with a code, C refused without one, A refused once but proven by another signature, one failure names no DID.
    const all = checks(passed(A), passed(C, { did: 'did:plc:zzzzzzzzzzzzzzzzzzzzzzzz' }), refused(B, 'DID_EXPIRED'), noError(C), refused(A), { ...refused(B), did: undefined });
    const q = countSigners(need(4), all);
    const d = decideWithQuorum(all[0]!.outcome, q, all);
    expect(d.error!.message).toBe(
      `the image needs 4 distinct trusted signers, 2 proven: ${A}, did:plc:zzzzzzzzzzzzzzzzzzzzzzzz; missing 2 more; other signatures refused: ${B} DID_EXPIRED, ${C} refused`,
    );
  });

  it('a pass that names no DID proves no one: "0 proven: none"', () => {
    const base = { ...passed(A), did: undefined };
    const all = checks(base);
    const d = decideWithQuorum(base, countSigners(need(1), all), all);
    expect(d.error!.message).toBe('the image needs 1 distinct trusted signers, 0 proven: none; missing 1 more');
  });
});
