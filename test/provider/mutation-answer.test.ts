import { describe, expect, it } from 'vitest';
import { mutationAnswer } from '../../src/provider/mutation-answer.js';
import type { ItemValue } from '../../src/provider/verification-item.js';

// The /mutate item is derived from the verdict /provide would give; these pin the rules that
// keep a digest from ever being written for anything but the bytes that verified.

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const verdict = (over: Partial<ItemValue> = {}): ItemValue => ({
  isSuccess: true,
  audit: false,
  message: 'verified',
  reference: 'x',
  pinned: `registry.example/team/app@${D1}`,
  digest: D1,
  cached: false,
  ...over,
});

describe('mutationAnswer', () => {
  it('pins a tag to the canonical registry/repository@digest that verified, dropping the tag', () => {
    expect(mutationAnswer('registry.example/team/app:1.0', verdict())).toEqual({ item: { key: 'registry.example/team/app:1.0', value: `registry.example/team/app@${D1}` }, outcome: 'pinned' });
  });

  it('pins a Docker Hub short name to its full canonical name', () => {
    const v = verdict({ pinned: `docker.io/library/busybox@${D1}` });
    expect(mutationAnswer('busybox:1.36', v).item.value).toBe(`docker.io/library/busybox@${D1}`);
  });

  it('returns a digest key exactly as sent, with or without a tag beside the digest', () => {
    for (const key of [`registry.example/team/app@${D1}`, `registry.example/team/app:1.0@${D1}`]) {
      expect(mutationAnswer(key, verdict())).toEqual({ item: { key, value: key }, outcome: 'unchanged' });
    }
  });

  it('pins what audit mode or defaultAction admitted too: validation admits it, so the Pod must keep those bytes', () => {
    expect(mutationAnswer('registry.example/team/app:1.0', verdict({ audit: true })).outcome).toBe('pinned');
  });

  it('refuses with the verdict\'s reason and no value when the image did not verify', () => {
    const refused = mutationAnswer('registry.example/team/app:1.0', verdict({
      isSuccess: false,
      error: { code: 'UNTRUSTED_DID', step: 'policy', message: 'not trusted', remediation: 'Trust it or do not run it.' },
    }));
    expect(refused).toEqual({ item: { key: 'registry.example/team/app:1.0', error: '[UNTRUSTED_DID] policy: not trusted. Trust it or do not run it.' }, outcome: 'refused' });
  });

  it('refuses rather than pin a digest other than the one the key names, or one the verdict does not back', () => {
    const other = mutationAnswer(`registry.example/team/app@${D2}`, verdict());
    expect(other.outcome).toBe('refused');
    expect(other.item.error).toMatch(/^\[INTERNAL\] internal: no digest to pin .* verified at sha256:1{64}, not at the sha256:2{64}/);
    expect(mutationAnswer('registry.example/team/app:1.0', verdict({ pinned: undefined })).outcome).toBe('refused');
    expect(mutationAnswer('registry.example/team/app:1.0', verdict({ pinned: `registry.example/team/app@${D2}` })).outcome).toBe('refused');
    expect(mutationAnswer('registry.example/team/app:1.0', verdict({ digest: undefined })).item).not.toHaveProperty('value');
  });

  it('refuses a key that is not an image reference', () => {
    const bad = mutationAnswer('Not A Reference!', verdict());
    expect(bad.outcome).toBe('refused');
    expect(bad.item.error).toMatch(/^\[INPUT_INVALID\]/);
  });
});
