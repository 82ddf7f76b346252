// Clerk's prebuilt <UserProfile/> (@clerk/ui's browser bundle, Clerk.mountUserProfile) on a
// page from another origin, against a production instance, used as a person would, by
// label, role and visible text: the name, a second email address (its code taken from what
// latch's `http` sender delivered) made primary, the password (through the reverification
// modal), the active devices, and an account at an OpenID Connect provider (`oidc-provider`,
// started here as `custom_acme`) connected through the provider's pages and removed. After
// each step the Backend API must report the change.
// Each step's end state is saved as a PNG under screenshots/user-profile/.
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import {
  assertClerkUiInstalled, backendClient, freePort, httpCodeSender, launchBrowser, loginAtProvider, newUserParams, recordFapi,
  startCodeReceiver, startLatch, startPageServer, startProvider, withScreenshotOnFailure,
} from './harness.mjs';

const SHOTS = fileURLToPath(new URL('./screenshots/user-profile/', import.meta.url));
/** The user's account at the provider (any password logs in as its `sub`). */
const ACME = { sub: 'ada-at-acme', email: 'ada@acme.example', email_verified: true, given_name: 'Ada', family_name: 'Lovelace' };
const IPHONE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 '
  + '(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';

let pageServer, pageOrigin, latch, idp, receiver, browser, page, blocked, params, user, bapi, fapiLog;
let sessionId;
let password;

/** A native Frontend API call from Node; returns { status, body, client } (the client token). */
async function fapi(method, path, { client = '', form, userAgent } = {}) {
  const headers = { authorization: client };
  if (userAgent) headers['user-agent'] = userAgent;
  if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await fetch(`${latch.url}${path}${path.includes('?') ? '&' : '?'}_is_native=1`, {
    method, headers, body: form ? new URLSearchParams(form) : undefined,
  });
  return { status: res.status, body: await res.json(), client: res.headers.get('authorization') ?? client };
}

/** A password sign-in through the Frontend API from Node, as another device would. */
const signInFromNode = (identifier, secret, userAgent) => fapi('POST', '/v1/client/sign_ins', {
  form: { strategy: 'password', identifier, password: secret }, userAgent,
});

/**
 * The row of a <UserProfile/> section (an email address, a device) showing `text`. The rows
 * have no list role: they are found by their classes of Clerk's appearance customization
 * (`cl-profileSectionItem`, `cl-activeDeviceListItem`).
 */
const item = (text) => page.locator('.cl-profileSectionItem, .cl-activeDeviceListItem').filter({ hasText: text });

/** Saves the viewport as screenshots/user-profile/<name>.png. */
async function shot(name) {
  await page.screenshot({ path: `${SHOTS}${name}.png`, animations: 'disabled' });
}

/** The FAPI requests logged since `start`, one per line, for assertion messages. */
const summary = (start) => fapiLog.slice(start)
  .map((r) => `${r.method} ${r.path} -> ${r.status}${r.error ? ` ${r.error.code}` : ''}`).join('\n');
const refusedSince = (start) => fapiLog.slice(start).filter((r) => r.status >= 400);

/**
 * withScreenshotOnFailure, and on failure the Frontend API requests the page made during
 * `fn` (with the first error of each refused one) printed too.
 */
async function step(name, fn) {
  const start = fapiLog.length;
  try {
    return await withScreenshotOnFailure(page, name, fn);
  } catch (err) {
    console.error(`[${name}] the page's Frontend API requests:\n${fapiLog.slice(start)
      .map((r) => `${r.method} ${r.path} ${JSON.stringify(r.body)} -> ${r.status}${r.error ? ` ${JSON.stringify(r.error)}` : ''}`)
      .join('\n')}`);
    throw err;
  }
}

