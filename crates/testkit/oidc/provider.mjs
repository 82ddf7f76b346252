// A real OpenID Connect provider (the `oidc-provider` package) for latch-http's
// tests, on a free loopback port.
//
//   node provider.mjs '<json settings>'
//
// Settings: { clientId, clientSecret, redirectUris: [..], accounts: [{ sub,
// email, email_verified, given_name, family_name, preferred_username, picture }],
// idTokenAlg ("RS256" | "PS256" | "ES256" | "EdDSA"), tokenEndpointAuthMethod
// ("client_secret_basic" | "client_secret_post"), claimsInIdToken (bool) }.
//
// It prints `listening <port>` once it serves `http://127.0.0.1:<port>` (the
// issuer), and exits when its standard input closes, so it never outlives
// the test that started it. PKCE (S256) is required of every client. Logins
// go through the package's built-in development pages: any password, and the
// login names the account (its `sub`).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const settings = JSON.parse(process.argv[2] ?? '{}');
const accounts = new Map((settings.accounts ?? []).map((a) => [a.sub, a]));

function jwk(type, options, alg, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, kid, use: 'sig' };
}

const keys = [
  jwk('rsa', { modulusLength: 2048 }, 'RS256', 'rsa-1'),
  jwk('rsa', { modulusLength: 2048 }, 'PS256', 'rsa-pss-1'),
  jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'ec-1'),
  jwk('ed25519', undefined, 'EdDSA', 'ed-1'),
];

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: settings.clientId,
      client_secret: settings.clientSecret,
      redirect_uris: settings.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: settings.tokenEndpointAuthMethod ?? 'client_secret_basic',
      id_token_signed_response_alg: settings.idTokenAlg ?? 'RS256',
    }],
    pkce: { required: () => true },
    jwks: { keys },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['given_name', 'family_name', 'preferred_username', 'picture'],
    },
    // With the default (true), claims asked for by scope are served by the
    // userinfo endpoint only; false puts them in the id_token too.
    conformIdTokenClaims: !settings.claimsInIdToken,
    features: { devInteractions: { enabled: true } },
    async findAccount(_ctx, sub) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { ...account };
        },
      };
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`listening ${port}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
