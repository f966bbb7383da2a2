import { describe, expect, it } from 'vitest';
import { Progress } from '../../src/cli/progress.js';

/** A stand-in for process.stderr: only `isTTY` and `write` matter to Progress. */
function stream(isTTY: boolean): NodeJS.WriteStream & { written: string } {
  const s = { isTTY, written: '', write: (chunk: string) => ((s.written += chunk), true) };
  return s as unknown as NodeJS.WriteStream & { written: string };
}

describe('progress for long waits', () => {
  it('draws and then erases one line on a terminal', async () => {
    const tty = stream(true);
    const value = await new Progress(tty).during('verifying x', async () => 42);
    expect(value).toBe(42);
    expect(tty.written).toContain('verifying x');
    expect(tty.written.endsWith('\r\x1b[2K')).toBe(true);
  });

  it('writes nothing at all when piped, and still returns or throws what the work does', async () => {
    const pipe = stream(false);
    await expect(new Progress(pipe).during('signing x', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await new Progress(pipe).during('signing y', async () => 'ok')).toBe('ok');
    expect(pipe.written).toBe('');
  });
});
