// The operators' dashboard in headless Chromium, driven as an operator uses it: sign in
// with a password and an authenticator code, find a user, lock and unlock them, revoke
// one of their sessions, turn phone codes off and on in the settings. A user who is no
// operator is refused, a forged form changes nothing, and every page carries its
// Content-Security-Policy. Screenshots go to tests/conformance/screenshots/.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  backendClient, launchBrowser, newUserParams, runLatch, startLatch, withScreenshotOnFailure,
} from './harness.mjs';

const SHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 '
  + '(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';

let latch, browser, newContext, page, backend;
let operator, operatorSecret, target, targetSession, plain;

/** A base32 secret of 20 random bytes. */
function secret() {
  const bytes = randomBytes(20);
  let value = 0, bits = 0, out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** RFC 6238 (SHA-1, 30 s, 6 digits) for the step `offset` steps from now. */
function totp(base32, offset = 0) {
  const bytes = [];
  let value = 0, bits = 0;
  for (const c of base32) {
    value = (value << 5) | ALPHABET.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000) + offset));
  const mac = createHmac('sha1', Buffer.from(bytes)).update(counter).digest();
  const at = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** Signs `params`' user in on a device of its own through the Frontend API (native). */
async function signInElsewhere(params) {
  const res = await fetch(`${latch.url}/v1/client/sign_ins?_is_native=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': IPHONE },
    body: new URLSearchParams({ strategy: 'password', identifier: params.emailAddress[0], password: params.password }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.response.status, 'complete');
  return body.response.created_session_id;
}

async function shot(name) {
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

/** Signs in through the dashboard's form (the first factor only). */
async function passwordStep(params) {
  await page.goto(`${latch.url}/dashboard/sign-in`);
  await page.getByLabel('Email address, phone number or username').fill(params.emailAddress[0]);
  await page.getByLabel('Password').fill(params.password);
  await page.getByRole('button', { name: 'Continue' }).click();
}

before(async () => {
  latch = await startLatch({ environment: 'production' });
  backend = backendClient(latch);
  operatorSecret = secret();
  operator = newUserParams();
  await backend.users.createUser({ ...operator, totpSecret: operatorSecret });
  const granted = await runLatch(latch, ['admin', 'grant', operator.emailAddress[0]]);
  assert.match(granted, /is now an operator/);
  target = newUserParams();
  const created = await backend.users.createUser({ ...target, firstName: 'Tess', lastName: 'Target' });
  target.id = created.id;
  targetSession = await signInElsewhere(target);
  plain = newUserParams();
  await backend.users.createUser(plain);

  let context;
  ({ browser, context, newContext } = await launchBrowser());
  page = await context.newPage();
  page.on('pageerror', (err) => console.error('[page error]', err));
});

after(async () => {
  await browser?.close();
  await latch?.stop();
});

test('every dashboard page carries a strict Content-Security-Policy', async () => {
  for (const path of ['/dashboard', '/dashboard/sign-in', '/dashboard/assets/dashboard.css']) {
    const res = await fetch(`${latch.url}${path}`, { redirect: 'manual' });
    const policy = res.headers.get('content-security-policy') ?? '';
    assert.match(policy, /default-src 'none'/, path);
    assert.match(policy, /script-src 'self'/, path);
    assert.match(policy, /frame-ancestors 'none'/, path);
    assert.doesNotMatch(policy, /unsafe/, path);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  }
});

test('a user who is no operator is refused, and their session there ended', async () => {
  const context = await newContext();
  const other = await context.newPage();
  try {
    await withScreenshotOnFailure(other, 'dashboard-not-operator', async () => {
      await other.goto(`${latch.url}/dashboard/sign-in`);
      await other.getByLabel('Email address, phone number or username').fill(plain.emailAddress[0]);
      await other.getByLabel('Password').fill(plain.password);
      await other.getByRole('button', { name: 'Continue' }).click();
      await other.getByRole('heading', { name: 'Not an operator' }).waitFor();
      assert.deepEqual(await context.cookies(), [], 'no dashboard cookie is kept');
      await other.goto(`${latch.url}/dashboard/users`);
      assert.equal(new URL(other.url()).pathname, '/dashboard/sign-in');
    });
  } finally {
    await context.close();
  }
});

test('an operator signs in with a password and an authenticator code', async () => {
  await withScreenshotOnFailure(page, 'dashboard-sign-in', async () => {
    await passwordStep(operator);
    await page.getByRole('heading', { name: 'Second factor' }).waitFor();
    await page.getByLabel(/Code from your authenticator app/).fill(totp(operatorSecret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    const [cookie] = await page.context().cookies();
    assert.equal(cookie.name, '__latch_dashboard');
    assert.equal(cookie.path, '/dashboard');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
  });
});

test('an operator finds a user, locks and unlocks them, and revokes a session', async () => {
  await withScreenshotOnFailure(page, 'dashboard-user', async () => {
    await page.goto(`${latch.url}/dashboard/users`);
    // A part of the address finds the user.
    await page.getByLabel(/^Email, phone, username, name or id/).fill(target.emailAddress[0].split('@')[0]);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Tess Target' }).click();
    await page.getByRole('heading', { name: 'Tess Target' }).waitFor();
    // The session from the phone is listed with its device.
    const row = page.getByRole('row')
      .filter({ hasText: targetSession })
      .filter({ has: page.getByRole('button', { name: 'Revoke' }) });
    await row.waitFor();
    assert.match(await row.innerText(), /iPhone/);
    await page.setViewportSize({ width: 1100, height: 900 });
    await shot('dashboard-user');

    page.once('dialog', (dialog) => dialog.accept());
    await page.getByRole('button', { name: 'Lock', exact: true }).click();
    await page.getByText('User locked').waitFor();
    assert.equal((await backend.users.getUser(target.id)).locked, true);
    await page.getByRole('button', { name: 'Unlock', exact: true }).click();
    await page.getByText('User unlocked.').waitFor();
    assert.equal((await backend.users.getUser(target.id)).locked, false);

    page.once('dialog', (dialog) => dialog.accept());
    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('Session revoked.').waitFor();
    const session = await backend.sessions.getSession(targetSession);
    assert.equal(session.status, 'revoked');
    await page.setViewportSize({ width: 390, height: 844 });
    await shot('dashboard-user-phone');
    await page.setViewportSize({ width: 1280, height: 720 });

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const text = await page.locator('main').innerText();
    for (const action of ['user.locked', 'user.unlocked', 'session.revoked', 'dashboard.write']) {
      assert.match(text, new RegExp(action.replace('.', '\\.')), action);
    }
    await shot('dashboard-audit');
  });
});

test('a forged form without its token changes nothing', async () => {
  await withScreenshotOnFailure(page, 'dashboard-forged', async () => {
    await page.goto(`${latch.url}/dashboard/users/${target.id}`);
    // The browser's own cookie and the marks of a same-origin request, but no form
    // token: as a script planted on another page of this origin might post.
    const forged = await page.context().request.post(`${latch.url}/dashboard/users/${target.id}/ban`, {
      headers: { origin: latch.url, 'sec-fetch-site': 'same-origin' },
      form: { csrf: '0' },
      maxRedirects: 0,
    });
    const status = forged.status();
    assert.equal(status, 403);
    assert.equal((await backend.users.getUser(target.id)).banned, false);

    // A form from another origin: the browser sends the cookie only to its own site
    // (SameSite=Strict), and the Origin check refuses it besides.
    const res = await fetch(`${latch.url}/dashboard/users/${target.id}/ban`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.test' },
      body: 'csrf=0',
      redirect: 'manual',
    });
    assert.ok(res.status === 403 || res.status === 303, `status ${res.status}`);
    assert.equal((await backend.users.getUser(target.id)).banned, false);
  });
});

/** A phone-code sign-in of `phone` on a new native client; resolves to [status, code]. */
async function phoneCodeSignIn(phone) {
  const res = await fetch(`${latch.url}/v1/client/sign_ins?_is_native=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ strategy: 'phone_code', identifier: phone }),
  });
  const body = await res.json();
  return [res.status, body.errors?.[0]?.code ?? body.response?.status];
}

