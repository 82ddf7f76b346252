// Clerk's handshake as a server-side SDK drives it: @clerk/backend's authenticateRequest
// on page loads (GET, `Sec-Fetch-Dest: document`), a browser emulated with fetch and one
// cookie jar for 127.0.0.1 (cookies ignore ports, so the page and latch share it, as in a
// browser), latch's /v1/client/handshake followed by hand, and the nonce (or token)
// resolved by the SDK through the Backend API. A development and a production instance.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClerkClient, verifyToken } from '@clerk/backend';
import { backendClient, freePort, jwtClaims, newUserParams, startLatch } from './harness.mjs';

/** A browser's cookies for 127.0.0.1, fed by every Set-Cookie it is sent. */
class Browser {
  cookies = new Map();
  /** When cookies with a Max-Age expire (ms since the epoch). */
  expires = new Map();

  store(setCookies) {
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const maxAge = attrs.map((a) => /^\s*max-age=(-?\d+)\s*$/i.exec(a)?.[1]).find((v) => v !== undefined);
      this.expires.delete(name);
      if (maxAge !== undefined && Number(maxAge) <= 0) {
        this.cookies.delete(name);
        continue;
      }
      this.cookies.set(name, value);
      if (maxAge !== undefined) this.expires.set(name, Date.now() + Number(maxAge) * 1000);
    }
  }

  header() {
    for (const [name, at] of this.expires) {
      if (at <= Date.now()) {
        this.cookies.delete(name);
        this.expires.delete(name);
      }
    }
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get(name) {
    return this.cookies.get(name);
  }

  /**
   * Some seconds later: the SDK's 2-second redirect counter (`__clerk_redirect_count`,
   * its guard against handshake loops) is gone, as between a person's page loads.
   */
  later() {
    this.cookies.delete('__clerk_redirect_count');
    this.expires.delete('__clerk_redirect_count');
  }

  /** Drops a cookie and its suffixed twin (`name_<suffix>`), as a page script could. */
  drop(name) {
    for (const key of [...this.cookies.keys()]) {
      if (key === name || (key.startsWith(`${name}_`) && key.length === name.length + 9)) this.cookies.delete(key);
    }
  }

  /** Sets a cookie and its suffixed twin, if there is one. */
  set(name, value) {
    for (const key of [...this.cookies.keys()]) {
      if (key.startsWith(`${name}_`) && key.length === name.length + 9) this.cookies.set(key, value);
    }
    this.cookies.set(name, value);
  }
}

/** A directive (a Set-Cookie value) by cookie name: { value, attrs } or undefined. */
function directive(setCookies, name) {
  const line = setCookies.find((c) => c.split('=')[0].trim() === name);
  if (!line) return undefined;
  const [pair, ...attrs] = line.split(';').map((s) => s.trim());
  return { value: pair.slice(pair.indexOf('=') + 1), attrs: attrs.map((a) => a.toLowerCase()) };
}

/**
 * One instance of latch, a page origin, and what a server-side SDK and a browser do
 * against them.
 */
