// clerk-js and Clerk's prebuilt screens loaded from latch itself, as Clerk's SDKs load them
// from a Frontend API host: `<script crossorigin="anonymous">` tags for
// /npm/@clerk/clerk-js@6/dist/clerk.browser.js and /npm/@clerk/ui@1/dist/ui.browser.js on a
// page from another origin, then Clerk.load with the screens and <SignIn/> mounted. Every
// chunk either bundle loads comes from latch, under its exact version.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { launchBrowser, startLatch, withScreenshotOnFailure } from './harness.mjs';

let pageServer, pageOrigin, latch, browser, page, blocked;
/** Every answer to a script request, as a promise of { url, status, encoding, cors }. */
const answers = [];

before(async () => {
  const config = {};
  pageServer = createServer((req, res) => {
    if (new URL(req.url, 'http://x').pathname !== '/') return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><head><title>scripts from latch</title>
<script src="${config.latch}/npm/@clerk/clerk-js@6/dist/clerk.browser.js" crossorigin="anonymous"
  data-clerk-publishable-key="${config.publishableKey}" data-clerk-proxy-url="${config.latch}"></script>
<script src="${config.latch}/npm/@clerk/ui@1/dist/ui.browser.js" crossorigin="anonymous"></script>
</head><body><div id="app"></div></body></html>`);
  });
  await new Promise((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
  latch = await startLatch({ environment: 'production', allowedOrigins: [pageOrigin] });
  Object.assign(config, { latch: latch.url, publishableKey: latch.publishableKey });

  let context;
  ({ browser, context, blocked } = await launchBrowser());
  page = await context.newPage();
  page.on('pageerror', (err) => console.error('[page error]', err));
  page.on('response', (res) => {
    if (res.request().resourceType() !== 'script') return;
    answers.push(res.allHeaders().then((headers) => ({
      url: res.url(),
      status: res.status(),
      encoding: headers['content-encoding'] ?? null,
      cors: headers['access-control-allow-origin'] ?? null,
    })));
  });
});

after(async () => {
  await browser?.close();
  await latch?.stop();
  pageServer?.close();
});

test('clerk.browser.js and ui.browser.js from latch load, and <SignIn/> renders', async () => {
  await withScreenshotOnFailure(page, 'scripts-from-latch', async () => {
    await page.goto(pageOrigin);
    const loaded = await page.evaluate(async () => {
      await window.Clerk.load({ ui: { ClerkUI: window.__internal_ClerkUICtor }, telemetry: false });
      window.Clerk.mountSignIn(document.getElementById('app'));
      return { loaded: window.Clerk.loaded, version: window.Clerk.version };
    });
    assert.deepEqual(loaded, { loaded: true, version: '6.40.0' });
    // The form is drawn, which needs the screens' chunks.
    await page.getByLabel(/^Email address/).waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Continue', exact: true }).waitFor();
    // clerk-js loads its own chunks on demand: the password-strength library, as the
    // screens ask for it on a password field, comes from clerk-js's folder.
    const zxcvbn = await page.evaluate(async () => {
      const core = await window.Clerk.__internal_moduleManager.import('@zxcvbn-ts/core');
      return typeof core?.zxcvbn;
    });
    assert.equal(zxcvbn, 'function');
  });

  const scripts = await Promise.all(answers);
  const paths = scripts.map((s) => new URL(s.url));
  // Nothing but latch served a script, and nothing left the machine.
  assert.deepEqual(paths.filter((u) => u.origin !== latch.url).map(String), []);
  assert.deepEqual(blocked, []);
  // Every script answered 200, compressed, readable by a crossorigin tag.
  for (const s of scripts) {
    assert.equal(s.status, 200, s.url);
    assert.equal(s.cors, '*', s.url);
    assert.equal(s.encoding, 'gzip', s.url);
  }
  const names = paths.map((u) => u.pathname);
  assert.ok(names.includes('/npm/@clerk/clerk-js@6/dist/clerk.browser.js'), names.join('\n'));
  assert.ok(names.includes('/npm/@clerk/ui@1/dist/ui.browser.js'), names.join('\n'));
  // The chunks come from each bundle's own folder, the version pinned.
  const clerkChunks = names.filter((n) => /^\/npm\/@clerk\/clerk-js@6\.40\.0\/dist\/[\w.-]+_clerk\.browser_a68c22_6\.40\.0\.js$/.test(n));
  const uiChunks = names.filter((n) => /^\/npm\/@clerk\/ui@1\.36\.0\/dist\/[\w.-]+_ui_58d0c7_1\.36\.0\.js$/.test(n));
  assert.ok(clerkChunks.length > 0, names.join('\n'));
  assert.ok(uiChunks.includes('/npm/@clerk/ui@1.36.0/dist/signin_ui_58d0c7_1.36.0.js'), names.join('\n'));
  assert.equal(clerkChunks.length + uiChunks.length + 2, names.length, names.join('\n'));
});
