// A real Next.js application (next-app/: App Router, @clerk/nextjs's clerkMiddleware,
// <SignIn/>, <UserButton/>, auth() and currentUser()) configured only by keys and URLs in
// its environment, built with `next build` and served by `next start`, driven in headless
// Chromium, once per way of reaching latch (MODES): the same scenario each time.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  backendClient, freePort, generateTestPki, httpsFront, launchBrowser, newUserParams, startLatch, tlsRelay,
  withScreenshotOnFailure,
} from './harness.mjs';

const APP_DIR = fileURLToPath(new URL('./next-app/', import.meta.url));
const NEXT_BIN = join(APP_DIR, 'node_modules/next/dist/bin/next');
const BUILD_TIMEOUT_MS = 600_000;
const START_TIMEOUT_MS = 60_000;
const CLERK_JS_PATH = '/npm/@clerk/clerk-js@6/dist/clerk.browser.js';
const CLERK_UI_PATH = '/npm/@clerk/ui@1/dist/ui.browser.js';

/**
 * The ways the application reaches latch. `environment`: the instance's; `tls`: latch
 * serves HTTPS with a certificate of a private CA; `bundles`: the application names the
 * bundles' URLs (NEXT_PUBLIC_CLERK_JS_URL/_UI_URL), else the SDK loads them from the proxy
 * URL; `relative`: the proxy URL is the application's own `/__clerk`, which clerkMiddleware
 * relays to latch. LATCH_NEXTJS_MODES (comma-separated keys) runs only some.
 */
const MODES = {
  http: {
    title: 'production instance, latch on http as the proxy URL, bundles named',
    environment: 'production', tls: false, bundles: true, relative: false,
  },
  development: {
    title: 'development instance (pk_test_), latch on http as the proxy URL, bundles named',
    environment: 'development', tls: false, bundles: true, relative: false,
  },
  https: {
    title: 'production instance, latch on https (private CA) as the proxy URL, bundles from it',
    environment: 'production', tls: true, bundles: false, relative: false,
  },
  relative: {
    title: 'production instance, the application\'s /__clerk relayed to latch by clerkMiddleware',
    environment: 'production', tls: false, bundles: false, relative: true,
  },
};

const selected = process.env.LATCH_NEXTJS_MODES?.split(',').map((m) => m.trim()).filter(Boolean)
  ?? Object.keys(MODES);
for (const key of selected) {
  assert.ok(MODES[key] || key === 'hosted', `LATCH_NEXTJS_MODES: no mode ${key} (${Object.keys(MODES).join(', ')}, hosted)`);
}

/** Runs `next <args>` in the app's folder; resolves to its output, rejects on failure. */
function next(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NEXT_BIN, ...args], { cwd: APP_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), BUILD_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`next ${args.join(' ')} failed (${code ?? signal}):\n${output}`));
    });
  });
}

