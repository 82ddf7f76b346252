// OAuth sign-in with clerk-js (Node, native mode) against a real OpenID
// Connect provider (the certified `oidc-provider` package, started here):
// clerk-js creates the sign-in, the test plays the browser through the
// provider's login and consent pages to latch's callback, and clerk-js claims
// the sign-in with the nonce the callback returned and sees it complete.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { backendClient, loadNodeClerk, newUserParams, startLatch } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const BACK = 'http://localhost:3000/sso-callback';
const DONE = 'http://localhost:3000/home';

let latch, idp, backend, clerk;

/** A port free right now on loopback. */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts oidc-provider; resolves to { issuer, stop }. */
async function startProvider(settings) {
  const script = join(here, '../../crates/testkit/oidc/provider.mjs');
  const child = spawn(process.execPath, [script, JSON.stringify(settings)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('oidc-provider did not start')), 20_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^listening (\d+)$/.exec(line.trim());
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`oidc-provider exited (${code})`)); });
  });
  return { issuer: `http://127.0.0.1:${port}`, stop: () => child.stdin.end() };
}

/**
 * What a browser does from the provider's authorize URL: follow redirects,
 * keep cookies, log in and consent on the provider's pages, until a redirect
 * leaves for `until`. Returns that URL.
 */
async function browse(start, login, until) {
  const cookies = new Map();
  let url = new URL(start);
  let form = null;
  for (let step = 0; step < 20; step++) {
    const headers = { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    const init = form
      ? { method: 'POST', redirect: 'manual', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() }
      : { redirect: 'manual', headers };
    form = null;
    const res = await fetch(url, init);
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location'), url);
      if (next.href.startsWith(until)) return next.href;
      url = next;
      continue;
    }
    const html = await res.text();
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
    const action = /action="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&');
    assert.ok(prompt && action, `an unexpected page at ${url}: ${res.status} ${html.slice(0, 200)}`);
    url = new URL(action, url);
    form = prompt === 'login' ? { prompt, login, password: 'any password' } : { prompt };
  }
  throw new Error('the provider never sent the browser back');
}

before(async () => {
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/v1/oauth_callback`;
  const clientId = `latch-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(24).toString('base64url');
  idp = await startProvider({
    clientId,
    clientSecret,
    redirectUris: [callback],
    accounts: [
      { sub: 'ada', email: 'ada@example.com', email_verified: true, given_name: 'Ada', family_name: 'Lovelace' },
      { sub: 'eve', email: 'eve@example.com', email_verified: false },
    ],
  });
  latch = await startLatch({
    env: {
      LATCH_SERVER__ADDR: `127.0.0.1:${port}`,
      LATCH_OAUTH__CALLBACK_URL: callback,
      LATCH_OAUTH__PROVIDERS__CUSTOM_ACME__ISSUER_URL: idp.issuer,
      LATCH_OAUTH__PROVIDERS__CUSTOM_ACME__CLIENT_ID: clientId,
      LATCH_OAUTH__PROVIDERS__CUSTOM_ACME__CLIENT_SECRET: clientSecret,
    },
  });
  backend = backendClient(latch);
  clerk = await loadNodeClerk(latch);
});

after(async () => {
  await latch?.stop();
  idp?.stop();
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
  assert.equal(authorize.origin, idp.issuer);
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
