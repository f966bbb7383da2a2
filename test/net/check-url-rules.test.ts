/**
 * checkUrl (src/net/guarded-fetch.ts), the part of the guard that runs before any I/O:
 *   - https always; http only where allowed (allowHttp, which defaults to allowPrivateNetwork);
 *     no other scheme, whatever is allowed;
 *   - an IP literal is judged as the address, in every spelling the URL parser accepts
 *     (hex, octal, shortened and integer IPv4; bracketed IPv6 carrying IPv4);
 *   - a name is let through here: it is judged on every DNS answer when connecting.
 */
import { describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { checkUrl } from '../../src/net/guarded-fetch.js';

function verdict(url: string, policy: { allowPrivateNetwork: boolean; allowHttp?: boolean }): string {
  try {
    return `ok ${checkUrl(url, policy, 'test').host}`;
  } catch (err) {
    expect(err).toBeInstanceOf(VerificationError);
    return (err as VerificationError).code;
  }
}

describe('schemes: https always, http only where allowed', () => {
  it.each<[string, boolean, boolean | undefined, boolean]>([
    ['https:', false, undefined, true],
    ['https:', false, false, true],
    ['http:', false, undefined, false],
    ['http:', false, false, false],
    ['http:', false, true, true], // a registry declared plain-http, on a public address
    ['http:', true, undefined, true], // a test network
    ['http:', true, false, false], // private addresses allowed, http not
    ['ftp:', true, true, false],
    ['ws:', true, true, false],
    ['file:', true, true, false],
  ])('%s with allowPrivateNetwork %s, allowHttp %s: allowed %s', (scheme, allowPrivateNetwork, allowHttp, allowed) => {
    const policy = allowHttp === undefined ? { allowPrivateNetwork } : { allowPrivateNetwork, allowHttp };
    expect(verdict(`${scheme}//registry.example/v2/`, policy)).toBe(allowed ? 'ok registry.example' : 'NETWORK_DENIED');
  });
});

describe('IP literals are judged in every spelling', () => {
  it.each([
    'https://127.0.0.1/',
    'https://127.1/',
    'https://0x7f.1/',
    'https://0x7f000001/',
    'https://2130706433/',
    'https://0177.0.0.1/',
    'https://017700000001/',
    'https://10.0.0.5:8443/',
    'https://0xa9.0xfe.0xa9.0xfe/', // 169.254.169.254, the metadata address
    'https://[::1]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:7f00:1]/',
    'https://[64:ff9b::a9fe:a9fe]/',
    'https://[2002:a00:5::1]/',
    'https://[fd00::1]/',
    'https://[2001:db8::1]/',
  ])('%s is refused', (url) => {
    expect(verdict(url, { allowPrivateNetwork: false })).toBe('NETWORK_DENIED');
    expect(verdict(url, { allowPrivateNetwork: true })).toMatch(/^ok /);
  });

  it.each([
    ['https://8.8.8.8/', 'ok 8.8.8.8'],
    ['https://0x8080808/', 'ok 8.8.8.8'],
    ['https://[2606:4700::1111]/', 'ok [2606:4700::1111]'],
    ['https://[::ffff:808:808]/', 'ok [::ffff:808:808]'],
    // names are judged when they resolve, even ones that look like addresses of other kinds
    ['https://localhost/', 'ok localhost'],
    ['https://127.0.0.1.nip.io/', 'ok 127.0.0.1.nip.io'],
  ])('%s passes this check', (url, expected) => {
    expect(verdict(url, { allowPrivateNetwork: false })).toBe(expected);
  });
});
