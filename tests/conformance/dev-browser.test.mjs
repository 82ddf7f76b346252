// clerk-js's browser bundle in headless Chromium, against a development instance whose
// publishable key names a development host: clerk-js then identifies its client with a
// development browser token in every URL (`__clerk_db_jwt`) instead of a cookie.
//
// What makes clerk-js 6.40.0 choose this mode: the instance type comes from the key
// (`pk_test_` = development) and the host is the one decoded from the key, even when
// `proxyUrl` sends the traffic elsewhere. The host must end in one of .lcl.dev, .stg.dev,
// .lclstage.dev, .stgstage.dev, .dev.lclclerk.com, .stg.lclclerk.com,
// .accounts.lclclerk.com, accountsstage.dev or accounts.dev. Any other host (latch's
// default clerk.latch.localhost included) makes a pk_test_ key use the `__client` cookie.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  backendClient, httpCodeSender, jwtClaims, launchBrowser, newUserParams, signUpInPage, startCodeReceiver,
  startLatch, startPageServer,
} from './harness.mjs';

// Never resolved nor reached: proxyUrl sends every call to latch on 127.0.0.1.
const FRONTEND_HOST = 'latch-conformance.clerk.accounts.dev';

let pageServer, pageOrigin, latch, receiver, browser, context, page, user, params, blocked;
const pageConfig = {};
/** Every request the page sent to latch, in order; see record(). */
const calls = [];

/**
 * Logs a request to latch as { call: 'METHOD /path' (with the `_method` override),
 * dbJwt: its `__clerk_db_jwt` or null, done: promise of { status, rotated, res } }, where
 * `rotated` is the `Clerk-Db-Jwt` response header or null.
 */
function record(request) {
  const url = new URL(request.url());
  if (url.origin !== latch.url) return;
  const method = url.searchParams.get('_method') ?? request.method();
  calls.push({
    call: `${method} ${url.pathname}`,
    dbJwt: url.searchParams.get('__clerk_db_jwt'),
    done: request.response().then(async (res) => ({
      status: res?.status() ?? null,
      rotated: (await res?.headerValue('clerk-db-jwt')) ?? null,
      res,
    })),
  });
}

/** The calls logged from index `start` on, with their responses. */
async function callsSince(start) {
  const list = calls.slice(start);
  return Promise.all(list.map(async (c) => ({ ...c, ...(await c.done) })));
}

const summary = (list) => list.map((c) => `${c.call} ${c.dbJwt ?? '-'} -> ${c.status}`).join('\n');

before(async () => {
  ({ server: pageServer, origin: pageOrigin } = await startPageServer(pageConfig));
  // The page is on another origin than latch: clerk-js must be able to read the
  // responses (and the Clerk-Db-Jwt header), which takes CORS for the page's origin.
  receiver = await startCodeReceiver();
  latch = await startLatch({
    environment: 'development', allowedOrigins: [pageOrigin], frontendHost: FRONTEND_HOST, env: httpCodeSender(receiver),
  });
  Object.assign(pageConfig, { publishableKey: latch.publishableKey, proxyUrl: latch.url });

  params = newUserParams();
  user = await backendClient(latch).users.createUser(params);

  ({ browser, context, blocked } = await launchBrowser());
  page = await context.newPage();
  page.on('pageerror', (err) => console.error('[page error]', err));
  page.on('request', record);
});

after(async () => {
  await browser?.close();
  await latch?.stop();
  await receiver?.close();
  pageServer?.close();
});

async function loadClerk(path = '/') {
  await page.goto(pageOrigin + path);
  return page.evaluate(async () => {
    await window.Clerk.load({ telemetry: false });
    return { loaded: window.Clerk.loaded, sessionId: window.Clerk.session?.id ?? null };
  });
}

/** Direct `GET /v1/client` from Node (no cookies) with this development browser token. */
async function getClient(dbJwt) {
  const res = await fetch(`${latch.url}/v1/client?__clerk_db_jwt=${encodeURIComponent(dbJwt)}`);
  return { status: res.status, body: await res.json() };
}

let devBrowserToken, signedIn;

