// Forged and stale session tokens against @clerk/backend's verifyToken, with
// latch's JWKS as the key source: an expired token, an unknown key id, an
// HMAC token keyed with the public key (algorithm confusion), an unsigned
// token, and a re-signed payload are all refused.
import assert from 'node:assert/strict';
import { generateKeyPairSync, createHmac, createSign } from 'node:crypto';
import { after, before, test } from 'node:test';
import { verifyToken } from '@clerk/backend';
import { backendClient, jwtClaims, loadNodeClerk, newUserParams, publicKeyPem, startLatch } from './harness.mjs';

// Short-lived tokens, so that one can expire within the test.
const LIFETIME_SECS = 1;

let latch, clerk, jwt, pem;

const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const header = (token) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
const viaJwks = (token, extra = {}) => verifyToken(token, { secretKey: latch.secretKey, apiUrl: latch.url, ...extra });

before(async () => {
  latch = await startLatch({ env: { LATCH_SIGN_IN__SESSION_TOKEN_LIFETIME_SECS: String(LIFETIME_SECS) } });
  clerk = await loadNodeClerk(latch);
  const params = newUserParams();
  await backendClient(latch).users.createUser(params);
  const signIn = await clerk.client.signIn.create({
    strategy: 'password', identifier: params.emailAddress[0], password: params.password,
  });
  await clerk.setActive({ session: signIn.createdSessionId });
  jwt = await clerk.session.getToken({ skipCache: true });
  pem = await publicKeyPem(latch);
});

after(async () => {
  await latch?.stop();
});

test('a fresh token verifies, so the refusals below are about the attack', async () => {
  const claims = await viaJwks(jwt);
  assert.equal(claims.sid, clerk.session.id);
});

test('a token signed by another key under an unknown kid is refused', async () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const head = b64({ alg: 'RS256', typ: 'JWT', kid: 'ins_not_latchs_key' });
  const body = b64(jwtClaims(jwt));
  const signature = createSign('RSA-SHA256').update(`${head}.${body}`).sign(privateKey).toString('base64url');
  await assert.rejects(viaJwks(`${head}.${body}.${signature}`));
});

test('a token signed by another key under latch\'s kid is refused', async () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const head = b64({ alg: 'RS256', typ: 'JWT', kid: header(jwt).kid });
  const body = b64(jwtClaims(jwt));
  const signature = createSign('RSA-SHA256').update(`${head}.${body}`).sign(privateKey).toString('base64url');
  await assert.rejects(viaJwks(`${head}.${body}.${signature}`));
  await assert.rejects(verifyToken(`${head}.${body}.${signature}`, { jwtKey: pem }));
});

test('HS256 keyed with the public key (algorithm confusion) is refused', async () => {
  const head = b64({ alg: 'HS256', typ: 'JWT', kid: header(jwt).kid });
  const body = b64(jwtClaims(jwt));
  const signature = createHmac('sha256', pem).update(`${head}.${body}`).digest('base64url');
  await assert.rejects(viaJwks(`${head}.${body}.${signature}`));
  await assert.rejects(verifyToken(`${head}.${body}.${signature}`, { jwtKey: pem }));
});

test('an unsigned token (alg none) is refused', async () => {
  const head = b64({ alg: 'none', typ: 'JWT', kid: header(jwt).kid });
  const body = b64({ ...jwtClaims(jwt), sub: 'user_anyone' });
  await assert.rejects(viaJwks(`${head}.${body}.`));
  await assert.rejects(verifyToken(`${head}.${body}.`, { jwtKey: pem }));
});

test('an expired token is refused', async () => {
  const exp = jwtClaims(jwt).exp;
  assert.equal(exp - jwtClaims(jwt).iat, LIFETIME_SECS);
  await new Promise((resolve) => setTimeout(resolve, (LIFETIME_SECS + 1.5) * 1000));
  await assert.rejects(viaJwks(jwt, { clockSkewInMs: 0 }), (err) => {
    assert.match(String(err.reason ?? err.message), /expired/i);
    return true;
  });
});