before(async () => {
  assertClerkUiInstalled();
  await rm(SHOTS, { recursive: true, force: true });
  await mkdir(SHOTS, { recursive: true });
  const pageConfig = {};
  ({ server: pageServer, origin: pageOrigin } = await startPageServer(pageConfig));
  receiver = await startCodeReceiver();
  // latch's own URL as its issuer, as a deployment's would be: users' default avatars
  // (`image_url`) are served from there.
  const port = await freePort();
  // The provider knows latch's callback on that port, as startOAuthLatch does it.
  const callback = `http://127.0.0.1:${port}/v1/oauth_callback`;
  const oauthClient = { clientId: 'latch-ui-profile', clientSecret: 'ui-profile provider secret' };
  idp = await startProvider({ ...oauthClient, redirectUris: [callback], accounts: [ACME] });
  latch = await startLatch({
    environment: 'production',
    allowedOrigins: [pageOrigin],
    env: {
      ...httpCodeSender(receiver),
      LATCH_SERVER__ADDR: `127.0.0.1:${port}`,
      LATCH_INSTANCE__ISSUER: `http://127.0.0.1:${port}`,
      // A session's password, verified at sign-in, is stale for a sensitive change 1 s later.
      LATCH_SIGN_IN__REVERIFICATION_WINDOW_SECS: '1',
      LATCH_OAUTH__CALLBACK_URL: callback,
      LATCH_OAUTH__PROVIDERS__CUSTOM_ACME__ISSUER_URL: idp.issuer,
      LATCH_OAUTH__PROVIDERS__CUSTOM_ACME__CLIENT_ID: oauthClient.clientId,
      LATCH_OAUTH__PROVIDERS__CUSTOM_ACME__CLIENT_SECRET: oauthClient.clientSecret,
    },
  });
  Object.assign(pageConfig, { publishableKey: latch.publishableKey, proxyUrl: latch.url });
  bapi = backendClient(latch);
  params = newUserParams();
  password = params.password;
  user = await bapi.users.createUser({ ...params, firstName: 'Ada', lastName: 'Lovelace' });

  let context;
  ({ browser, context, blocked } = await launchBrowser());
  page = await context.newPage();
  await page.setViewportSize({ width: 1000, height: 760 });
  page.on('pageerror', (err) => console.error('[page error]', err));
  page.on('console', (msg) => {
    if (msg.type() === 'error') console.error(`[page ${msg.type()}]`, msg.text());
  });
  fapiLog = recordFapi(page, latch.url);

  // Set-up: signed in through clerk-js itself.
  await page.goto(`${pageOrigin}/ui`);
  sessionId = await page.evaluate(async ({ identifier, password }) => {
    await window.Clerk.load({ telemetry: false });
    const signIn = await window.Clerk.client.signIn.create({ strategy: 'password', identifier, password });
    await window.Clerk.setActive({ session: signIn.createdSessionId });
    return window.Clerk.session.id;
  }, { identifier: params.emailAddress[0], password });
  assert.match(sessionId, /^sess_/);
  await openProfile();
});

/** Loads the page afresh, signed in by latch's cookie, and mounts <UserProfile/> in it. */
async function openProfile() {
  await page.goto(`${pageOrigin}/ui`);
  await mountProfile();
}

/** Loads Clerk on the page the browser is on (one with the screens) and mounts <UserProfile/>. */
async function mountProfile() {
  const active = await page.evaluate(async () => {
    const router = () => {};
    await window.Clerk.load({
      ui: { ClerkUI: window.__internal_ClerkUICtor },
      telemetry: false,
      routerPush: router,
      routerReplace: router,
    });
    window.Clerk.mountUserProfile(document.getElementById('app'));
    return window.Clerk.session?.id ?? null;
  });
  assert.equal(active, sessionId);
  await page.getByText('Profile details').waitFor();
}

after(async () => {
  await browser?.close();
  await latch?.stop();
  idp?.stop();
  await receiver?.close();
  pageServer?.close();
});

test('<UserProfile/> shows the account and changes the first and last name', async () => {
  const start = fapiLog.length;
  await step('ui-profile-name', async () => {
    await page.getByText('Ada Lovelace').waitFor();
    await page.getByText(params.emailAddress[0]).waitFor();
    await shot('01-account');

    await page.getByRole('button', { name: 'Update profile' }).click();
    await page.getByLabel('First name').fill('Grace');
    await page.getByLabel('Last name').fill('Hopper');
    await shot('02-profile-form');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Grace Hopper').waitFor();
    await page.getByLabel('First name').waitFor({ state: 'detached' });
    await shot('03-profile-updated');
  });
  const updated = await bapi.users.getUser(user.id);
  assert.equal(updated.firstName, 'Grace');
  assert.equal(updated.lastName, 'Hopper');
  // The default avatar follows the new initials.
  assert.match(updated.imageUrl, /initials=GH$/);
  assert.ok(fapiLog.slice(start).some((r) => r.method === 'PATCH' && r.path === '/v1/me' && r.status === 200), summary(start));
  assert.deepEqual(refusedSince(start), [], summary(start));
});