test('latch keys prints a pk_test_ key for the development host', () => {
  assert.match(latch.publishableKey, /^pk_test_/);
  const host = Buffer.from(latch.publishableKey.slice('pk_test_'.length), 'base64').toString();
  assert.equal(host, `${FRONTEND_HOST}$`);
});

test('clerk-js opens a development browser first and sends its token on every later call', async () => {
  const start = calls.length;
  assert.deepEqual(await loadClerk(), { loaded: true, sessionId: null });
  const log = await callsSince(start);

  const [first, ...rest] = log;
  assert.equal(first.call, 'POST /v1/dev_browser', summary(log));
  assert.equal(first.dbJwt, null);
  assert.equal(first.status, 200);
  const body = await first.res.json();
  assert.equal(typeof body.id, 'string');
  assert.ok(body.id.length > 0);
  devBrowserToken = body.id;

  // Development browsers update the environment with PATCH instead of GET.
  const names = rest.map((c) => c.call);
  assert.ok(names.includes('PATCH /v1/environment'), summary(log));
  assert.ok(names.includes('GET /v1/client'), summary(log));
  for (const c of rest) {
    assert.equal(c.dbJwt, devBrowserToken, `${c.call} without the dev browser token:\n${summary(log)}`);
    assert.equal(c.status, 200, summary(log));
  }
});

test('the token names the client; no __client cookie is set', async () => {
  const { status, body } = await getClient(devBrowserToken);
  assert.equal(status, 200);
  assert.equal(body.response?.object, 'client');
  assert.deepEqual(body.response.sessions, []);

  const latchCookies = await context.cookies(latch.url);
  assert.equal(latchCookies.find((c) => c.name === '__client'), undefined);
});

test('sign in with email and password, setActive, getToken; the dev browser keeps its token', async () => {
  const start = calls.length;
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
  assert.equal(claims.iss, `https://${FRONTEND_HOST}`);
  assert.equal(claims.azp, pageOrigin);

  const log = await callsSince(start);
  const i = log.findIndex((c) => c.call === 'POST /v1/client/sign_ins');
  assert.ok(i >= 0, summary(log));
  const signInCall = log[i];
  assert.equal(signInCall.dbJwt, devBrowserToken);
  assert.equal(signInCall.status, 200);
  // The dev browser's token is its identity: it stays through the sign-in, so
  // no Clerk-Db-Jwt rotation is announced and requests in flight keep working.
  assert.equal(signInCall.rotated, null, `unexpected Clerk-Db-Jwt header:\n${summary(log)}`);

  const later = log.slice(i + 1);
  const names = later.map((c) => c.call);
  assert.ok(names.includes(`POST /v1/client/sessions/${signedIn.sessionId}/touch`), summary(log));
  // The session arrives with its token (last_active_token), minted for this
  // page: clerk-js answers getToken from it without asking again.
  assert.ok(!names.includes(`POST /v1/client/sessions/${signedIn.sessionId}/tokens`), summary(log));
  for (const c of later) {
    assert.equal(c.dbJwt, devBrowserToken, `${c.call} did not keep the dev browser token:\n${summary(log)}`);
    assert.equal(c.status, 200, summary(log));
  }
});

test('the dev browser token names the signed-in client', async () => {
  const current = await getClient(devBrowserToken);
  assert.equal(current.status, 200);
  assert.deepEqual(current.body.response.sessions.map((s) => s.id), [signedIn.sessionId]);
});

test('after a reload the session is restored with the persisted token', async () => {
  // clerk-js keeps the token in a cookie of the page's own site, readable by script.
  const pageCookies = await context.cookies(pageOrigin);
  assert.equal(pageCookies.find((c) => c.name === '__clerk_db_jwt')?.value, devBrowserToken);

  const start = calls.length;
  assert.deepEqual(await loadClerk(), { loaded: true, sessionId: signedIn.sessionId });
  const log = await callsSince(start);
  assert.ok(log.length > 0);
  assert.ok(!log.some((c) => c.call === 'POST /v1/dev_browser'), summary(log));
  for (const c of log) {
    assert.equal(c.dbJwt, devBrowserToken, summary(log));
    assert.equal(c.status, 200, summary(log));
  }
});