/** `next start` on `port`; resolves once it answers. Returns { stop, output() }. */
async function startApp(port, env) {
  // `-H localhost` (here 127.0.0.1): with `-H 127.0.0.1`, Next.js 16.5 gives middleware
  // request URLs on localhost, and the rewrite clerkMiddleware sets to pass on its auth
  // state then reads as one to another host, which Next.js proxies and fails (500).
  const child = spawn(process.execPath, [NEXT_BIN, 'start', '-H', 'localhost', '-p', String(port)], {
    cwd: APP_DIR, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next start exited:\n${output}`);
    try {
      await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' });
      break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`next start did not answer in time:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    output: () => output,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const pathOf = (url) => new URL(url).pathname;

function scenario(mode) {
  let latch, pki, relay, front, bapi, app, appOrigin, fapiBase, browser, context, page, user, params, blocked;
  /** The Frontend API's answers to the page: { method, path, status, reason }. */
  const fapiCalls = [];
  /** The page's requests straight to latch's own origin. */
  const latchDirect = [];
  const handshakes = (calls) => calls.filter((c) => c.path === '/v1/client/handshake');

  before(async () => {
    assert.ok(existsSync(NEXT_BIN), `${NEXT_BIN} is missing: run tests/conformance/setup.sh`);
    const port = await freePort();
    pki = mode.tls ? await generateTestPki() : null;
    if (pki) {
      // latch's __client cookie is SameSite=Lax, and a page on http is not on the same site
      // as latch on https: the application is served over https too, as it would be in
      // production, by a TLS-terminating proxy in front of `next start`.
      front = await httpsFront(port, { cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey) });
      appOrigin = front.origin;
    } else {
      // The relative proxy URL is resolved against the request URL clerkMiddleware is given,
      // which `next start -H localhost` puts on localhost: the browser uses that name too.
      appOrigin = `http://${mode.relative ? 'localhost' : '127.0.0.1'}:${port}`;
    }
    const latchPort = await freePort();
    const latchOrigin = `${mode.tls ? 'https' : 'http'}://127.0.0.1:${latchPort}`;
    latch = await startLatch({
      environment: mode.environment,
      allowedOrigins: [appOrigin],
      env: {
        LATCH_SERVER__ADDR: `127.0.0.1:${latchPort}`,
        // The URL browsers reach latch at, so that the URLs it gives (such as users'
        // default avatars) are ones the browser can reach.
        LATCH_INSTANCE__ISSUER: mode.relative ? `${appOrigin}/__clerk` : latchOrigin,
        ...(pki && { LATCH_SERVER__TLS_CERT_FILE: pki.serverCert, LATCH_SERVER__TLS_KEY_FILE: pki.serverKey }),
      },
    });
    assert.equal(latch.url, latchOrigin);
    fapiBase = mode.relative ? `${appOrigin}/__clerk` : latch.url;
    // This process reaches an https latch's Backend API through a relay that trusts the CA.
    relay = pki && await tlsRelay(latch.url, await readFile(pki.caCert));
    bapi = backendClient(relay ? { ...latch, url: relay.url } : latch);
    params = newUserParams();
    user = await bapi.users.createUser(params);

    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LATCH_') && !k.includes('CLERK'))),
      NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: latch.publishableKey,
      CLERK_SECRET_KEY: latch.secretKey,
      CLERK_API_URL: latch.url,
      // A publishable key names an https host of its own: latch's Frontend API is reached
      // through the proxy URL.
      NEXT_PUBLIC_CLERK_PROXY_URL: mode.relative ? '/__clerk' : latch.url,
      NEXT_PUBLIC_CLERK_SIGN_IN_URL: '/sign-in',
      NEXT_PUBLIC_CLERK_TELEMETRY_DISABLED: '1',
      NEXT_TELEMETRY_DISABLED: '1',
      NODE_ENV: 'production',
    };
    // Without them, the SDK loads the bundles from https://<proxy URL's host and path>/npm/...
    // (an absolute proxy URL) or <proxy path>/npm/... (a relative one).
    if (mode.bundles) {
      env.NEXT_PUBLIC_CLERK_JS_URL = `${latch.url}${CLERK_JS_PATH}`;
      env.NEXT_PUBLIC_CLERK_UI_URL = `${latch.url}${CLERK_UI_PATH}`;
    }
    // Where clerkMiddleware relays /__clerk (else derived from the publishable key).
    if (mode.relative) env.CLERK_FAPI_URL = latch.url;
    // The application's server trusts the private CA (its calls to the Backend API and the
    // Frontend API).
    if (pki) env.NODE_EXTRA_CA_CERTS = pki.caCert;
    // The keys are this latch's, and Next.js puts NEXT_PUBLIC_* in the build: one build per mode.
    await rm(join(APP_DIR, '.next'), { recursive: true, force: true });
    const started = Date.now();
    await next(['build'], env);
    console.log(`[next-app] ${Object.keys(MODES).find((k) => MODES[k] === mode)}: next build took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    app = await startApp(port, env);

    // The browser accepts the private CA's certificate; with the relative proxy it may reach
    // the application's host only (latch's requests all go through /__clerk).
    ({ browser, context, blocked } = await launchBrowser({
      hosts: [new URL(appOrigin).hostname],
      ignoreHTTPSErrors: mode.tls,
    }));
    page = await context.newPage();
    page.on('pageerror', (err) => console.error('[page error]', err));
    page.on('console', (msg) => {
      if (msg.type() === 'error') console.error('[page error]', msg.text(), msg.location()?.url ?? '');
    });
    page.on('response', (res) => {
      const url = new URL(res.url());
      // With LATCH_NEXT_APP_LOG, each page load and each answer with clerkMiddleware's
      // verdict (a client-side navigation's too).
      const h = res.headers();
      if (process.env.LATCH_NEXT_APP_LOG && (res.request().resourceType() === 'document' || h['x-clerk-auth-status'])) {
        console.log('[page load]', res.request().resourceType(), res.status(), res.url().slice(0, 160),
          h['x-clerk-auth-status'] ?? '', h['x-clerk-auth-reason'] ?? '', h['x-clerk-auth-message'] ?? '');
      }
      if (url.origin === latch.url) latchDirect.push(url.pathname);
      if (!`${url.origin}${url.pathname}`.startsWith(`${fapiBase}/`)) return;
      const path = url.pathname.slice(new URL(fapiBase).pathname.replace(/\/$/, '').length);
      fapiCalls.push({
        method: url.searchParams.get('_method') ?? res.request().method(),
        path,
        status: res.status(),
        reason: url.searchParams.get('__clerk_hs_reason'),
      });
    });
  });

  after(async () => {
    await browser?.close();
    if (app) {
      await app.stop();
      if (process.env.LATCH_NEXT_APP_LOG) console.log(app.output());
    }
    await front?.close();
    await relay?.close();
    await latch?.stop();
    await pki?.remove();
  });

  test('signed out, /dashboard redirects to /sign-in, where <SignIn/> renders', async () => {
    await withScreenshotOnFailure(page, `next-${mode.environment}-sign-in-page`, async () => {
      await page.goto(`${appOrigin}/dashboard`);
      await page.waitForURL((url) => url.pathname === '/sign-in', { timeout: 15_000 });
      const url = new URL(page.url());
      assert.equal(url.origin, appOrigin);
      assert.match(url.searchParams.get('redirect_url') ?? '', /\/dashboard$/);
      await page.getByLabel(/^Email address/).waitFor({ timeout: 20_000 });
      if (mode.environment === 'development') {
        // The middleware demands a development browser first: one handshake makes it, and
        // the application keeps it as a cookie of its own.
        assert.deepEqual(handshakes(fapiCalls).map((c) => c.reason), ['dev-browser-missing']);
        const cookies = await context.cookies(appOrigin);
        assert.ok(cookies.some((c) => c.name.startsWith('__clerk_db_jwt') && c.value),
          `cookies: ${cookies.map((c) => c.name).join(', ')}`);
      } else {
        assert.deepEqual(handshakes(fapiCalls), []);
      }
      // clerk-js and the screens came from latch (or through /__clerk).
      assert.ok(fapiCalls.some((c) => c.path === CLERK_JS_PATH && c.status === 200), JSON.stringify(fapiCalls));
      assert.ok(fapiCalls.some((c) => c.path === CLERK_UI_PATH && c.status === 200), JSON.stringify(fapiCalls));
    });
  });

  test('email and password in <SignIn/> land on /dashboard, with auth().userId and currentUser()\'s email', async () => {
    await withScreenshotOnFailure(page, `next-${mode.environment}-sign-in`, async () => {
      await page.getByLabel(/^Email address/).fill(params.emailAddress[0]);
      await page.getByRole('button', { name: 'Continue', exact: true }).click();
      await page.getByLabel('Password', { exact: true }).fill(params.password);
      await page.getByRole('button', { name: 'Continue', exact: true }).click();
      await page.waitForURL((url) => url.pathname === '/dashboard', { timeout: 20_000 });
      await page.locator('#user-id').filter({ hasText: user.id }).waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('#user-id').textContent(), user.id);
      assert.equal(await page.locator('#user-email').textContent(), params.emailAddress[0]);
    });
  });

  test('with its __session cookie deleted, a reload stays signed in through the handshake', async () => {
    await withScreenshotOnFailure(page, `next-${mode.environment}-handshake`, async () => {
      const cookies = await context.cookies(appOrigin);
      assert.ok(cookies.some((c) => c.name === '__session'), `cookies: ${cookies.map((c) => c.name).join(', ')}`);
      assert.ok(Number(cookies.find((c) => c.name === '__client_uat')?.value) > 0);
      // The page is left first: clerk-js, still running on it, could otherwise set a
      // fresh __session (a token refresh) between the deletion and the reload.
      const dashboard = page.url();
      await page.goto('about:blank');
      await context.clearCookies({ name: /^__session/ });
      const before = fapiCalls.length;
      await page.goto(dashboard);
      await page.waitForURL((url) => url.pathname === '/dashboard');
      assert.equal(await page.locator('#user-id').textContent(), user.id);
      assert.equal(await page.locator('#user-email').textContent(), params.emailAddress[0]);
      assert.deepEqual(handshakes(fapiCalls.slice(before)), [{
        method: 'GET', path: '/v1/client/handshake', status: 307, reason: 'client-uat-but-no-session-token',
      }]);
      // The directives set it again on the application's host.
      assert.ok((await context.cookies(appOrigin)).some((c) => c.name === '__session' && c.value));
    });
  });

  test('a reload of the page the handshake came back to stays signed in', async () => {
    await withScreenshotOnFailure(page, `next-${mode.environment}-reload-after-handshake`, async () => {
      await page.waitForFunction(() => window.Clerk?.loaded && window.Clerk.session, null, { timeout: 15_000 });
      // Whether the nonce is still in the address bar once clerk-js has loaded.
      const nonceInUrl = new URL(page.url()).searchParams.has('__clerk_handshake_nonce');
      await page.reload();
      assert.equal(pathOf(page.url()), '/dashboard', `nonce in the URL reloaded: ${nonceInUrl}`);
      assert.equal(await page.locator('#user-id').textContent(), user.id);
    });
  });

  // On a production instance the page URL keeps the handshake's nonce until clerk-js has
  // loaded and stripped it: a reload before that (here: the same URL loaded again) redeems
  // the nonce again. On a development instance the middleware takes it out of the URL with
  // one more redirect.
  test('the URL the handshake came back to, loaded again before clerk-js strips any nonce, stays signed in', async () => {
    await withScreenshotOnFailure(page, `next-${mode.environment}-nonce-reload`, async () => {
      // Off the page first, so clerk-js cannot set __session again in between.
      await page.goto('about:blank');
      await context.clearCookies({ name: /^__session/ });
      const before = fapiCalls.length;
      await page.goto(`${appOrigin}/dashboard`);
      assert.equal(handshakes(fapiCalls.slice(before)).length, 1);
      const landed = page.url();
      assert.equal(new URL(landed).searchParams.has('__clerk_handshake_nonce'), mode.environment === 'production', landed);
      await page.goto(landed);
      assert.equal(pathOf(page.url()), '/dashboard');
      assert.equal(await page.locator('#user-id').textContent(), user.id);
    });
  });

  test('sign out through <UserButton/>', async () => {
    await withScreenshotOnFailure(page, `next-${mode.environment}-sign-out`, async () => {
      await page.goto(`${appOrigin}/dashboard`);
      assert.equal(await page.locator('#user-id').textContent(), user.id);
      await page.getByRole('button', { name: /open user (button|menu)/i }).click();
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL((url) => url.pathname !== '/dashboard', { timeout: 15_000 });
      await page.waitForFunction(() => window.Clerk?.loaded && !window.Clerk.session, null, { timeout: 15_000 });
      const { data } = await bapi.sessions.getSessionList({ userId: user.id });
      assert.ok(data.every((s) => s.status !== 'active'), JSON.stringify(data.map((s) => s.status)));
      await page.goto(`${appOrigin}/dashboard`);
      await page.waitForURL((url) => url.pathname === '/sign-in', { timeout: 15_000 });
    });
  });

  test('the Frontend API refused none of the page\'s requests, and the page reached no other host', () => {
    assert.deepEqual(fapiCalls.filter((c) => c.status >= 400), []);
    assert.deepEqual(blocked, []);
    if (mode.relative) assert.deepEqual(latchDirect, []);
    assert.ok(pathOf(page.url()));
  });
}

for (const key of selected) if (MODES[key]) describe(MODES[key].title, () => scenario(MODES[key]));

/**
 * An application that uses latch's hosted sign-in page instead of one of its own: its
 * sign-in URL is latch's `/sign-in`. A signed-out visit to a protected page goes there with
 * the way back, the user signs in on latch's page, and lands back on the application,
 * signed in there through the handshake.
 */
function hostedScenario() {
  let latch, app, appOrigin, browser, context, page, user, params;

  before(async () => {
    const port = await freePort();
    appOrigin = `http://127.0.0.1:${port}`;
    const latchPort = await freePort();
    latch = await startLatch({
      environment: 'production',
      allowedOrigins: [appOrigin],
      env: {
        LATCH_SERVER__ADDR: `127.0.0.1:${latchPort}`,
        LATCH_INSTANCE__ISSUER: `http://127.0.0.1:${latchPort}`,
      },
    });
    params = newUserParams();
    user = await backendClient(latch).users.createUser(params);
    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LATCH_') && !k.includes('CLERK'))),
      NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: latch.publishableKey,
      CLERK_SECRET_KEY: latch.secretKey,
      CLERK_API_URL: latch.url,
      NEXT_PUBLIC_CLERK_PROXY_URL: latch.url,
      NEXT_PUBLIC_CLERK_JS_URL: `${latch.url}${CLERK_JS_PATH}`,
      NEXT_PUBLIC_CLERK_UI_URL: `${latch.url}${CLERK_UI_PATH}`,
      // No sign-in page of its own: latch's hosted one.
      NEXT_PUBLIC_CLERK_SIGN_IN_URL: `${latch.url}/sign-in`,
      NEXT_PUBLIC_CLERK_TELEMETRY_DISABLED: '1',
      NEXT_TELEMETRY_DISABLED: '1',
      NODE_ENV: 'production',
    };
    await rm(join(APP_DIR, '.next'), { recursive: true, force: true });
    await next(['build'], env);
    app = await startApp(port, env);
    ({ browser, context } = await launchBrowser({ hosts: ['127.0.0.1'] }));
    page = await context.newPage();
    page.on('pageerror', (err) => console.error('[page error]', err));
  });

  after(async () => {
    await browser?.close();
    await app?.stop();
    await latch?.stop();
  });

  test('signed out, a protected page goes to latch\'s hosted /sign-in, which signs in and comes back', async () => {
    await withScreenshotOnFailure(page, 'next-hosted-sign-in', async () => {
      await page.goto(`${appOrigin}/dashboard`);
      await page.waitForURL((url) => url.origin === latch.url && url.pathname === '/sign-in', { timeout: 20_000 });
      assert.match(new URL(page.url()).searchParams.get('redirect_url') ?? '', /\/dashboard$/);
      await page.getByLabel(/^Email address/).fill(params.emailAddress[0]);
      await page.getByRole('button', { name: 'Continue', exact: true }).click();
      await page.getByLabel('Password', { exact: true }).fill(params.password);
      await page.getByRole('button', { name: 'Continue', exact: true }).click();
      await page.waitForURL((url) => url.origin === appOrigin && url.pathname === '/dashboard', { timeout: 30_000 });
      await page.locator('#user-id').filter({ hasText: user.id }).waitFor({ timeout: 20_000 });
      assert.equal(await page.locator('#user-email').textContent(), params.emailAddress[0]);
    });
  });
}

if (!process.env.LATCH_NEXTJS_MODES || selected.includes('hosted')) {
  describe('an application with no sign-in page of its own, using latch\'s hosted one', () => hostedScenario());
}
