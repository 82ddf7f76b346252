// OAuth sign-up against a real OpenID Connect provider (`oidc-provider`, started here as
// `custom_acme`): clerk-js in Node (native mode) creates the sign-up, the test plays the
// browser through the provider's pages to latch's callback, and clerk-js claims the result
// with the callback's nonce; then clerk-js's browser bundle in headless Chromium, against a
// production instance (the flow bound to the `__client` cookie), really redirected to the
// provider and back, where `Clerk.handleRedirectCallback` must carry out both transfers by
// itself: a sign-in by someone with no account becomes a sign-up, a sign-up by someone
// with an account becomes a sign-in. Last, Clerk's prebuilt <SignUp/> and its social button
// (also with its default, relative, after-sign-up URL).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertClerkUiInstalled, backendClient, browse, jwtClaims, launchBrowser, loadNodeClerk, loginAtProvider,
  newUserParams, recordFapi, startOAuthLatch, startPageServer, withScreenshotOnFailure,
} from './harness.mjs';

const STRATEGY = 'oauth_custom_acme';
// Native apps' URLs: latch only redirects there, nothing is fetched.
const BACK = 'http://localhost:3000/sso-callback';
const DONE = 'http://localhost:3000/home';

/** Provider accounts; every `sub` is used by one test only (a provider account makes one user). */
const ACCOUNTS = [
  { sub: 'ada', email: 'ada@example.com', email_verified: true, given_name: 'Ada', family_name: 'Lovelace' },
  { sub: 'grace', email: 'grace@example.com', email_verified: true, given_name: 'Grace', family_name: 'Hopper' },
  { sub: 'alan', email: 'alan@example.com', email_verified: true, given_name: 'Alan', family_name: 'Turing' },
  { sub: 'edsger', email: 'edsger@example.com', email_verified: true, given_name: 'Edsger', family_name: 'Dijkstra' },
  { sub: 'barbara', email: 'barbara@example.com', email_verified: true, given_name: 'Barbara', family_name: 'Liskov' },
  { sub: 'ken', email: 'ken@example.com', email_verified: true, given_name: 'Ken', family_name: 'Thompson' },
  { sub: 'ken2', email: 'ken2@example.com', email_verified: true, given_name: 'Kenneth', family_name: 'Iverson' },
];
const account = (sub) => ACCOUNTS.find((a) => a.sub === sub);

/**
 * Native mode: from the sign-up's authorize URL through the provider (as `login`) to
 * latch's callback, whose 303 goes back to BACK with a nonce. Returns the nonce.
 */
async function throughProvider(latch, signUp, login) {
  const verification = signUp.verifications.externalAccount;
  assert.equal(verification.status, 'unverified');
  assert.equal(verification.strategy, STRATEGY);
  const authorize = new URL(verification.externalVerificationRedirectURL);
  assert.equal(authorize.origin, latch.idp.issuer);
  const landing = await browse(authorize.href, login, `${latch.url}/v1/oauth_callback`);
  const res = await fetch(landing, { redirect: 'manual' });
  assert.equal(res.status, 303);
  const back = new URL(res.headers.get('location'));
  assert.equal(`${back.origin}${back.pathname}`, BACK, `the callback sent the app to ${back}`);
  const nonce = back.searchParams.get('rotating_token_nonce');
  assert.ok(nonce, `no rotating_token_nonce on ${back}`);
  return nonce;
}

