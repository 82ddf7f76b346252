// An Express API on @clerk/express, with only Latch's keys and URL: `getAuth` and
// `requireAuth` accept a session token minted by Latch (bearer), refuse a request
// without one, and see the session end when the user signs out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { backendClient, newUserParams, startLatch } from './harness.mjs';

let latch, server, api, user, params;

/** A native Frontend API call; returns [status, body, authorization header]. */
async function fapi(method, path, token, form) {
  const res = await fetch(`${latch.url}${path}${path.includes('?') ? '&' : '?'}_is_native=1`, {
    method,
    headers: { authorization: token ?? '', ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    body: form ? new URLSearchParams(form) : undefined,
  });
  return [res.status, await res.json(), res.headers.get('authorization')];
}

before(async () => {
  latch = await startLatch();
  params = newUserParams();
  user = await backendClient(latch).users.createUser(params);
  // What an application sets: its keys and where Latch's Backend API is.
  process.env.CLERK_SECRET_KEY = latch.secretKey;
  process.env.CLERK_PUBLISHABLE_KEY = latch.publishableKey;
  process.env.CLERK_API_URL = latch.url;
  const { default: express } = await import('express');
  const { clerkMiddleware, getAuth, requireAuth } = await import('@clerk/express');
  const app = express();
  app.use(clerkMiddleware());
  app.get('/me', (req, res) => res.json({ userId: getAuth(req).userId ?? null }));
  app.get('/protected', requireAuth(), (req, res) => res.json({ userId: getAuth(req).userId }));
  await new Promise((resolve) => { server = app.listen(0, '127.0.0.1', resolve); });
  api = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  server?.close();
  await latch?.stop();
});

let token, sessionId, client;

test('a signed-in user\'s session token is accepted as a bearer token', async () => {
  const [status, body, authorization] = await fapi('POST', '/v1/client/sign_ins', '', {
    strategy: 'password', identifier: params.emailAddress[0], password: params.password,
  });
  assert.equal(status, 200, JSON.stringify(body));
  client = authorization;
  sessionId = body.response.created_session_id;
  const [tokenStatus, minted] = await fapi('POST', `/v1/client/sessions/${sessionId}/tokens`, client);
  assert.equal(tokenStatus, 200);
  token = minted.jwt;
  for (const path of ['/me', '/protected']) {
    const res = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, path);
    assert.deepEqual(await res.json(), { userId: user.id }, path);
  }
});

test('without a token getAuth sees nobody and requireAuth lets nothing through', async () => {
  const me = await fetch(`${api}/me`);
  assert.deepEqual(await me.json(), { userId: null });
  const res = await fetch(`${api}/protected`, { redirect: 'manual' });
  assert.notEqual(res.status, 200);
  const forged = await fetch(`${api}/me`, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
  assert.deepEqual(await forged.json(), { userId: null }, 'a token with another signature names nobody');
});
