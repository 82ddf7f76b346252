// Clerk's prebuilt <SignUp/> (@clerk/ui's browser bundle) on a page from another origin,
// against production instances: mounted with Clerk.mountSignUp and filled in as a user
// would, by label and role, the email code taken from what latch's `http` code sender
// delivered; and, with sign-up restricted, its restricted-access card.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  assertClerkUiInstalled, backendClient, httpCodeSender, jwtClaims, launchBrowser, newUserParams,
  startCodeReceiver, startLatch, startPageServer, withScreenshotOnFailure,
} from './harness.mjs';

let pageServer, pageOrigin, latch, restricted, receiver, browser, context, page, blocked;
const pageConfig = {};
/** Every request the page sent to a latch, as { call: 'METHOD /path', status }. */
const calls = [];

before(async () => {
  assertClerkUiInstalled();
  ({ server: pageServer, origin: pageOrigin } = await startPageServer(pageConfig));
  receiver = await startCodeReceiver();
  const options = { environment: 'production', allowedOrigins: [pageOrigin], env: httpCodeSender(receiver) };
  latch = await startLatch(options);
  restricted = await startLatch({ ...options, env: { ...options.env, LATCH_SIGN_UP__MODE: 'restricted' } });

  ({ browser, context, blocked } = await launchBrowser());
  page = await context.newPage();
  page.on('pageerror', (err) => console.error('[page error]', err));
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') console.error(`[page ${msg.type()}]`, msg.text());
  });
  page.on('response', (res) => {
    const url = new URL(res.url());
    if (url.origin === latch.url || url.origin === restricted.url) {
      calls.push({ call: `${url.searchParams.get('_method') ?? res.request().method()} ${url.pathname}`, status: res.status() });
    }
  });
});

after(async () => {
  await browser?.close();
  await latch?.stop();
  await restricted?.stop();
  await receiver?.close();
  pageServer?.close();
});

/** Opens the page against `target` and mounts <SignUp/>; resolves once clerk-js has loaded. */
async function mountSignUp(target) {
  Object.assign(pageConfig, { publishableKey: target.publishableKey, proxyUrl: target.url });
  await page.goto(`${pageOrigin}/ui`);
  return page.evaluate(async () => {
    // Navigations after sign-up go through this router instead of leaving the page.
    window.__navigations = [];
    const router = (to) => { window.__navigations.push(String(to)); };
    await window.Clerk.load({
      ui: { ClerkUI: window.__internal_ClerkUICtor },
      telemetry: false,
      routerPush: router,
      routerReplace: router,
    });
    window.Clerk.mountSignUp(document.getElementById('app'));
    return { loaded: window.Clerk.loaded, sessionId: window.Clerk.session?.id ?? null };
  });
}

const summary = (list) => list.map((c) => `${c.call} -> ${c.status}`).join('\n');

test('<SignUp/> signs a new user up with email, password and the emailed code', async () => {
  const { emailAddress: [email], password } = newUserParams();
  const start = calls.length;
  await withScreenshotOnFailure(page, 'ui-sign-up', async () => {
    assert.deepEqual(await mountSignUp(latch), { loaded: true, sessionId: null });

    await page.getByLabel(/^Email address/).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();

    // The verification step names the address the code went to.
    await page.getByText(email).waitFor();
    const code = await receiver.nextCode(email);
    await page.getByLabel('Enter verification code').pressSequentially(code);

    await page.waitForFunction(() => window.Clerk.session?.id, null, { timeout: 15_000 });
    const signedIn = await page.evaluate(async () => ({
      sessionId: window.Clerk.session.id,
      userId: window.Clerk.user?.id,
      email: window.Clerk.user?.primaryEmailAddress?.emailAddress,
      token: await window.Clerk.session.getToken(),
    }));
    assert.match(signedIn.sessionId, /^sess_/);
    assert.match(signedIn.userId ?? '', /^user_/);
    assert.equal(signedIn.email, email);
    const claims = jwtClaims(signedIn.token);
    assert.equal(claims.sub, signedIn.userId);
    assert.equal(claims.sid, signedIn.sessionId);

    const user = await backendClient(latch).users.getUser(signedIn.userId);
    assert.equal(user.primaryEmailAddress?.emailAddress, email);
    assert.equal(user.primaryEmailAddress?.verification?.status, 'verified');
  });

  const log = calls.slice(start);
  const names = log.map((c) => c.call);
  const created = names.indexOf('POST /v1/client/sign_ups');
  assert.ok(created >= 0, summary(log));
  const prepared = names.findIndex((n) => /^POST \/v1\/client\/sign_ups\/[^/]+\/prepare_verification$/.test(n));
  const attempted = names.findIndex((n) => /^POST \/v1\/client\/sign_ups\/[^/]+\/attempt_verification$/.test(n));
  assert.ok(created < prepared && prepared < attempted, summary(log));
  assert.deepEqual(log.filter((c) => c.status >= 400), [], `latch refused a request:\n${summary(log)}`);
});

test('<SignUp/> shows latch\'s message for an address an account already has', async () => {
  const params = newUserParams();
  await backendClient(latch).users.createUser(params);
  // A fresh client: the page is signed in as the user made above.
  await context.clearCookies();
  const start = calls.length;
  const refusal = page.waitForResponse((res) => new URL(res.url()).pathname === '/v1/client/sign_ups');
  await withScreenshotOnFailure(page, 'ui-sign-up-taken', async () => {
    assert.deepEqual(await mountSignUp(latch), { loaded: true, sessionId: null });
    await page.getByLabel(/^Email address/).fill(params.emailAddress[0]);
    await page.getByLabel('Password', { exact: true }).fill(`${params.password}-2`);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    const res = await refusal;
    assert.equal(res.status(), 422);
    const [error] = (await res.json()).errors;
    assert.equal(error.code, 'form_identifier_exists');
    assert.equal(error.meta?.param_name, 'email_address');
    // @clerk/ui has no text of its own for this code: it shows the long_message under
    // the field named by param_name.
    const feedback = page.locator('#error-emailAddress');
    await feedback.waitFor();
    assert.equal((await feedback.textContent()).trim(), error.long_message);
    assert.equal(await page.evaluate(() => window.Clerk.session?.id ?? null), null);
  });
  const log = calls.slice(start);
  assert.ok(!log.some((c) => /prepare_verification$/.test(c.call)), summary(log));
});

test('<SignUp/> with sign-up restricted shows its restricted-access card and sends no sign-up', async () => {
  // Both latches are on 127.0.0.1: the first one's __client cookie would reach this one.
  await context.clearCookies();
  const start = calls.length;
  await withScreenshotOnFailure(page, 'ui-sign-up-restricted', async () => {
    assert.deepEqual(await mountSignUp(restricted), { loaded: true, sessionId: null });
    await page.getByText('Access restricted').waitFor();
    await page.getByText(/Sign ups are currently disabled/).waitFor();
    assert.equal(await page.getByLabel(/^Email address/).count(), 0, 'no email field');
  });
  const log = calls.slice(start);
  assert.ok(log.some((c) => c.call === 'GET /v1/environment'), summary(log));
  assert.ok(!log.some((c) => c.call.includes('/sign_ups')), `a sign-up request was sent:\n${summary(log)}`);
  assert.deepEqual(log.filter((c) => c.status >= 400), [], summary(log));
});

test('the page reached no other host', () => {
  assert.deepEqual(blocked, []);
});