describe('clerk-js in Node (native mode)', () => {
  describe('default settings', () => {
    let latch, backend, clerk;
    before(async () => {
      latch = await startOAuthLatch({ accounts: ACCOUNTS });
      backend = backendClient(latch);
      clerk = await loadNodeClerk(latch, { fresh: true });
    });
    after(async () => latch?.stop());

    test('signUp.create with oauth_custom_acme, the provider, the claim: complete, a user with the account', async () => {
      let signUp = await clerk.client.signUp.create({
        strategy: STRATEGY, redirectUrl: BACK, actionCompleteRedirectUrl: DONE,
      });
      assert.match(signUp.id ?? '', /^sua_/);
      assert.equal(signUp.status, 'missing_requirements');
      const authorize = new URL(signUp.verifications.externalAccount.externalVerificationRedirectURL);
      assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');

      const nonce = await throughProvider(latch, signUp, 'ada');
      // Without the nonce the client has nothing new.
      signUp = await clerk.client.signUp.reload();
      assert.equal(signUp.verifications.externalAccount.status, 'unverified');
      assert.equal(signUp.createdUserId, null);

      signUp = await clerk.client.signUp.reload({ rotatingTokenNonce: nonce });
      assert.equal(signUp.status, 'complete');
      assert.equal(signUp.verifications.externalAccount.status, 'verified');
      assert.equal(signUp.emailAddress, 'ada@example.com');
      assert.equal(signUp.firstName, 'Ada');
      assert.equal(signUp.lastName, 'Lovelace');
      assert.match(signUp.createdUserId ?? '', /^user_/);
      assert.match(signUp.createdSessionId ?? '', /^sess_/);

      await clerk.setActive({ session: signUp.createdSessionId });
      assert.equal(clerk.user?.id, signUp.createdUserId);
      const claims = jwtClaims(await clerk.session.getToken());
      assert.equal(claims.sub, signUp.createdUserId);

      const user = await backend.users.getUser(signUp.createdUserId);
      assert.equal(user.externalAccounts.length, 1);
      assert.equal(user.externalAccounts[0].providerUserId, 'ada');
      assert.equal(user.externalAccounts[0].emailAddress, 'ada@example.com');
      assert.equal(user.primaryEmailAddress?.emailAddress, 'ada@example.com');
      assert.equal(user.primaryEmailAddress?.verification?.status, 'verified');
      assert.equal(user.firstName, 'Ada');
      assert.equal(user.lastName, 'Lovelace');
      assert.equal(user.passwordEnabled, false);
      await clerk.signOut();
    });
  });

  describe('a username is required (LATCH_SIGN_UP__REQUIRE_USERNAME=true)', () => {
    let latch, backend, clerk;
    before(async () => {
      latch = await startOAuthLatch({ accounts: ACCOUNTS, env: { LATCH_SIGN_UP__REQUIRE_USERNAME: 'true' } });
      backend = backendClient(latch);
      clerk = await loadNodeClerk(latch, { fresh: true });
    });
    after(async () => latch?.stop());

    test('the OAuth sign-up ends missing_requirements with username missing; signUp.update completes it', async () => {
      let signUp = await clerk.client.signUp.create({
        strategy: STRATEGY, redirectUrl: BACK, actionCompleteRedirectUrl: DONE,
      });
      const nonce = await throughProvider(latch, signUp, 'grace');
      signUp = await clerk.client.signUp.reload({ rotatingTokenNonce: nonce });
      assert.equal(signUp.status, 'missing_requirements');
      assert.ok(signUp.missingFields.includes('username'), `missingFields: ${signUp.missingFields}`);
      assert.equal(signUp.verifications.externalAccount.status, 'verified');
      assert.equal(signUp.emailAddress, 'grace@example.com');
      assert.equal(signUp.createdUserId, null);

      signUp = await signUp.update({ username: 'grace_hopper' });
      assert.equal(signUp.status, 'complete');
      await clerk.setActive({ session: signUp.createdSessionId });
      assert.equal(clerk.user?.id, signUp.createdUserId);
      const user = await backend.users.getUser(signUp.createdUserId);
      assert.equal(user.username, 'grace_hopper');
      assert.equal(user.externalAccounts[0]?.providerUserId, 'grace');
      assert.equal(user.primaryEmailAddress?.verification?.status, 'verified');
      await clerk.signOut();
    });
  });
});

