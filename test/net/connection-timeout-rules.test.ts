/** connectionTimedOut (src/net/connection-timeout.ts) names the host and the port to open, the default one when the URL has none. */
import { describe, expect, it } from 'vitest';
import { connectionTimedOut } from '../../src/net/connection-timeout.js';

describe('the message names host:port', () => {
  it.each([
    ['https://pds.example/xrpc', 'pds.example:443'],
    ['http://pds.example/xrpc', 'pds.example:80'],
    ['https://pds.example:8443/', 'pds.example:8443'],
    ['http://[::1]:5000/', '[::1]:5000'],
  ])('%s -> %s', (url, hostPort) => {
    expect(connectionTimedOut(new URL(url), 1500)).toBe(`connection timed out to ${hostPort} (not connected after 1500 ms; is egress to this port allowed?)`);
  });
});
