import { createSign, randomUUID, X509Certificate } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A distribution token service (docker "token authentication" spec) for the real docker-registry:
 * it checks Basic credentials or an OAuth2 refresh token and issues an ES256 JWT carrying the
 * granted scope, signed by a certificate the registry trusts (`auth.token.rootcertbundle`, chain
 * in `x5c`). Our own code, not a mock: the registry verifies every token it issues.
 */
export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** Requests seen, to assert which grant the client used. */
  grants: string[];
  close(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export async function startTokenServer(opts: {
  cert: string;
  key: string;
  users: Record<string, string>;
  refreshTokens: Record<string, string>;
}): Promise<TokenServer> {
  const service = 'test-registry';
  const issuer = 'test-token-issuer';
  const grants: string[] = [];
  const x5c = [new X509Certificate(opts.cert).raw.toString('base64')];

  function issue(subject: string, scope: string | null): string {
    const access = (scope ?? '')
      .split(' ')
      .filter(Boolean)
      .map((s) => {
        const [type, name, actions] = s.split(':');
        return { type, name, actions: (actions ?? '').split(',') };
      });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', x5c }));
    const claims = b64url(JSON.stringify({ iss: issuer, sub: subject, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access }));
    const signer = createSign('SHA256');
    signer.update(`${header}.${claims}`);
    const signature = signer.sign({ key: opts.key, dsaEncoding: 'ieee-p1363' });
    return `${header}.${claims}.${b64url(signature)}`;
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const deny = () => {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      };
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        grants.push(`POST ${form.get('grant_type')}`);
        const user = opts.refreshTokens[form.get('refresh_token') ?? ''];
        if (form.get('grant_type') !== 'refresh_token' || !user) return deny();
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: issue(user, form.get('scope')), expires_in: 300 }));
        return;
      }
      const auth = req.headers.authorization ?? '';
      grants.push(`GET ${auth.split(' ')[0] || 'anonymous'}`);
      const [user, password] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString('utf8').split(':');
      if (!auth.startsWith('Basic ') || !user || opts.users[user] !== password) return deny();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: issue(user, url.searchParams.get('scope')) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    grants,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
