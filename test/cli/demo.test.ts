import { describe, expect, it } from 'vitest';
import { cliIsBuilt, runCli } from './run-cli.js';

// `npm run demo` is the README's first command: it must run to completion on this machine, show
// one pass and the refusals through both faces, and leave nothing running behind it.

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

describe('atproto-verifier demo', () => {
  it('starts the local network, signs, verifies through the plugin and verify, and stops everything', async () => {
    expect(cliIsBuilt(), 'dist/cli.js is missing: run node scripts/build.mjs --bundle-only').toBe(true);
    const r = await runCli(['demo'], { timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = r.stdout;

    // The plugin face: one VerifierResult per image, as Ratify reports it.
    expect(out).toMatch(/demo\/web:1\.0 {2}isSuccess: true {3}signed by alice\.test/);
    expect(out).toMatch(/demo\/web:1\.1 {2}isSuccess: false {2}policy step \[UNTRUSTED_DID\]/);
    expect(out).toMatch(/demo\/web:1\.2 {2}isSuccess: false {2}record step \[DIGEST_MISMATCH\]/);
    // The verify face: the human summaries.
    expect(out).toMatch(/ {2}VERIFIED {2}127\.0\.0\.1:\d+\/demo\/web@sha256:[a-f0-9]{64}/);
    expect(out.match(/ {2}NOT VERIFIED {2}/g)).toHaveLength(2);
    expect(out).toContain('failed      policy step [UNTRUSTED_DID]');
    expect(out).toContain('failed      record step [DIGEST_MISMATCH]');
    expect(out).toContain('Demo passed');
    expect(out.split('\n').length).toBeLessThan(60); // it goes in the README: keep it short

    // Everything it started is stopped: the registry, the PDS and the PLC no longer answer.
    const urls = /PLC (\S+) {3}PDS (\S+) {3}registry (\S+)/.exec(out);
    expect(urls).not.toBeNull();
    for (const url of urls!.slice(1)) expect(await answers(url!), `${url} still answers`).toBe(false);
  }, 70_000);
});