/** Sets the checkbox labelled `label` in the settings' fieldset `group` to `on`. */
async function setSetting(group, label, on) {
  const box = page.locator(`fieldset#${group}`).getByLabel(label, { exact: true });
  if (on) await box.check(); else await box.uncheck();
}

test('an operator turns phone codes off, a sign-in by SMS is refused, and turns them on', async () => {
  await withScreenshotOnFailure(page, 'dashboard-settings', async () => {
    const phone = '+15555550177';
    await backend.users.createUser({ ...newUserParams(), phoneNumber: [phone] });
    assert.deepEqual(await phoneCodeSignIn(phone), [200, 'needs_first_factor']);

    await page.goto(`${latch.url}/dashboard/settings`);
    const codes = 'Codes (sign in with a code; verify by code)';
    await setSetting('phone_number', codes, false);
    await setSetting('phone_number', 'Verified at sign-up', false);
    await setSetting('multi_factor', 'SMS code', false);
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Settings saved').waitFor();
    await shot('dashboard-settings');
    assert.deepEqual(await phoneCodeSignIn(phone), [422, 'strategy_for_user_invalid']);

    // A combination that cannot work is refused beside its field.
    await setSetting('username', 'On', false);
    await page.getByRole('button', { name: 'Save changes' }).click();
    const error = page.locator('#err-username\\.used_for_sign_in');
    await error.waitFor();
    assert.match(await error.innerText(), /username\.enabled/);

    await page.goto(`${latch.url}/dashboard/settings`);
    await setSetting('phone_number', codes, true);
    await setSetting('phone_number', 'Verified at sign-up', true);
    await setSetting('multi_factor', 'SMS code', true);
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Settings saved').waitFor();
    assert.deepEqual(await phoneCodeSignIn(phone), [200, 'needs_first_factor']);
  });
});

test('signing out ends the session', async () => {
  await withScreenshotOnFailure(page, 'dashboard-sign-out', async () => {
    await page.goto(`${latch.url}/dashboard/users`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You have signed out.').waitFor();
    await page.goto(`${latch.url}/dashboard/users`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in');
  });
});
