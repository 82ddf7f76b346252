// Clerk's prebuilt <SignIn/> follows the instance's runtime settings: phone sign-in turned
// off through the Backend API, the screen offers no phone field after a reload; turned back
// on, it offers one again. No restart in between.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  assertClerkUiInstalled, launchBrowser, startLatch, startPageServer, withScreenshotOnFailure,
} from './harness.mjs';

let pageServer, pageOrigin, latch, browser, page;
const pageConfig = {};

before(async () => {
  assertClerkUiInstalled();
  ({ server: pageServer, origin: pageOrigin } = await startPageServer(pageConfig));
  latch = await startLatch({ environment: 'production', allowedOrigins: [pageOrigin] });
  Object.assign(pageConfig, { publishableKey: latch.publishableKey, proxyUrl: latch.url });
  let context;
  ({ browser, context } = await launchBrowser());
  page = await context.newPage();
  page.on('pageerror', (err) => console.error('[page error]', err));
});

after(async () => {
  await browser?.close();
  await latch?.stop();
  pageServer?.close();
});

/** PATCH /v1/instance/user_management with `patch`; returns the settings answered. */
async function changeSettings(patch) {
  const res = await fetch(`${latch.url}/v1/instance/user_management`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${latch.secretKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(patch),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.settings;
}

/** Loads the page afresh and mounts <SignIn/>; resolves once its first field shows. */
async function mountSignIn() {
  await page.goto(`${pageOrigin}/ui`);
  await page.evaluate(async () => {
    await window.Clerk.load({ ui: { ClerkUI: window.__internal_ClerkUICtor }, telemetry: false });
    window.Clerk.mountSignIn(document.getElementById('app'));
  });
  await page.getByRole('button', { name: 'Continue', exact: true }).waitFor();
}

test('<SignIn/> drops and restores the phone field as phone sign-in is turned off and on', async () => {
  await withScreenshotOnFailure(page, 'ui-settings', async () => {
    await mountSignIn();
    await page.getByRole('link', { name: 'Use phone' }).waitFor();

    const off = await changeSettings({ phone_number: { used_for_sign_in: false } });
    assert.equal(off.phone_number.used_for_sign_in, false);
    await mountSignIn();
    await page.getByLabel(/^Email address/).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Use phone' }).count(), 0,
      'no way to switch to a phone number');
    assert.equal(await page.getByLabel(/^Phone number/).count(), 0, 'no phone field');

    await changeSettings({ phone_number: { used_for_sign_in: true } });
    await mountSignIn();
    await page.getByRole('link', { name: 'Use phone' }).click();
    await page.getByLabel(/^Phone number/).waitFor();
  });
});