describe('clerk-js in Chromium (production instance, __client cookie): both transfers', () => {
  let pageServer, pageOrigin, latch, backend, browser, newContext, blocked;
  const pageConfig = {};
  /** Answers of 400 and above from latch, as 'METHOD /path -> status'. */
  const refused = [];

  before(async () => {
    ({ server: pageServer, origin: pageOrigin } = await startPageServer(pageConfig));
    // The page's origin is allowed for CORS and, as server.allowed_origins is also the
    // list of origins an OAuth flow may return to, for redirect_url.
    latch = await startOAuthLatch({ accounts: ACCOUNTS, environment: 'production', allowedOrigins: [pageOrigin] });
    Object.assign(pageConfig, { publishableKey: latch.publishableKey, proxyUrl: latch.url });
    backend = backendClient(latch);
    ({ browser, newContext, blocked } = await launchBrowser());
  });

  after(async () => {
    await browser?.close();
    await latch?.stop();
    pageServer?.close();
  });

  /**
   * A page in a context of its own (no provider login, no client), its FAPI requests
   * recorded; latch's refusals go to `refused` unless `untracked`.
   */
  async function freshPage({ untracked = false } = {}) {
    const page = await (await newContext()).newPage();
    page.on('pageerror', (err) => console.error('[page error]', err));
    const fapi = recordFapi(page, latch.url);
    page.on('response', (res) => {
      const url = new URL(res.url());
      if (!untracked && url.origin === latch.url && res.status() >= 400) {
        refused.push(`${url.searchParams.get('_method') ?? res.request().method()} ${url.pathname} -> ${res.status()}`);
      }
    });
    return { page, fapi };
  }

  /**
   * On the app's page: `Clerk.client[resource].authenticateWithRedirect(...)`, which
   * leaves for the provider; log in there as `login`; latch's callback sends the
   * browser back to the page's /sso-callback (or /done). Returns the URL landed on.
   */
  async function oauthRoundTrip(page, resource, login) {
    await page.goto(`${pageOrigin}/sign-in`);
    await page.evaluate(() => window.Clerk.load({ telemetry: false }));
    await Promise.all([
      page.waitForURL((url) => url.origin === latch.idp.issuer),
      page.evaluate(({ resource, params }) => {
        // Not awaited: it ends by sending the page away.
        void window.Clerk.client[resource].authenticateWithRedirect(params);
      }, {
        resource,
        params: { strategy: STRATEGY, redirectUrl: `${pageOrigin}/sso-callback`, redirectUrlComplete: `${pageOrigin}/done` },
      }),
    ]);
    await loginAtProvider(page, latch.idp.issuer, login);
    await page.waitForURL((url) => url.origin === pageOrigin, { waitUntil: 'load' });
    return new URL(page.url());
  }

  /**
   * What an app's sso-callback page does: load Clerk, then
   * `Clerk.handleRedirectCallback(params, navigate)`. Navigations (by `navigate`, or
   * by clerk-js's router after setActive) are recorded instead of leaving the page.
   * Returns the sign-in and sign-up clerk-js saw at load, the navigations, and who is
   * signed in after.
   */
  async function runRedirectCallback(page) {
    return page.evaluate(async (origin) => {
      window.__navigations = [];
      const router = (to) => { window.__navigations.push(String(to)); };
      await window.Clerk.load({ telemetry: false, routerPush: router, routerReplace: router });
      const { signIn, signUp } = window.Clerk.client;
      const seen = {
        signIn: {
          status: signIn.status,
          verification: signIn.firstFactorVerification?.status ?? null,
          error: signIn.firstFactorVerification?.error?.code ?? null,
        },
        signUp: {
          status: signUp.status,
          verification: signUp.verifications.externalAccount?.status ?? null,
          error: signUp.verifications.externalAccount?.error?.code ?? null,
        },
      };
      let thrown = null;
      try {
        await window.Clerk.handleRedirectCallback({
          signInUrl: `${origin}/sign-in`,
          signUpUrl: `${origin}/sign-up`,
          signInFallbackRedirectUrl: `${origin}/done?after=sign-in`,
          signUpFallbackRedirectUrl: `${origin}/done?after=sign-up`,
        }, router);
      } catch (err) {
        thrown = String(err?.stack ?? err);
      }
      return {
        seen,
        thrown,
        // clerk-js hands its router same-origin URLs as paths.
        navigations: window.__navigations.map((to) => new URL(to, origin).href),
        sessionId: window.Clerk.session?.id ?? null,
        userId: window.Clerk.user?.id ?? null,
        token: window.Clerk.session ? await window.Clerk.session.getToken() : null,
      };
    }, pageOrigin);
  }

  const transfers = (fapi, path) => fapi.filter((r) => r.method === 'POST' && r.path === path && r.body.transfer === 'true');

  test('a new person\'s OAuth sign-in: handleRedirectCallback transfers it to a sign-up, signed in as a new user', async () => {
    const { page, fapi } = await freshPage();
    await withScreenshotOnFailure(page, 'oauth-sign-in-transfer-to-sign-up', async () => {
      const landed = await oauthRoundTrip(page, 'signIn', 'barbara');
      assert.equal(`${landed.origin}${landed.pathname}`, `${pageOrigin}/sso-callback`);
      const started = fapi.find((r) => r.method === 'POST' && r.path === '/v1/client/sign_ins');
      assert.equal(started?.body.strategy, STRATEGY);
      assert.equal(started?.body.redirect_url, `${pageOrigin}/sso-callback`);
      assert.equal(started?.body.action_complete_redirect_url, `${pageOrigin}/done`);

      const result = await runRedirectCallback(page);
      assert.equal(result.thrown, null);
      assert.deepEqual(result.seen.signIn, { status: 'needs_identifier', verification: 'transferable', error: 'external_account_not_found' });
      const transfer = transfers(fapi, '/v1/client/sign_ups');
      assert.equal(transfer.length, 1, `FAPI requests: ${JSON.stringify(fapi.map((r) => `${r.method} ${r.path}`))}`);
      assert.equal(transfer[0].status, 200);
      assert.match(result.sessionId ?? '', /^sess_/);
      assert.match(result.userId ?? '', /^user_/);
      assert.deepEqual(result.navigations, [`${pageOrigin}/done?after=sign-up`]);
      assert.equal(jwtClaims(result.token).sub, result.userId);

      const user = await backend.users.getUser(result.userId);
      assert.equal(user.externalAccounts.length, 1);
      assert.equal(user.externalAccounts[0].providerUserId, 'barbara');
      assert.equal(user.primaryEmailAddress?.emailAddress, account('barbara').email);
      assert.equal(user.primaryEmailAddress?.verification?.status, 'verified');
      assert.equal(user.firstName, 'Barbara');
    });
  });

  test('an OAuth sign-up with the verified email of a user: handleRedirectCallback transfers it to a sign-in as that user', async () => {
    const existing = await backend.users.createUser({ ...newUserParams(), emailAddress: [account('alan').email] });
    const { page, fapi } = await freshPage();
    await withScreenshotOnFailure(page, 'oauth-sign-up-transfer-to-sign-in', async () => {
      const landed = await oauthRoundTrip(page, 'signUp', 'alan');
      assert.equal(`${landed.origin}${landed.pathname}`, `${pageOrigin}/sso-callback`);
      const started = fapi.find((r) => r.method === 'POST' && r.path === '/v1/client/sign_ups');
      assert.equal(started?.body.strategy, STRATEGY);

      const result = await runRedirectCallback(page);
      assert.equal(result.thrown, null);
      assert.deepEqual(result.seen.signUp, { status: 'missing_requirements', verification: 'transferable', error: 'external_account_exists' });
      const transfer = transfers(fapi, '/v1/client/sign_ins');
      assert.equal(transfer.length, 1, `FAPI requests: ${JSON.stringify(fapi.map((r) => `${r.method} ${r.path}`))}`);
      assert.equal(transfer[0].status, 200);
      assert.equal(result.userId, existing.id);
      assert.match(result.sessionId ?? '', /^sess_/);
      assert.deepEqual(result.navigations, [`${pageOrigin}/done?after=sign-in`]);
      assert.equal(jwtClaims(result.token).sub, existing.id);
      const user = await backend.users.getUser(existing.id);
      assert.equal(user.externalAccounts[0]?.providerUserId, 'alan', 'the account is linked to the user now');
    });
  });

  test('an OAuth sign-up with an account already linked to a user: transferred to a sign-in as that user', async () => {
    // The first test made barbara's account the new user's.
    const { data } = await backend.users.getUserList({ emailAddress: [account('barbara').email] });
    assert.equal(data.length, 1);
    const { page, fapi } = await freshPage();
    await withScreenshotOnFailure(page, 'oauth-sign-up-linked-transfer-to-sign-in', async () => {
      await oauthRoundTrip(page, 'signUp', 'barbara');
      const result = await runRedirectCallback(page);
      assert.equal(result.thrown, null);
      assert.equal(result.seen.signUp.error, 'external_account_exists');
      assert.equal(transfers(fapi, '/v1/client/sign_ins').length, 1);
      assert.equal(result.userId, data[0].id);
      assert.deepEqual(result.navigations, [`${pageOrigin}/done?after=sign-in`]);
    });
  });

  test('an OAuth sign-up by a new person completes at the callback and lands on redirectUrlComplete, signed in', async () => {
    const { page, fapi } = await freshPage();
    await withScreenshotOnFailure(page, 'oauth-sign-up-complete', async () => {
      const landed = await oauthRoundTrip(page, 'signUp', 'ken');
      assert.equal(landed.href, `${pageOrigin}/done`);
      const state = await page.evaluate(async () => {
        await window.Clerk.load({ telemetry: false });
        return { sessionId: window.Clerk.session?.id ?? null, userId: window.Clerk.user?.id ?? null };
      });
      assert.match(state.sessionId ?? '', /^sess_/);
      const user = await backend.users.getUser(state.userId);
      assert.equal(user.externalAccounts[0]?.providerUserId, 'ken');
      assert.equal(transfers(fapi, '/v1/client/sign_ins').length + transfers(fapi, '/v1/client/sign_ups').length, 0);
    });
  });

  /**
   * <SignUp/> mounted on /ui (hash routing) with these props; its Acme button, the
   * provider's pages as `login`, back to the page. Returns { started, landed, state }:
   * the sign-up request the button sent, the URL latch's callback sent the browser to,
   * and who is signed in there once Clerk has loaded.
   */
  async function signUpWithButton(page, fapi, props, login) {
    await page.goto(`${pageOrigin}/ui`);
    await page.evaluate(async (props) => {
      await window.Clerk.load({ ui: { ClerkUI: window.__internal_ClerkUICtor }, telemetry: false });
      window.Clerk.mountSignUp(document.getElementById('app'), props);
    }, props);
    await page.getByRole('button', { name: /Acme/ }).click();
    const left = await page.waitForURL((url) => url.origin === latch.idp.issuer, { timeout: 10_000 }).then(() => true, () => false);
    const started = fapi.find((r) => r.method === 'POST' && r.path === '/v1/client/sign_ups');
    assert.ok(left, `the page did not leave for the provider; the sign-up request: ${JSON.stringify(started)}`);
    assert.equal(started.body.strategy, STRATEGY);
    // Its sso-callback route (with the after-sign-up URL given as a prop, if any).
    assert.ok(started.body.redirect_url.startsWith(`${pageOrigin}/ui#/sso-callback`), started.body.redirect_url);

    await loginAtProvider(page, latch.idp.issuer, login);
    await page.waitForURL((url) => url.origin === pageOrigin, { waitUntil: 'load' });
    const landed = page.url();
    const state = await page.evaluate(async () => {
      await window.Clerk.load({ telemetry: false });
      return { sessionId: window.Clerk.session?.id ?? null, userId: window.Clerk.user?.id ?? null };
    });
    return { started, landed, state };
  }

  test('<SignUp/>\'s Acme button (an absolute after-sign-up URL): a new person signs up at the provider, back signed in', async () => {
    assertClerkUiInstalled();
    const { page, fapi } = await freshPage();
    await withScreenshotOnFailure(page, 'ui-oauth-sign-up', async () => {
      const { started, landed, state } = await signUpWithButton(page, fapi, { forceRedirectUrl: `${pageOrigin}/done` }, 'edsger');
      assert.equal(started.body.action_complete_redirect_url, `${pageOrigin}/done`);
      assert.equal(landed, `${pageOrigin}/done`);
      assert.match(state.sessionId ?? '', /^sess_/);
      const user = await backend.users.getUser(state.userId);
      assert.equal(user.externalAccounts[0]?.providerUserId, 'edsger');
      assert.equal(user.primaryEmailAddress?.emailAddress, account('edsger').email);
      assert.equal(user.primaryEmailAddress?.verification?.status, 'verified');
    });
  });

  // <SignUp/> sends `action_complete_redirect_url=/` (its after-sign-up URL, relative by
  // default), which latch takes on the redirect_url's origin.
  test('<SignUp/>\'s Acme button with its default after-sign-up URL ("/")', async () => {
    assertClerkUiInstalled();
    const { page, fapi } = await freshPage({ untracked: true });
    await withScreenshotOnFailure(page, 'ui-oauth-sign-up-default-after-url', async () => {
      const { started, landed, state } = await signUpWithButton(page, fapi, {}, 'ken2');
      assert.equal(started.body.action_complete_redirect_url, '/');
      assert.equal(landed, `${pageOrigin}/`);
      assert.match(state.sessionId ?? '', /^sess_/);
    });
  });

  test('latch refused none of the pages\' requests, and no page reached another host', () => {
    assert.deepEqual(refused, []);
    // The provider's development login and consent pages link a font from Google
    // (refused like any other host); the app's pages reach none.
    assert.deepEqual(blocked.filter((url) => new URL(url).hostname !== 'fonts.googleapis.com'), []);
  });
});
