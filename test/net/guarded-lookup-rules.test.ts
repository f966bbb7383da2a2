/**
 * guardedLookup (src/net/guarded-fetch.ts), the DNS half of the address guard: every answer a
 * name has is judged (one private answer refuses the name, so DNS rebinding between answers
 * cannot pick the private one), the caller's address family is asked for, the answer comes back
 * in the shape the caller asked (one address or all), and a resolver error passes through as is.
 * The fake resolver stands in for node:dns; the last rows use the real one on numeric names.
 */
import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { guardedLookup, type ResolveAll } from '../../src/net/guarded-fetch.js';

type Outcome = { err: unknown; address: unknown; family: unknown };

function run(lookup: LookupFunction, hostname: string, options: { family?: number; all?: boolean } = {}): Promise<Outcome> {
  return new Promise((resolve) => lookup(hostname, options, (err, address, family) => resolve({ err, address, family })));
}

function answering(answers: LookupAddress[] | Error): { resolve: ResolveAll; asked: unknown[] } {
  const asked: unknown[] = [];
  return {
    asked,
    resolve: (hostname, options, callback) => {
      asked.push({ hostname, ...options });
      process.nextTick(() => (answers instanceof Error ? callback(answers, []) : callback(null, answers)));
    },
  };
}

const v4 = (address: string): LookupAddress => ({ address, family: 4 });
const v6 = (address: string): LookupAddress => ({ address, family: 6 });

describe('public only: every answer is judged', () => {
  it.each<[string, LookupAddress[], string | undefined]>([
    ['one public answer', [v4('8.8.8.8')], undefined],
    ['a public IPv6 answer', [v6('2606:4700::1111')], undefined],
    ['a private answer', [v4('10.0.0.5')], '10.0.0.5'],
    ['a private answer after a public one', [v4('8.8.8.8'), v4('10.0.0.5')], '10.0.0.5'],
    ['a loopback IPv6 answer after a public one', [v6('2606:4700::1111'), v6('::1')], '::1'],
    ['a mapped loopback answer', [v6('::ffff:127.0.0.1')], '::ffff:127.0.0.1'],
    ['the metadata address', [v4('169.254.169.254')], '169.254.169.254'],
  ])('%s', async (_, answers, refused) => {
    const { resolve } = answering(answers);
    const out = await run(guardedLookup(false, resolve), 'pds.example');
    if (refused === undefined) {
      expect(out).toEqual({ err: null, address: answers[0]!.address, family: answers[0]!.family });
    } else {
      expect(out.err).toBeInstanceOf(VerificationError);
      expect((out.err as VerificationError).code).toBe('NETWORK_DENIED');
      expect((out.err as VerificationError).message).toBe(`pds.example resolves to ${refused}, a private, loopback or reserved address`);
    }
  });

  it('with allowPrivateNetwork a private answer is used', async () => {
    const { resolve } = answering([v4('10.0.0.5'), v4('8.8.8.8')]);
    expect(await run(guardedLookup(true, resolve), 'registry.internal')).toEqual({ err: null, address: '10.0.0.5', family: 4 });
  });
});

describe('the shape of the answer', () => {
  it('all: true gets every address, after every one was judged', async () => {
    const answers = [v4('8.8.8.8'), v6('2606:4700::1111')];
    const { resolve } = answering(answers);
    const out = await new Promise<unknown[]>((done) =>
      guardedLookup(false, resolve)('pds.example', { all: true }, ((err: unknown, list: unknown) => done([err, list])) as never),
    );
    expect(out).toEqual([null, answers]);
  });

  it.each<[{ family?: number }, number]>([
    [{}, 0],
    [{ family: 4 }, 4],
    [{ family: 6 }, 6],
  ])('the family asked for (%j) is the family resolved (%d), always with every answer', async (options, family) => {
    const { resolve, asked } = answering([v4('8.8.8.8')]);
    await run(guardedLookup(false, resolve), 'pds.example', options);
    expect(asked).toEqual([{ hostname: 'pds.example', all: true, family }]);
  });

  it('a resolver error is passed on as it is', async () => {
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND pds.example'), { code: 'ENOTFOUND' });
    const { resolve } = answering(notFound);
    expect((await run(guardedLookup(false, resolve), 'pds.example')).err).toBe(notFound);
  });

  it('no answer at all is "not found", never a connection to nothing', async () => {
    const { resolve } = answering([]);
    const out = await run(guardedLookup(true, resolve), 'pds.example');
    expect(out.err).toBeInstanceOf(Error);
    expect((out.err as NodeJS.ErrnoException).code).toBe('ENOTFOUND');
    expect((out.err as Error).message).toBe('no address for pds.example');
  });
});

describe('the default resolver is node:dns', () => {
  it('a numeric public name resolves to itself', async () => {
    expect(await run(guardedLookup(false), '8.8.8.8')).toEqual({ err: null, address: '8.8.8.8', family: 4 });
  });

  it('a numeric loopback name is refused', async () => {
    const out = await run(guardedLookup(false), '127.0.0.1');
    expect((out.err as VerificationError).code).toBe('NETWORK_DENIED');
  });
});