async function setUp(environment) {
  const pageOrigin = `http://127.0.0.1:${await freePort()}`;
  const latch = await startLatch({
    environment,
    allowedOrigins: environment === 'production' ? [pageOrigin] : [],
  });
  // The SDK as an application's server configures it: keys, the Backend API's URL, and
  // the Frontend API's (an http latch is reached through proxyUrl: the publishable
  // key's host is an https one).
  const sdk = createClerkClient({
    secretKey: latch.secretKey,
    publishableKey: latch.publishableKey,
    apiUrl: latch.url,
    proxyUrl: latch.url,
    telemetry: { disabled: true },
  });
  const params = newUserParams();
  const user = await backendClient(latch).users.createUser(params);

  /** A page load in `browser`: authenticateRequest's state, its Set-Cookies stored. */
  async function load(browser, url) {
    const headers = {
      'sec-fetch-dest': 'document',
      accept: 'text/html,application/xhtml+xml',
      'user-agent': 'Mozilla/5.0 conformance',
    };
    const cookie = browser.header();
    if (cookie) headers.cookie = cookie;
    const state = await sdk.authenticateRequest(new Request(new URL(url, pageOrigin), { headers }));
    const setCookies = state.headers.getSetCookie();
    browser.store(setCookies);
    return { state, setCookies, location: state.headers.get('location') };
  }

  /** The browser following a redirect to latch: its 307 and where it goes. */
  async function follow(browser, location) {
    assert.ok(location?.startsWith(`${latch.url}/`), `a redirect to latch, got ${location}`);
    const cookie = browser.header();
    const res = await fetch(location, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    const body = res.status === 307 ? '' : await res.text();
    assert.equal(res.status, 307, `latch answered ${res.status} ${body}`);
    browser.store(res.headers.getSetCookie());
    assert.equal(res.headers.get('cache-control'), 'no-store');
    return res.headers.get('location');
  }

  /** A Frontend API call from the page's browser (cookie mode), its Set-Cookies stored. */
  async function fapi(browser, method, path, form) {
    const headers = { origin: pageOrigin };
    const cookie = browser.header();
    if (cookie) headers.cookie = cookie;
    const init = { method, headers };
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      init.body = new URLSearchParams(form).toString();
    }
    const res = await fetch(`${latch.url}${path}`, init);
    const body = await res.json();
    assert.ok(res.ok, `${method} ${path} -> ${res.status} ${JSON.stringify(body)}`);
    browser.store(res.headers.getSetCookie());
    return { res, body };
  }

  /** Password sign-in through the Frontend API, as clerk-js in the page would. */
  async function signIn(browser) {
    const { body } = await fapi(browser, 'POST', '/v1/client/sign_ins', {
      strategy: 'password', identifier: params.emailAddress[0], password: params.password,
    });
    assert.equal(body.response.status, 'complete');
    const sessionId = body.response.created_session_id;
    assert.match(sessionId ?? '', /^sess_/);
    return sessionId;
  }

  /** verifyToken as an application does, with latch's JWKS. */
  const verify = (token) => verifyToken(token, { secretKey: latch.secretKey, apiUrl: latch.url });

  return { latch, sdk, user, params, pageOrigin, load, follow, fapi, signIn, verify };
}

/** The handshake Location the SDK built: latch's endpoint, with what it should carry. */
function assertHandshakeUrl(ctx, location, { reason, pageUrl }) {
  const url = new URL(location);
  assert.equal(`${url.origin}${url.pathname}`, `${ctx.latch.url}/v1/client/handshake`);
  assert.equal(url.searchParams.get('redirect_url'), new URL(pageUrl, ctx.pageOrigin).href);
  assert.equal(url.searchParams.get('format'), 'nonce');
  assert.equal(url.searchParams.get('__clerk_hs_reason'), reason);
  return url;
}

