// clerk-js's browser bundle in headless Chromium, against a production instance:
// the client travels in latch's HttpOnly `__client` cookie, cross-origin with CORS.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  backendClient, httpCodeSender, jwtClaims, launchBrowser, newUserParams, signUpInPage, startCodeReceiver,
  startLatch, startPageServer,
} from './harness.mjs';

let pageServer, pageOrigin, latch, receiver, browser, page, user, params, blocked;
const pageConfig = {};

before(async () => {
  ({ server: pageServer, origin: pageOrigin } = await startPageServer(pageConfig));
  receiver = await startCodeReceiver();
  latch = await startLatch({ environment: 'production', allowedOrigins: [pageOrigin], env: httpCodeSender(receiver) });
  Object.assign(pageConfig, { publishableKey: latch.publishableKey, proxyUrl: latch.url });

  params = newUserParams();
  user = await backendClient(latch).users.createUser(params);

  let context;
  ({ browser, context, blocked } = await launchBrowser());
  page = await context.newPage();
  page.on('pageerror', (err) => console.error('[page error]', err));
});

after(async () => {
  await browser?.close();
  await latch?.stop();
  await receiver?.close();
  pageServer?.close();
});

async function loadClerk() {
  await page.goto(pageOrigin);
  return page.evaluate(async () => {
    await window.Clerk.load({ telemetry: false });
    return { loaded: window.Clerk.loaded, sessionId: window.Clerk.session?.id ?? null };
  });
}

test('the browser bundle loads against a production instance', async () => {
  assert.match(latch.publishableKey, /^pk_live_/);
  const state = await loadClerk();
  assert.deepEqual(state, { loaded: true, sessionId: null });
});

let signedIn;

test('sign in with email and password, setActive, getToken', async () => {
  signedIn = await page.evaluate(async ({ identifier, password }) => {
    const signIn = await window.Clerk.client.signIn.create({ strategy: 'password', identifier, password });
    await window.Clerk.setActive({ session: signIn.createdSessionId });
    const token = await window.Clerk.session.getToken();
    return { status: signIn.status, sessionId: signIn.createdSessionId, activeId: window.Clerk.session?.id, token };
  }, { identifier: params.emailAddress[0], password: params.password });

  assert.equal(signedIn.status, 'complete');
  assert.match(signedIn.sessionId ?? '', /^sess_/);
  assert.equal(signedIn.activeId, signedIn.sessionId);
  const claims = jwtClaims(signedIn.token);
  assert.equal(claims.sub, user.id);
  assert.equal(claims.sid, signedIn.sessionId);
});

test('latch keeps the client in an HttpOnly __client cookie', async () => {
  const cookies = await page.context().cookies(latch.url);
  const client = cookies.find((c) => c.name === '__client');
  assert.ok(client, `cookies: ${cookies.map((c) => c.name).join(', ')}`);
  assert.equal(client.httpOnly, true);
  assert.equal(client.sameSite, 'Lax');
  assert.equal(await page.evaluate(() => document.cookie.includes('__client=')), false);
});

test('after a reload the session is restored from the cookie', async () => {
  const state = await loadClerk();
  assert.deepEqual(state, { loaded: true, sessionId: signedIn.sessionId });
});

test('signOut ends the session, also after a reload', async () => {
  // A callback instead of the default redirect keeps the page in place.
  const sessionId = await page.evaluate(async () => {
    await window.Clerk.signOut(() => {});
    return window.Clerk.session?.id ?? null;
  });
  assert.equal(sessionId, null);
  assert.deepEqual(await loadClerk(), { loaded: true, sessionId: null });
  const { data } = await backendClient(latch).sessions.getSessionList({ userId: user.id });
  assert.notEqual(data.find((s) => s.id === signedIn.sessionId)?.status, 'active');
});

test('wrong password surfaces form_password_incorrect in the page', async () => {
  const err = await page.evaluate(async ({ identifier }) => {
    try {
      await window.Clerk.client.signIn.create({ strategy: 'password', identifier, password: 'not-the-password' });
      return null;
    } catch (e) {
      return { code: e.errors?.[0]?.code, status: e.status };
    }
  }, { identifier: params.emailAddress[0] });
  assert.deepEqual(err, { code: 'form_password_incorrect', status: 422 });
});

test('sign up with email, password and an email code, setActive, getToken; kept after a reload', async () => {
  const email = newUserParams().emailAddress[0];
  const { started, prepared, done } = await signUpInPage(page, receiver, { emailAddress: email, password: params.password });
  assert.equal(started.status, 'missing_requirements');
  assert.deepEqual(started.unverifiedFields, ['email_address']);
  assert.equal(prepared.emailStrategy, 'email_code');
  assert.equal(done.status, 'complete');
  assert.match(done.sessionId ?? '', /^sess_/);
  assert.equal(done.activeId, done.sessionId);
  const claims = jwtClaims(done.token);
  assert.equal(claims.sub, done.userId);
  assert.equal(claims.sid, done.sessionId);

  const created = await backendClient(latch).users.getUser(done.userId);
  assert.equal(created.primaryEmailAddress?.emailAddress, email);
  assert.equal(created.primaryEmailAddress?.verification?.status, 'verified');
  assert.deepEqual(await loadClerk(), { loaded: true, sessionId: done.sessionId });
  await page.evaluate(() => window.Clerk.signOut(() => {}));
});

test('the page reached no other host', () => {
  assert.deepEqual(blocked, []);
});