test('<UserProfile/> adds a second email address, verifies it by code and makes it primary', async () => {
  const start = fapiLog.length;
  const second = `second-${params.username}@example.com`;
  const firstId = (await bapi.users.getUser(user.id)).primaryEmailAddressId;
  await step('ui-profile-email', async () => {
    await page.getByRole('button', { name: 'Add email address' }).click();
    await page.getByLabel('Email address', { exact: true }).fill(second);
    // Submitted with Enter in the field: in some runs a click on "Add" right after typing
    // sent nothing and left the form as it was (no cause found in the page).
    const created = page.waitForResponse((res) => /^\/v1\/me\/email_addresses\/?$/.test(new URL(res.url()).pathname));
    await page.getByLabel('Email address', { exact: true }).press('Enter');
    assert.equal((await created).status(), 200);
    await page.getByText('Verify email address').waitFor();
    await page.getByText(second).first().waitFor();
    const code = await receiver.nextCode(second);
    await page.getByLabel('Enter verification code').pressSequentially(code);
    await shot('04-email-code');
    // The form closes and the new address is listed, with no "Unverified" badge.
    await page.getByText('Verify email address').waitFor({ state: 'detached' });
    const row = item(second);
    await row.waitFor();
    assert.equal(await row.getByText('Unverified').count(), 0);
    await shot('05-email-verified');

    await row.getByRole('button', { name: 'Open menu' }).click();
    await page.getByRole('menuitem', { name: 'Set as primary' }).click();
    await row.getByText('Primary').waitFor();
    await shot('06-email-primary');
  });
  const after = await bapi.users.getUser(user.id);
  const added = after.emailAddresses.find((e) => e.emailAddress === second);
  assert.ok(added, `the user has ${second}`);
  assert.equal(added.verification?.status, 'verified');
  assert.notEqual(after.primaryEmailAddressId, firstId);
  assert.equal(after.primaryEmailAddressId, added.id);
  assert.deepEqual(refusedSince(start), [], summary(start));
});

test('<UserProfile/> changes the password after reverifying with the current one', async () => {
  const start = fapiLog.length;
  const newPassword = `new-${params.password}`;
  // Another device signed in with the old password, which "Sign out of all other devices"
  // (checked by default) is to end.
  const laptop = await signInFromNode(params.emailAddress[0], password);
  assert.equal(laptop.status, 200, JSON.stringify(laptop.body));
  const laptopSession = laptop.body.response.created_session_id;
  await step('ui-profile-password', async () => {
    await page.getByRole('button', { name: 'Security' }).click();
    await page.getByRole('button', { name: 'Update password' }).click();
    // The session's password was verified at sign-in, longer ago than the 1 s window.
    await page.waitForTimeout(2_000);
    await page.getByLabel('New password').fill(newPassword);
    await page.getByLabel('Confirm password').fill(newPassword);
    assert.equal(await page.getByLabel('Sign out of all other devices').isChecked(), true);
    // The form asks for the current password too (the environment's
    // auth_config.reverification is off): both are checked.
    await page.getByLabel('Current password').fill(password);
    await shot('07-password-form');
    await page.getByRole('button', { name: 'Save', exact: true }).click();

    await page.getByText('Verification required').waitFor();
    await page.getByText('Enter your current password to continue').waitFor();
    await page.getByLabel('Password', { exact: true }).fill(password);
    await shot('08-reverification');
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    // The form closes, back to the Security page.
    await page.getByLabel('New password').waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Update password' }).waitFor();
    // Opened again (the devices list is kept for two minutes): the other device is gone.
    await openProfile();
    await page.getByRole('button', { name: 'Security' }).click();
    await item('This device').waitFor();
    assert.equal(await page.locator('.cl-activeDeviceListItem').count(), 1);
    await shot('09-password-updated');
  });
  const log = fapiLog.slice(start);
  const refusal = log.find((r) => r.path === '/v1/me/change_password' && r.status === 403);
  assert.equal(refusal?.error?.code, 'session_reverification_required', summary(start));
  assert.ok(log.some((r) => r.path === `/v1/client/sessions/${sessionId}/verify/attempt_first_factor` && r.status === 200), summary(start));
  assert.ok(log.some((r) => r.path === '/v1/me/change_password' && r.status === 200), summary(start));

  assert.deepEqual(refusedSince(start).map((r) => `${r.path} ${r.error?.code}`), ['/v1/me/change_password session_reverification_required'], summary(start));

  // The Backend API: the other device's session revoked, this one still active.
  assert.equal((await bapi.sessions.getSession(laptopSession)).status, 'revoked');
  assert.equal((await bapi.sessions.getSession(sessionId)).status, 'active');
  assert.equal((await bapi.users.getUser(user.id)).passwordEnabled, true);
  // The new password signs in; the old one no longer does.
  const ok = await signInFromNode(params.emailAddress[0], newPassword);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.response.status, 'complete');
  const old = await signInFromNode(params.emailAddress[0], password);
  assert.equal(old.status, 422, JSON.stringify(old.body));
  assert.equal(old.body.errors[0].code, 'form_password_incorrect');
  await bapi.sessions.revokeSession(ok.body.response.created_session_id);
  password = newPassword;
});

