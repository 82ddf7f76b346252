// Latch's hosted pages (as Clerk's Account Portal): an application with no sign-in page of
// its own sends the browser to latch's /sign-in with a redirect_url; Clerk's prebuilt
// screens, served by latch with the instance's key, sign the user in there, and the
// browser goes back to the application, signed in at latch.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  backendClient, launchBrowser, newUserParams, startLatch, startPageServer, withScreenshotOnFailure,
} from './harness.mjs';

let pageServer, pageOrigin, latch, browser, page, params;
/** Answers of 400 and above from latch, as 'METHOD /path -> status'. */
const refused = [];

before(async () => {
  const pageConfig = {};
  ({ server: pageServer, origin: pageOrigin } = await startPageServer(pageConfig));
  latch = await startLatch({ environment: 'production', allowedOrigins: [pageOrigin] });
  Object.assign(pageConfig, { publishableKey: latch.publishableKey, proxyUrl: latch.url });
  params = newUserParams();
  await backendClient(latch).users.createUser(params);
  let context;
  ({ browser, context } = await launchBrowser());
  page = await context.newPage();
  page.on('pageerror', (err) => console.error('[page error]', err));

  page.on('response', (res) => {
    const url = new URL(res.url());
    if (url.origin === latch.url && res.status() >= 400) {
      refused.push(`${res.request().method()} ${url.pathname} -> ${res.status()}`);
    }
  });
});

after(async () => {
  await browser?.close();
  await latch?.stop();
  pageServer?.close();
});

test('the hosted /sign-in signs a user in and sends the browser back to the application', async () => {
  await withScreenshotOnFailure(page, 'hosted-sign-in', async () => {
    const back = `${pageOrigin}/done?from=hosted`;
    await page.goto(`${latch.url}/sign-in?redirect_url=${encodeURIComponent(back)}`);
    await page.getByLabel(/^Email address/).fill(params.emailAddress[0]);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await page.getByLabel('Password', { exact: true }).fill(params.password);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await page.waitForURL(back, { timeout: 20_000 });
    // Signed in at latch: its client holds an active session.
    const cookies = await page.context().cookies(latch.url);
    const client = cookies.find((c) => c.name === '__client');
    assert.ok(client, 'the browser holds latch\'s client cookie');
    const res = await fetch(`${latch.url}/v1/client`, { headers: { cookie: `__client=${client.value}` } });
    const body = await res.json();
    assert.equal(body.response.sessions.length, 1);
    assert.equal(body.response.sessions[0].user.email_addresses[0].email_address, params.emailAddress[0]);
  });
});

test('signed in, the hosted /user shows the account', async () => {
  await withScreenshotOnFailure(page, 'hosted-user', async () => {
    await page.goto(`${latch.url}/user`);
    await page.getByText(params.emailAddress[0]).first().waitFor({ timeout: 20_000 });
    assert.equal(new URL(page.url()).pathname, '/user');
  });
});

test('a redirect_url off the allowed origins is not followed', async () => {
  const res = await fetch(`${latch.url}/sign-in?redirect_url=${encodeURIComponent('https://evil.example/')}`);
  const html = await res.text();
  assert.equal(res.status, 200);
  assert.ok(!html.includes('evil.example'));
});

test('latch refused none of the page\'s requests', () => {
  assert.deepEqual(refused, []);
});
