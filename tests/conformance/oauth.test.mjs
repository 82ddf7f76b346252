// OAuth sign-in with clerk-js (Node, native mode) against a real OpenID
// Connect provider (the certified `oidc-provider` package, started here):
// clerk-js creates the sign-in, the test plays the browser through the
// provider's login and consent pages to latch's callback, and clerk-js claims
// the sign-in with the nonce the callback returned and sees it complete.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { backendClient, browse, loadNodeClerk, newUserParams, startOAuthLatch } from './harness.mjs';

const BACK = 'http://localhost:3000/sso-callback';
const DONE = 'http://localhost:3000/home';

let latch, backend, clerk;

before(async () => {
  latch = await startOAuthLatch({
    accounts: [
      { sub: 'ada', email: 'ada@example.com', email_verified: true, given_name: 'Ada', family_name: 'Lovelace' },
      { sub: 'eve', email: 'eve@example.com', email_verified: false },
    ],
  });
  backend = backendClient(latch);
  clerk = await loadNodeClerk(latch);
});

after(async () => {
  await latch?.stop();
});

test('the environment lists the provider', async () => {
  const res = await fetch(`${latch.url}/v1/environment`);
  const env = await res.json();
  assert.equal(env.user_settings.social.oauth_custom_acme.enabled, true);
});

test('OAuth sign-in through the provider login and consent completes', async () => {
  const user = await backend.users.createUser({ ...newUserParams(), emailAddress: ['ada@example.com'] });
  const signIn = await clerk.client.signIn.create({
    strategy: 'oauth_custom_acme', redirectUrl: BACK, actionCompleteRedirectUrl: DONE,
  });
  const verification = signIn.firstFactorVerification;
  assert.equal(verification.status, 'unverified');
  const authorize = new URL(verification.externalVerificationRedirectURL);
  assert.equal(authorize.origin, latch.idp.issuer);
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(authorize.searchParams.get('nonce'));

  // The provider sends the browser to latch's callback, which sends it back
  // to the app with a nonce; the app claims its sign-in with it, as clerk-js's
  // redirect callback does (an app's client is no browser cookie the
  // callback could check).
  const landing = await browse(authorize.href, 'ada', `${latch.url}/v1/oauth_callback`);
  const res = await fetch(landing, { redirect: 'manual' });
  assert.equal(res.status, 303);
  const back = new URL(res.headers.get('location'));
  assert.equal(`${back.origin}${back.pathname}`, BACK);
  const nonce = back.searchParams.get('rotating_token_nonce');
  assert.ok(nonce);
  assert.equal((await clerk.client.signIn.reload()).status, 'needs_identifier', 'nothing without the nonce');

  const done = await clerk.client.signIn.reload({ rotatingTokenNonce: nonce });
  assert.equal(done.status, 'complete');
  await clerk.setActive({ session: done.createdSessionId });
  assert.equal(clerk.user?.id, user.id);
  const linked = await backend.users.getUser(user.id);
  assert.equal(linked.externalAccounts.length, 1);
  assert.equal(linked.externalAccounts[0].providerUserId, 'ada');
  // The provider's access token, for the application's server to call its API with.
  const tokens = await backend.users.getUserOauthAccessToken(user.id, 'oauth_custom_acme');
  const list = tokens.data ?? tokens;
  assert.equal(list.length, 1);
  assert.equal(list[0].externalAccountId, linked.externalAccounts[0].id);
  assert.ok(list[0].token.length > 10, 'an access token');
  await clerk.signOut();
});

test('an unverified email is not linked: once claimed, the verification is transferable', async () => {
  await backend.users.createUser({ ...newUserParams(), emailAddress: ['eve@example.com'] });
  const signIn = await clerk.client.signIn.create({ strategy: 'oauth_custom_acme', redirectUrl: BACK });
  const landing = await browse(signIn.firstFactorVerification.externalVerificationRedirectURL.href, 'eve', `${latch.url}/v1/oauth_callback`);
  const res = await fetch(landing, { redirect: 'manual' });
  const back = new URL(res.headers.get('location'));
  assert.equal(`${back.origin}${back.pathname}`, BACK);
  // The account is the claiming client's to sign up with, and no other's.
  assert.equal((await clerk.client.signIn.reload()).firstFactorVerification.status, 'unverified');
  const nonce = back.searchParams.get('rotating_token_nonce');
  const after = await clerk.client.signIn.reload({ rotatingTokenNonce: nonce });
  assert.equal(after.firstFactorVerification.status, 'transferable');
  assert.equal(after.firstFactorVerification.error?.code, 'external_account_not_found');
});