test('signOut ends the session, also after a reload', async () => {
  const start = calls.length;
  // A callback instead of the default redirect keeps the page in place.
  const sessionId = await page.evaluate(async () => {
    await window.Clerk.signOut(() => {});
    return window.Clerk.session?.id ?? null;
  });
  assert.equal(sessionId, null);
  const log = await callsSince(start);
  const signOut = log.find((c) => c.call === 'DELETE /v1/client/sessions');
  assert.ok(signOut, summary(log));
  assert.equal(signOut.dbJwt, devBrowserToken);
  assert.equal(signOut.status, 200);

  assert.deepEqual(await loadClerk(), { loaded: true, sessionId: null });
  const { data } = await backendClient(latch).sessions.getSessionList({ userId: user.id });
  assert.notEqual(data.find((s) => s.id === signedIn.sessionId)?.status, 'active');
});

test('sign up with email, password and an email code; every call keeps the dev browser token', async () => {
  const start = calls.length;
  const email = newUserParams().emailAddress[0];
  const { started, prepared, done } = await signUpInPage(page, receiver, { emailAddress: email, password: params.password });
  assert.equal(started.status, 'missing_requirements');
  assert.deepEqual(started.unverifiedFields, ['email_address']);
  assert.equal(prepared.emailStrategy, 'email_code');
  assert.equal(done.status, 'complete');
  assert.equal(done.activeId, done.sessionId);
  const claims = jwtClaims(done.token);
  assert.equal(claims.sub, done.userId);
  assert.equal(claims.sid, done.sessionId);
  assert.equal(claims.azp, pageOrigin);

  const log = await callsSince(start);
  const names = log.map((c) => c.call);
  for (const call of [
    'POST /v1/client/sign_ups',
    `POST /v1/client/sign_ups/${started.id}/prepare_verification`,
    `POST /v1/client/sign_ups/${started.id}/attempt_verification`,
    `POST /v1/client/sessions/${done.sessionId}/touch`,
  ]) assert.ok(names.includes(call), `${call} missing:\n${summary(log)}`);
  for (const c of log) {
    assert.equal(c.dbJwt, devBrowserToken, `${c.call} did not keep the dev browser token:\n${summary(log)}`);
    assert.equal(c.status, 200, summary(log));
    assert.equal(c.rotated, null, `unexpected Clerk-Db-Jwt header:\n${summary(log)}`);
  }
  assert.deepEqual((await getClient(devBrowserToken)).body.response.sessions.map((s) => s.id), [done.sessionId]);
  assert.equal((await backendClient(latch).users.getUser(done.userId)).primaryEmailAddress?.verification?.status, 'verified');
  await page.evaluate(() => window.Clerk.signOut(() => {}));
});

test('a token in the page URL is adopted; an unknown one makes clerk-js open a new dev browser', async () => {
  const bogus = 'not-a-dev-browser-token';
  const start = calls.length;
  assert.deepEqual(await loadClerk(`/?__clerk_db_jwt=${bogus}`), { loaded: true, sessionId: null });
  const log = await callsSince(start);

  const rejected = log.findIndex((c) => c.dbJwt === bogus && c.status === 401);
  assert.ok(rejected >= 0, summary(log));
  assert.equal((await log[rejected].res.json()).errors?.[0]?.code, 'dev_browser_unauthenticated');
  // clerk-js 6.40.0 redoes POST /v1/dev_browser twice here (once from the failed
  // request, once from load()'s retry); the last token is the one it keeps.
  const reopened = log.findLastIndex((c) => c.call === 'POST /v1/dev_browser');
  assert.ok(reopened > rejected, summary(log));
  const fresh = (await log[reopened].res.json()).id;
  assert.ok(fresh && ![bogus, devBrowserToken].includes(fresh), summary(log));
  const after = log.slice(reopened + 1);
  assert.ok(after.some((c) => c.call === 'GET /v1/client' && c.status === 200), summary(log));
  for (const c of after) assert.equal(c.dbJwt, fresh, summary(log));

  // clerk-js strips the token from the address bar.
  assert.equal(new URL(page.url()).searchParams.has('__clerk_db_jwt'), false);
});

test('the page reached no other host', () => {
  assert.deepEqual(blocked, []);
});
