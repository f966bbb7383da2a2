import { beforeEach } from 'vitest';
import { forgetBoundedMemos } from '../../src/bounded-memo.js';

// Each test starts with empty parse memos (src/bounded-memo.ts): what one test parsed, possibly
// under another mutant in a mutation run, must not answer for the next.
beforeEach(() => forgetBoundedMemos());
