// A real Next.js application (next-app/: App Router, @clerk/nextjs's clerkMiddleware,
// <SignIn/>, <UserButton/>, auth() and currentUser()) against a production instance,
// configured only by keys and URLs in its environment, built with `next build` and served
// by `next start`, driven in headless Chromium.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  backendClient, freePort, launchBrowser, newUserParams, startLatch, withScreenshotOnFailure,
} from './harness.mjs';

const APP_DIR = fileURLToPath(new URL('./next-app/', import.meta.url));
const NEXT_BIN = join(APP_DIR, 'node_modules/next/dist/bin/next');
const BUILD_TIMEOUT_MS = 600_000;
const START_TIMEOUT_MS = 60_000;

let latch, app, appOrigin, browser, context, page, user, params, blocked;
/** latch's answers to the page: { method, path, status }. */
const latchCalls = [];
/** The application's answers to requests whose URL still carries a handshake nonce. */
const appNonceLoads = [];

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

before(async () => {
  assert.ok(existsSync(NEXT_BIN), `${NEXT_BIN} is missing: run tests/conformance/setup.sh`);
  const port = await freePort();
  appOrigin = `http://127.0.0.1:${port}`;
  // latch's own address as its issuer, so the URLs it gives (such as users' default
  // avatars) are ones the browser can reach.
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
    // latch serves http: its Frontend API is reached through the proxy URL (a publishable
    // key names an https host), and the bundles it serves by their URLs.
    NEXT_PUBLIC_CLERK_PROXY_URL: latch.url,
    NEXT_PUBLIC_CLERK_JS_URL: `${latch.url}/npm/@clerk/clerk-js@6/dist/clerk.browser.js`,
    NEXT_PUBLIC_CLERK_UI_URL: `${latch.url}/npm/@clerk/ui@1/dist/ui.browser.js`,
    NEXT_PUBLIC_CLERK_SIGN_IN_URL: '/sign-in',
    NEXT_PUBLIC_CLERK_TELEMETRY_DISABLED: '1',
    NEXT_TELEMETRY_DISABLED: '1',
  };
  // The keys are this latch's, and Next.js puts NEXT_PUBLIC_* in the build: one build per run.
  await rm(join(APP_DIR, '.next'), { recursive: true, force: true });
  const started = Date.now();
  await next(['build'], { ...env, NODE_ENV: 'production' });
  console.log(`[next-app] next build took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  app = await startApp(port, { ...env, NODE_ENV: 'production' });

  ({ browser, context, blocked } = await launchBrowser());
  page = await context.newPage();
  page.on('pageerror', (err) => console.error('[page error]', err));
  page.on('console', (msg) => {
    if (msg.type() === 'error') console.error('[page error]', msg.text(), msg.location()?.url ?? '');
  });
  page.on('response', (res) => {
    const url = new URL(res.url());
    if (url.origin === appOrigin && url.searchParams.has('__clerk_handshake_nonce')) {
      appNonceLoads.push({ path: url.pathname, rsc: res.request().headers().rsc === '1', status: res.status() });
    }
    if (url.origin !== latch.url) return;
    latchCalls.push({
      method: url.searchParams.get('_method') ?? res.request().method(),
      path: url.pathname,
      status: res.status(),
    });
  });
});

after(async () => {
  await browser?.close();
  if (app) {
    await app.stop();
    if (process.env.LATCH_NEXT_APP_LOG) console.log(app.output());
  }
  await latch?.stop();
});

const pathOf = (url) => new URL(url).pathname;

test('signed out, /dashboard redirects to /sign-in, where <SignIn/> renders', async () => {
  await withScreenshotOnFailure(page, 'next-sign-in-page', async () => {
    await page.goto(`${appOrigin}/dashboard`);
    await page.waitForURL((url) => url.pathname === '/sign-in', { timeout: 15_000 });
    const url = new URL(page.url());
    assert.equal(url.origin, appOrigin);
    assert.match(url.searchParams.get('redirect_url') ?? '', /\/dashboard$/);
    await page.getByLabel(/^Email address/).waitFor({ timeout: 20_000 });
  });
});

test('email and password in <SignIn/> land on /dashboard, with auth().userId and currentUser()\'s email', async () => {
  await withScreenshotOnFailure(page, 'next-sign-in', async () => {
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
  await withScreenshotOnFailure(page, 'next-handshake', async () => {
    const cookies = await context.cookies(appOrigin);
    assert.ok(cookies.some((c) => c.name === '__session'), `cookies: ${cookies.map((c) => c.name).join(', ')}`);
    assert.ok(Number(cookies.find((c) => c.name === '__client_uat')?.value) > 0);
    await context.clearCookies({ name: /^__session/ });
    const before = latchCalls.length;
    await page.reload();
    await page.waitForURL((url) => url.pathname === '/dashboard');
    assert.equal(await page.locator('#user-id').textContent(), user.id);
    assert.equal(await page.locator('#user-email').textContent(), params.emailAddress[0]);
    const handshakes = latchCalls.slice(before).filter((c) => c.path === '/v1/client/handshake');
    assert.deepEqual(handshakes, [{ method: 'GET', path: '/v1/client/handshake', status: 307 }]);
    // The directives set it again on the application's host.
    assert.ok((await context.cookies(appOrigin)).some((c) => c.name === '__session' && c.value));
  });
});

test('a reload of the page the handshake came back to stays signed in', async () => {
  await withScreenshotOnFailure(page, 'next-reload-after-handshake', async () => {
    await page.waitForFunction(() => window.Clerk?.loaded && window.Clerk.session, null, { timeout: 15_000 });
    // Whether the nonce is still in the address bar once clerk-js has loaded.
    const nonceInUrl = new URL(page.url()).searchParams.has('__clerk_handshake_nonce');
    await page.reload();
    assert.equal(pathOf(page.url()), '/dashboard', `nonce in the URL reloaded: ${nonceInUrl}`);
    assert.equal(await page.locator('#user-id').textContent(), user.id);
  });
});

// The page URL keeps the handshake's nonce until clerk-js has loaded and stripped it: a
// reload before that (here: the same URL loaded again) redeems the nonce again.
test('the URL the handshake came back to, loaded again before clerk-js strips the nonce, stays signed in', async () => {
  await context.clearCookies({ name: /^__session/ });
  const before = latchCalls.length;
  await page.goto(`${appOrigin}/dashboard`);
  assert.equal(latchCalls.slice(before).filter((c) => c.path === '/v1/client/handshake').length, 1);
  const withNonce = page.url();
  assert.ok(new URL(withNonce).searchParams.has('__clerk_handshake_nonce'), withNonce);
  await page.goto(withNonce);
  assert.equal(pathOf(page.url()), '/dashboard');
  assert.equal(await page.locator('#user-id').textContent(), user.id);
});

test('sign out through <UserButton/>', async () => {
  await withScreenshotOnFailure(page, 'next-sign-out', async () => {
    await page.goto(`${appOrigin}/dashboard`);
    assert.equal(await page.locator('#user-id').textContent(), user.id);
    await page.getByRole('button', { name: /open user (button|menu)/i }).click();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL((url) => url.pathname !== '/dashboard', { timeout: 15_000 });
    await page.waitForFunction(() => window.Clerk?.loaded && !window.Clerk.session, null, { timeout: 15_000 });
    const { data } = await backendClient(latch).sessions.getSessionList({ userId: user.id });
    assert.ok(data.every((s) => s.status !== 'active'), JSON.stringify(data.map((s) => s.status)));
    await page.goto(`${appOrigin}/dashboard`);
    await page.waitForURL((url) => url.pathname === '/sign-in', { timeout: 15_000 });
  });
});

test('latch refused none of the page\'s requests, and the page reached no other host', () => {
  assert.deepEqual(latchCalls.filter((c) => c.status >= 400), []);
  assert.deepEqual(blocked, []);
  assert.ok(pathOf(page.url()));
});