describe('development instance', () => {
  let ctx, browser, sessionId, lastToken;

  before(async () => {
    ctx = await setUp('development');
    browser = new Browser();
  });
  after(async () => {
    await ctx?.latch.stop();
  });

  test('signed out, no cookies: dev-browser-missing handshake, then signed-out with a development browser', async () => {
    assert.match(ctx.latch.publishableKey, /^pk_test_/);
    const first = await ctx.load(browser, '/dashboard?tab=1');
    assert.equal(first.state.status, 'handshake');
    assert.equal(first.state.reason, 'dev-browser-missing');
    const hs = assertHandshakeUrl(ctx, first.location, { reason: 'dev-browser-missing', pageUrl: '/dashboard?tab=1' });
    assert.equal(hs.searchParams.get('__clerk_db_jwt'), null);

    const back = new URL(await ctx.follow(browser, first.location));
    assert.equal(`${back.origin}${back.pathname}`, `${ctx.pageOrigin}/dashboard`);
    assert.equal(back.searchParams.get('tab'), '1');
    assert.ok(back.searchParams.get('__clerk_handshake_nonce'), back.href);

    const resolved = await ctx.load(browser, back.href);
    assert.equal(resolved.state.status, 'signed-out', `reason ${resolved.state.reason}: ${resolved.state.message}`);
    // Development: the SDK sends the browser once more to the page without the nonce.
    assert.equal(resolved.location, `${ctx.pageOrigin}/dashboard?tab=1`);
    const dbJwt = directive(resolved.setCookies, '__clerk_db_jwt');
    assert.ok(dbJwt?.value, `directives: ${resolved.setCookies.join(' | ')}`);
    assert.equal(directive(resolved.setCookies, '__session')?.value, '');
    assert.ok(directive(resolved.setCookies, '__session').attrs.includes('max-age=0'));
    assert.equal(directive(resolved.setCookies, '__client_uat')?.value, '0');
    for (const name of ['__session', '__client_uat', '__clerk_db_jwt']) {
      assert.ok(resolved.setCookies.some((c) => c.startsWith(`${name}_`)), `no suffixed ${name}`);
    }
    assert.ok(resolved.setCookies.every((c) => !/httponly/i.test(c)), 'no directive is HttpOnly');

    // The page itself: signed out with no further trip.
    const page = await ctx.load(browser, resolved.location);
    assert.equal(page.state.status, 'signed-out');
    assert.equal(page.state.reason, 'session-token-and-uat-missing');
    assert.equal(page.location, null);
    assert.equal(page.state.toAuth().userId, null);
  });

  test('the nonce is redeemed a few times (a reload), then spent', async () => {
    const first = await ctx.load(new Browser(), '/');
    const back = new URL(await ctx.follow(new Browser(), first.location));
    const nonce = back.searchParams.get('__clerk_handshake_nonce');
    for (let i = 0; i < 3; i += 1) {
      const payload = await ctx.sdk.clients.getHandshakePayload({ nonce });
      assert.ok(Array.isArray(payload.directives) && payload.directives.length > 0, JSON.stringify(payload));
    }
    await assert.rejects(ctx.sdk.clients.getHandshakePayload({ nonce }), (err) => {
      assert.ok(err.status >= 400 && err.status < 500, `status ${err.status}`);
      return true;
    });
  });

  test('signed in in the browser, a page load with __client_uat and no __session: handshake, then signed-in', async () => {
    sessionId = await ctx.signIn(browser);
    const uat = Number(browser.get('__client_uat'));
    assert.ok(uat > 0, `latch's sign-in answer set __client_uat: ${browser.get('__client_uat')}`);
    assert.equal(browser.get('__session'), undefined);

    const first = await ctx.load(browser, '/dashboard');
    assert.equal(first.state.status, 'handshake');
    assert.equal(first.state.reason, 'client-uat-but-no-session-token');
    const hs = assertHandshakeUrl(ctx, first.location, { reason: 'client-uat-but-no-session-token', pageUrl: '/dashboard' });
    assert.equal(hs.searchParams.get('__clerk_db_jwt'), browser.get('__clerk_db_jwt'));

    const back = await ctx.follow(browser, first.location);
    const resolved = await ctx.load(browser, back);
    assert.equal(resolved.state.status, 'signed-in', `reason ${resolved.state.reason}: ${resolved.state.message}`);
    assert.equal(resolved.state.toAuth().userId, ctx.user.id);
    assert.equal(resolved.state.toAuth().sessionId, sessionId);
    assert.equal(resolved.location, `${ctx.pageOrigin}/dashboard`);

    const session = directive(resolved.setCookies, '__session');
    assert.ok(session?.value, `directives: ${resolved.setCookies.join(' | ')}`);
    const claims = await ctx.verify(session.value);
    assert.equal(claims.sub, ctx.user.id);
    assert.equal(claims.sid, sessionId);
    assert.ok(Number(directive(resolved.setCookies, '__client_uat')?.value) > 0);
    assert.ok(Number(directive(resolved.setCookies, '__client_uat').value) <= claims.iat);
    assert.equal(directive(resolved.setCookies, '__clerk_db_jwt')?.value, browser.get('__clerk_db_jwt'));
    lastToken = session.value;

    // The page: signed in from its cookies, no trip.
    const page = await ctx.load(browser, resolved.location);
    assert.equal(page.state.status, 'signed-in', `reason ${page.state.reason}`);
    assert.equal(page.state.toAuth().userId, ctx.user.id);
    assert.equal(page.location, null);
  });

  test('a session token older than __client_uat: handshake, then signed-in with a newer one', async () => {
    // Another page's token, stale: the client changed (a touch) after it was issued.
    const stale = jwtClaims(lastToken);
    browser.later();
    browser.set('__client_uat', String(stale.iat + 1));
    const first = await ctx.load(browser, '/dashboard');
    assert.equal(first.state.status, 'handshake');
    assert.equal(first.state.reason, 'session-token-iat-before-client-uat');
    const hs = assertHandshakeUrl(ctx, first.location, { reason: 'session-token-iat-before-client-uat', pageUrl: '/dashboard' });
    assert.equal(hs.searchParams.get('__session'), lastToken);
    const resolved = await ctx.load(browser, await ctx.follow(browser, first.location));
    assert.equal(resolved.state.status, 'signed-in', `reason ${resolved.state.reason}: ${resolved.state.message}`);
    assert.equal(resolved.state.toAuth().sessionId, sessionId);
    const page = await ctx.load(browser, resolved.location);
    assert.equal(page.state.status, 'signed-in', `reason ${page.state.reason}`);
  });

  test('format=token: latch answers __clerk_handshake, a JWT the SDK verifies and resolves', async () => {
    browser.drop('__session');
    browser.later();
    const first = await ctx.load(browser, '/dashboard');
    assert.equal(first.state.reason, 'client-uat-but-no-session-token');
    const hs = new URL(first.location);
    hs.searchParams.set('format', 'token');
    const back = new URL(await ctx.follow(browser, hs.href));
    const token = back.searchParams.get('__clerk_handshake');
    assert.ok(token, back.href);
    assert.equal(back.searchParams.get('__clerk_handshake_nonce'), null);
    const [header] = token.split('.');
    const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url').toString());
    assert.match(alg, /^RS(256|384|512)$/);
    const { keys } = await (await fetch(`${ctx.latch.url}/v1/jwks`, {
      headers: { authorization: `Bearer ${ctx.latch.secretKey}` },
    })).json();
    assert.ok(keys.some((k) => k.kid === kid), `kid ${kid} is one of latch's JWKS`);
    assert.ok(Array.isArray(jwtClaims(token).handshake));

    const resolved = await ctx.load(browser, back.href);
    assert.equal(resolved.state.status, 'signed-in', `reason ${resolved.state.reason}: ${resolved.state.message}`);
    assert.equal(resolved.state.toAuth().userId, ctx.user.id);
    assert.equal(resolved.location, `${ctx.pageOrigin}/dashboard`);
    const session = directive(resolved.setCookies, '__session');
    assert.equal((await ctx.verify(session.value)).sid, sessionId);
  });

  test('signed out through DELETE /v1/client/sessions: handshake, then signed-out, cookies cleared', async () => {
    assert.ok(browser.get('__session'), 'the page holds a session token');
    browser.later();
    const { res } = await ctx.fapi(browser, 'DELETE', '/v1/client/sessions');
    assert.equal(directive(res.headers.getSetCookie(), '__client_uat')?.value, '0',
      `latch's sign-out answer sets __client_uat=0: ${res.headers.getSetCookie().join(' | ')}`);

    const first = await ctx.load(browser, '/dashboard');
    assert.equal(first.state.status, 'handshake');
    assert.equal(first.state.reason, 'session-token-but-no-client-uat');
    const resolved = await ctx.load(browser, await ctx.follow(browser, first.location));
    assert.equal(resolved.state.status, 'signed-out', `reason ${resolved.state.reason}: ${resolved.state.message}`);
    assert.equal(resolved.state.toAuth().userId, null);
    assert.ok(directive(resolved.setCookies, '__session')?.attrs.includes('max-age=0'));
    assert.equal(directive(resolved.setCookies, '__client_uat')?.value, '0');
    assert.equal(browser.get('__session'), undefined);
    assert.ok(browser.get('__clerk_db_jwt'), 'the development browser is kept');

    const page = await ctx.load(browser, resolved.location);
    assert.equal(page.state.status, 'signed-out');
    assert.equal(page.state.reason, 'session-token-and-uat-missing');
    assert.equal(page.location, null);
  });

  test('a redirect_url on no allowed origin is refused, with no redirect', async () => {
    const hs = new URL(`${ctx.latch.url}/v1/client/handshake`);
    hs.searchParams.set('redirect_url', 'https://evil.example/steal');
    hs.searchParams.set('format', 'nonce');
    const res = await fetch(hs, { redirect: 'manual' });
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    assert.equal(res.headers.get('location'), null);
  });
});