test('<UserProfile/> lists the active devices and signs another one out', async () => {
  const start = fapiLog.length;
  // Another device: Safari on an iPhone, signed in from Node.
  const phone = await signInFromNode(params.emailAddress[0], password, IPHONE_UA);
  assert.equal(phone.status, 200, JSON.stringify(phone.body));
  const phoneSession = phone.body.response.created_session_id;
  const token = await fapi('POST', `/v1/client/sessions/${phoneSession}/tokens`, { client: phone.client });
  assert.equal(token.status, 200, JSON.stringify(token.body));

  await step('ui-profile-devices', async () => {
    // <UserProfile/> keeps the list it fetched for two minutes: the page is opened again.
    await openProfile();
    await page.getByRole('button', { name: 'Security' }).click();
    await page.getByText('Active devices').waitFor();
    const thisDevice = item('This device');
    await thisDevice.waitFor();
    await thisDevice.getByText(/^Chrome \d+/).waitFor();
    const iphone = item('iPhone');
    await iphone.waitFor();
    await iphone.getByText('Safari 17.4', { exact: true }).waitFor();
    await shot('10-active-devices');

    await iphone.getByRole('button', { name: 'Open menu' }).click();
    const revoked = page.waitForResponse((res) => new URL(res.url()).pathname === `/v1/me/sessions/${phoneSession}/revoke`);
    await page.getByRole('menuitem', { name: 'Sign out of device' }).click();
    assert.equal((await revoked).status(), 200);
    // Right after the click <UserProfile/> keeps the revoked row, redrawn from the revoke
    // answer (which keeps the device's details), until the section fetches the list again.
    // The list as the page shows it next: this device alone.
    await openProfile();
    await page.getByRole('button', { name: 'Security' }).click();
    await thisDevice.waitFor();
    assert.equal(await page.locator('.cl-activeDeviceListItem').count(), 1);
    await shot('11-device-signed-out');
  });
  const log = fapiLog.slice(start);
  assert.ok(log.some((r) => r.path === `/v1/me/sessions/${phoneSession}/revoke` && r.status === 200), summary(start));
  assert.deepEqual(refusedSince(start), [], summary(start));

  const { data: sessions } = await bapi.sessions.getSessionList({ userId: user.id });
  assert.equal(sessions.find((s) => s.id === phoneSession)?.status, 'revoked');
  assert.equal(sessions.find((s) => s.id === sessionId)?.status, 'active');
  const revoked = await bapi.sessions.getSession(phoneSession);
  assert.equal(revoked.latestActivity?.deviceType, 'iPhone');
  assert.equal(revoked.latestActivity?.browserName, 'Safari');
  const refused = await fapi('POST', `/v1/client/sessions/${phoneSession}/tokens`, { client: phone.client });
  assert.ok(refused.status >= 400 && refused.status < 500, `${refused.status} ${JSON.stringify(refused.body)}`);
});

