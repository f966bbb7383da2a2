/**
 * What a deadline met before the connection was up says. Packets dropped on the way (a
 * NetworkPolicy or firewall without this port) look exactly like this, and the operator needs the
 * host and port to open, not just "no answer". Established means TCP, and TLS for https.
 */
export function connectionTimedOut(url: URL, ms: number): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `connection timed out to ${url.hostname}:${port} (not connected after ${ms} ms; is egress to this port allowed?)`;
}