describe('production instance, the page origin allowed', () => {
  let ctx, browser, sessionId;

  before(async () => {
    ctx = await setUp('production');
    browser = new Browser();
  });
  after(async () => {
    await ctx?.latch.stop();
  });

  test('signed out, no cookies: signed-out with no trip', async () => {
    assert.match(ctx.latch.publishableKey, /^pk_live_/);
    const page = await ctx.load(browser, '/dashboard');
    assert.equal(page.state.status, 'signed-out');
    assert.equal(page.state.reason, 'session-token-and-uat-missing');
    assert.equal(page.location, null);
  });

  test('signed in in the browser: handshake, then signed-in on that same response', async () => {
    sessionId = await ctx.signIn(browser);
    assert.ok(Number(browser.get('__client_uat')) > 0, 'latch\'s sign-in answer set __client_uat');

    const first = await ctx.load(browser, '/dashboard');
    assert.equal(first.state.status, 'handshake');
    assert.equal(first.state.reason, 'client-uat-but-no-session-token');
    const hs = assertHandshakeUrl(ctx, first.location, { reason: 'client-uat-but-no-session-token', pageUrl: '/dashboard' });
    assert.equal(hs.searchParams.get('__clerk_db_jwt'), null);

    const back = await ctx.follow(browser, first.location);
    assert.ok(new URL(back).searchParams.get('__clerk_handshake_nonce'), back);
    const resolved = await ctx.load(browser, back);
    assert.equal(resolved.state.status, 'signed-in', `reason ${resolved.state.reason}: ${resolved.state.message}`);
    assert.equal(resolved.state.toAuth().userId, ctx.user.id);
    assert.equal(resolved.state.toAuth().sessionId, sessionId);
    // Production: no second redirect, the directives ride on the page's response.
    assert.equal(resolved.location, null);
    const session = directive(resolved.setCookies, '__session');
    assert.ok(session?.value, `directives: ${resolved.setCookies.join(' | ')}`);
    assert.equal((await ctx.verify(session.value)).sub, ctx.user.id);
    assert.ok(Number(directive(resolved.setCookies, '__client_uat')?.value) > 0);
    assert.equal(directive(resolved.setCookies, '__clerk_db_jwt'), undefined);

    // The next load (the nonce gone from the URL, as clerk-js strips it): signed in.
    const page = await ctx.load(browser, '/dashboard');
    assert.equal(page.state.status, 'signed-in', `reason ${page.state.reason}`);
    assert.equal(page.state.toAuth().userId, ctx.user.id);
  });

  test('signed out through DELETE /v1/client/sessions: handshake, then signed-out, cookies cleared', async () => {
    await ctx.fapi(browser, 'DELETE', '/v1/client/sessions');
    assert.equal(browser.get('__client_uat'), '0');
    browser.later();
    const first = await ctx.load(browser, '/dashboard');
    assert.equal(first.state.status, 'handshake');
    assert.equal(first.state.reason, 'session-token-but-no-client-uat');
    const resolved = await ctx.load(browser, await ctx.follow(browser, first.location));
    assert.equal(resolved.state.status, 'signed-out', `reason ${resolved.state.reason}: ${resolved.state.message}`);
    assert.equal(resolved.location, null);
    assert.equal(browser.get('__session'), undefined);
    assert.equal(browser.get('__client_uat'), '0');
  });

  test('another origin is not a place the handshake sends anyone', async () => {
    const hs = new URL(`${ctx.latch.url}/v1/client/handshake`);
    hs.searchParams.set('redirect_url', `http://127.0.0.1:${await freePort()}/`);
    const res = await fetch(hs, { redirect: 'manual' });
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    assert.equal(res.headers.get('location'), null);
  });
});