test('<UserProfile/> connects an account at the provider, then removes it after reverifying', async () => {
  const start = fapiLog.length;
  await step('ui-profile-connect', async () => {
    await openProfile();
    await page.getByText('Connected accounts').waitFor();
    await page.getByRole('button', { name: 'Connect account' }).click();
    // The menu lists the providers not yet connected, by the name the environment gives.
    const acme = page.getByRole('menuitem', { name: 'Acme' });
    await acme.waitFor();
    await Promise.all([
      page.waitForURL((url) => url.origin === idp.issuer),
      acme.click(),
    ]);
    await loginAtProvider(page, idp.issuer, ACME.sub);
    // latch's callback sends the browser back to the page the connection started from (its
    // URL is the redirect_url the screens sent), where Clerk loads the user afresh.
    await page.waitForURL((url) => url.origin === pageOrigin, { waitUntil: 'load' });
    assert.equal(page.url(), `${pageOrigin}/ui`);
    await mountProfile();
    const row = item('Acme');
    await row.waitFor();
    await row.getByText(ACME.email).waitFor();
    // All the providers are connected: nothing more to connect.
    assert.equal(await page.getByRole('button', { name: 'Connect account' }).count(), 0);
    await shot('12-account-connected');
  });
  let log = fapiLog.slice(start);
  const started = log.find((r) => r.method === 'POST' && r.path === '/v1/me/external_accounts');
  assert.equal(started?.status, 200, summary(start));
  assert.equal(started.body.strategy, 'oauth_custom_acme');
  assert.equal(started.body.redirect_url, `${pageOrigin}/ui`);
  assert.deepEqual(refusedSince(start), [], summary(start));

  const connected = await bapi.users.getUser(user.id);
  assert.equal(connected.externalAccounts.length, 1);
  const [account] = connected.externalAccounts;
  assert.equal(account.provider, 'oauth_custom_acme');
  assert.equal(account.providerUserId, ACME.sub);
  assert.equal(account.emailAddress, ACME.email);
  assert.equal(account.verification?.status, 'verified');
  // The provider's access token, for the application's server to call its API with.
  const tokens = await bapi.users.getUserOauthAccessToken(user.id, 'oauth_custom_acme');
  const list = tokens.data ?? tokens;
  assert.equal(list.length, 1);
  assert.equal(list[0].externalAccountId, account.id);
  assert.ok(list[0].token.length > 10, 'an access token');

  const removing = fapiLog.length;
  await step('ui-profile-disconnect', async () => {
    const row = item('Acme');
    // The session's password was verified longer ago than the 1 s window (also when this
    // test runs alone, right after the sign-in).
    await page.waitForTimeout(1_500);
    await row.getByRole('button', { name: 'Open menu' }).click();
    await page.getByRole('menuitem', { name: 'Remove' }).click();
    await page.getByText('Remove connected account').waitFor();
    await page.getByText('Acme will be removed from this account.').waitFor();
    await page.getByRole('button', { name: 'Remove', exact: true }).click();

    await page.getByText('Verification required').waitFor();
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await row.waitFor({ state: 'detached' });
    await page.getByText('Remove connected account').waitFor({ state: 'detached' });
    // The provider can be connected again.
    await page.getByRole('button', { name: 'Connect account' }).waitFor();
    // The pointer, left where "Continue" was, off the button it now hovers.
    await page.mouse.move(0, 0);
    await shot('13-account-removed');
  });
  log = fapiLog.slice(removing);
  const path = `/v1/me/external_accounts/${account.id}`;
  assert.deepEqual(log.filter((r) => r.path === path).map((r) => `${r.method} ${r.status}${r.error ? ` ${r.error.code}` : ''}`),
    ['DELETE 403 session_reverification_required', 'DELETE 200'], summary(removing));
  assert.ok(log.some((r) => r.path === `/v1/client/sessions/${sessionId}/verify/attempt_first_factor` && r.status === 200), summary(removing));
  assert.deepEqual(refusedSince(removing).map((r) => `${r.path} ${r.error?.code}`), [`${path} session_reverification_required`], summary(removing));

  const removed = await bapi.users.getUser(user.id);
  assert.deepEqual(removed.externalAccounts, []);
  const left = await bapi.users.getUserOauthAccessToken(user.id, 'oauth_custom_acme');
  assert.deepEqual(left.data ?? left, []);
});

test('the page reached no other host', () => {
  // The provider's development login and consent pages link a font from Google (refused
  // like any other host); the app's page reaches none.
  assert.deepEqual(blocked.filter((url) => new URL(url).hostname !== 'fonts.googleapis.com'), []);
});
