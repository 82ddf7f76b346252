// Clerk's prebuilt screens (@clerk/ui's browser bundle) on a page from another origin,
// against a production instance: <SignIn/> mounted with Clerk.mountSignIn, filled in as a
// user would, by label and role.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  assertClerkUiInstalled, backendClient, jwtClaims, launchBrowser, newUserParams, startLatch,
  startPageServer, withScreenshotOnFailure,
} from './harness.mjs';

let pageServer, pageOrigin, latch, browser, page, user, params, blocked;
const pageConfig = {};
/** Answers of 400 and above from latch, as 'METHOD /path -> status'. */
const refused = [];

before(async () => {
  assertClerkUiInstalled();
  ({ server: pageServer, origin: pageOrigin } = await startPageServer(pageConfig));
  latch = await startLatch({ environment: 'production', allowedOrigins: [pageOrigin] });
  Object.assign(pageConfig, { publishableKey: latch.publishableKey, proxyUrl: latch.url });

  params = newUserParams();
  user = await backendClient(latch).users.createUser(params);

  let context;
  ({ browser, context, blocked } = await launchBrowser());
  page = await context.newPage();
  page.on('pageerror', (err) => console.error('[page error]', err));
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') console.error(`[page ${msg.type()}]`, msg.text());
  });
  page.on('response', (res) => {
    const url = new URL(res.url());
    if (url.origin === latch.url && res.status() >= 400) {
      refused.push(`${url.searchParams.get('_method') ?? res.request().method()} ${url.pathname} -> ${res.status()}`);
    }
  });
});

after(async () => {
  await browser?.close();
  await latch?.stop();
  pageServer?.close();
});

test('<SignIn/> signs a user in with email and password', async () => {
  await withScreenshotOnFailure(page, 'ui-sign-in', async () => {
    await page.goto(`${pageOrigin}/ui`);
    const loaded = await page.evaluate(async () => {
      // Navigations after sign-in go through this router instead of leaving the page.
      window.__navigations = [];
      const router = (to) => { window.__navigations.push(String(to)); };
      await window.Clerk.load({
        ui: { ClerkUI: window.__internal_ClerkUICtor },
        telemetry: false,
        routerPush: router,
        routerReplace: router,
      });
      window.Clerk.mountSignIn(document.getElementById('app'));
      return { loaded: window.Clerk.loaded, sessionId: window.Clerk.session?.id ?? null };
    });
    assert.deepEqual(loaded, { loaded: true, sessionId: null });

    await page.getByLabel(/^Email address/).fill(params.emailAddress[0]);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    // The password step names the account being signed in to.
    await page.getByText(params.emailAddress[0]).waitFor();
    await page.getByLabel('Password', { exact: true }).fill(params.password);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();

    await page.waitForFunction(() => window.Clerk.session?.id, null, { timeout: 15_000 });
    const signedIn = await page.evaluate(async () => ({
      sessionId: window.Clerk.session.id,
      userId: window.Clerk.user?.id,
      token: await window.Clerk.session.getToken(),
    }));
    assert.match(signedIn.sessionId, /^sess_/);
    assert.equal(signedIn.userId, user.id);
    const claims = jwtClaims(signedIn.token);
    assert.equal(claims.sub, user.id);
    assert.equal(claims.sid, signedIn.sessionId);
  });
});

test('latch refused none of the page\'s requests', () => {
  assert.deepEqual(refused, []);
});

test('the page reached no other host', () => {
  assert.deepEqual(blocked, []);
});
