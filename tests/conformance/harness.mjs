// Shared helpers for the conformance suite: run the latch binary, build Clerk SDK
// clients pointed at it, and small assertion helpers.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHmac, createPublicKey, randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClerkClient } from '@clerk/backend';
import { chromium } from 'playwright-core';

const STARTUP_TIMEOUT_MS = 30_000;
const SHUTDOWN_TIMEOUT_MS = 15_000;

function latchBin() {
  const bin = process.env.LATCH_BIN;
  if (!bin) {
    throw new Error('LATCH_BIN is not set: point it at the latch binary, e.g. LATCH_BIN=/work/main/target/debug/latch');
  }
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(`LATCH_BIN=${bin} is not an executable file`);
  }
  return bin;
}

// LATCH_* variables of the caller's (LATCH_BIN among them) would be read as settings.
function envWithoutLatch() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LATCH_')));
}

/**
 * Starts `latch serve` on a random loopback port with a fresh database.
 * `frontendHost` sets the host encoded in the publishable key (instance.frontend_host).
 * Returns { url, publishableKey, secretKey, env, stop() }: `env` is the settings it runs
 * with (for `runLatch`); stop() resolves to the exit code.
 */
export async function startLatch({ environment = 'development', allowedOrigins = [], frontendHost, env: extraEnv = {} } = {}) {
  const bin = latchBin();
  const dir = await mkdtemp(join(tmpdir(), 'latch-conformance-'));
  const env = envWithoutLatch();
  Object.assign(env, {
    LATCH_SERVER__ADDR: '127.0.0.1:0',
    LATCH_DATABASE__PATH: join(dir, 'latch.db'),
    LATCH_INSTANCE__ENVIRONMENT: environment,
    LATCH_LOG__LEVEL: 'warn',
    // Every request comes from 127.0.0.1: per-IP limits would throttle the
    // suite itself. The Rust suites test the limits.
    LATCH_RATE_LIMITS__CREATE_CLIENT: '0',
    LATCH_RATE_LIMITS__CREATE_SIGN_IN: '0',
    LATCH_RATE_LIMITS__CREATE_SIGN_UP: '0',
    LATCH_RATE_LIMITS__ATTEMPT: '0',
    LATCH_RATE_LIMITS__PREPARE: '0',
    LATCH_RATE_LIMITS__CODES_PER_DESTINATION: '0',
  });
  if (allowedOrigins.length) env.LATCH_SERVER__ALLOWED_ORIGINS = allowedOrigins.join(',');
  if (frontendHost) env.LATCH_INSTANCE__FRONTEND_HOST = frontendHost;
  Object.assign(env, extraEnv);

  let child, exited;
  const killOnExit = () => child?.kill('SIGKILL');
  async function stop() {
    process.off('exit', killOnExit);
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), SHUTDOWN_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
    return exited;
  }

  try {
    const { stdout } = await promisify(execFile)(bin, ['keys'], { env, timeout: STARTUP_TIMEOUT_MS });
    const keys = Object.fromEntries(stdout.trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2)));
    const prefix = environment === 'production' ? 'live' : 'test';
    assert.match(keys.LATCH_PUBLISHABLE_KEY ?? '', new RegExp(`^pk_${prefix}_`), `latch keys printed: ${stdout}`);
    assert.match(keys.LATCH_SECRET_KEY ?? '', new RegExp(`^sk_${prefix}_`), `latch keys printed: ${stdout}`);

    child = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    process.once('exit', killOnExit);
    exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('latch did not print its listening line in time')), STARTUP_TIMEOUT_MS);
      createInterface({ input: child.stdout }).on('line', (line) => {
        const m = /^latch listening on (https?:\/\/\S+)$/.exec(line.trim());
        if (m) {
          clearTimeout(timer);
          resolve(m[1].replace(/\/$/, ''));
        }
      });
      exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`latch serve exited early (${code})`));
      });
    });
    return { url, publishableKey: keys.LATCH_PUBLISHABLE_KEY, secretKey: keys.LATCH_SECRET_KEY, env, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Runs a `latch` command (`['admin', 'grant', email]`) against the instance `startLatch`
 * started, with its settings; resolves to its stdout, rejects if it fails.
 */
export async function runLatch(latch, args) {
  const { stdout } = await promisify(execFile)(latchBin(), args, { env: latch.env, timeout: STARTUP_TIMEOUT_MS });
  return stdout;
}

const psql = (sql) => promisify(execFile)('psql', [
  '-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', sql,
], { timeout: STARTUP_TIMEOUT_MS });
const redisCli = (...args) => promisify(execFile)('redis-cli', ['-h', '127.0.0.1', ...args], { timeout: STARTUP_TIMEOUT_MS });

/**
 * Starts `replicas` latch servers sharing a fresh PostgreSQL database, a Redis key prefix
 * and the settings in `env`, behind a proxy on a random loopback port that sends each
 * request to the next replica in turn, as a load balancer without session affinity would. Returns
 * { url, publishableKey, secretKey, replicas, served, log, stop() }: `url` is the proxy's,
 * `replicas` the replicas' own URLs, `served[i]` how many requests replica i answered,
 * `log` one { method, path, replica } per proxied request. stop() also drops the database
 * and deletes the Redis keys.
 */
export async function startCluster({ replicas: count = 3, env: extraEnv = {} } = {}) {
  const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const database = `latch_conformance_${tag}`;
  const redisPrefix = `latch-conformance:${tag}:`;
  const env = {
    ...extraEnv,
    LATCH_STORAGE__DURABLE: 'postgres',
    LATCH_STORAGE__POSTGRES_URL: `postgres://postgres@127.0.0.1:5432/${database}`,
    LATCH_STORAGE__FLOW_STORE: 'redis',
    LATCH_STORAGE__REDIS_URL: 'redis://127.0.0.1:6379',
    LATCH_STORAGE__REDIS_KEY_PREFIX: redisPrefix,
  };
  const nodes = [];
  const served = [];
  const log = [];
  // Its own agent, so stop() can drop the kept-alive connections before the replicas
  // shut down.
  const agent = new Agent({ keepAlive: true });
  let next = 0;
  const proxy = createServer((req, res) => {
    const replica = next++ % nodes.length;
    log.push({ method: req.method, path: req.url, replica });
    const upstream = request(`${nodes[replica].url}${req.url}`, { method: req.method, headers: req.headers, agent }, (reply) => {
      served[replica]++;
      res.writeHead(reply.statusCode, reply.headers);
      reply.pipe(res);
    });
    upstream.on('error', (err) => (res.headersSent ? res.destroy(err) : res.writeHead(502).end(String(err))));
    req.pipe(upstream);
  });
  async function stop() {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(() => resolve()));
    agent.destroy();
    await Promise.all(nodes.map((node) => node.stop()));
    await psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    // Redis is shared by other runs, and latch's sign-in index there does not expire.
    const keys = (await redisCli('--scan', '--pattern', `${redisPrefix}*`)).stdout.split('\n').filter(Boolean);
    if (keys.length) await redisCli('del', ...keys);
  }

  await psql(`CREATE DATABASE ${database}`);
  try {
    await promisify(execFile)(latchBin(), ['migrate'], { env: { ...envWithoutLatch(), ...env }, timeout: STARTUP_TIMEOUT_MS });
    // Started together, as an orchestrator would: the keys are created once, by
    // whichever replica is first, and read back by the others.
    const started = await Promise.allSettled(Array.from({ length: count }, () => startLatch({ env })));
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    for (const node of nodes) {
      assert.equal(node.secretKey, nodes[0].secretKey, 'latch keys printed another secret key for a replica');
      assert.equal(node.publishableKey, nodes[0].publishableKey, 'latch keys printed another publishable key for a replica');
    }
    served.push(...nodes.map(() => 0));
    await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `http://127.0.0.1:${proxy.address().port}`,
    publishableKey: nodes[0].publishableKey,
    secretKey: nodes[0].secretKey,
    replicas: nodes.map((node) => node.url),
    served,
    log,
    stop,
  };
}

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) of the base32 `secret` for `step`. */
export function totp(secret, step) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[19] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** The TOTP time step of now. */
export const currentStep = () => Math.floor(Date.now() / 30_000);

/** @clerk/backend client talking to latch's Backend API. */
export function backendClient(latch) {
  return createClerkClient({ secretKey: latch.secretKey, apiUrl: latch.url });
}

let freshModules = 0;

/**
 * A loaded headless clerk-js instance in native mode: the client token travels in the
 * `authorization` header with `_is_native=1`, as Clerk's mobile SDKs do. clerk-js keeps
 * module-level state (one Client per module), so use one instance per test file, or pass
 * `fresh: true` to load it from a module instance of its own (a new copy of clerk-js's
 * self-contained bundle), for a test file that talks to several latches.
 */
export async function loadNodeClerk(latch, { fresh = false } = {}) {
  // clerk-js creates a BroadcastChannel at import; unref it so the process can exit.
  const RealBroadcastChannel = globalThis.BroadcastChannel;
  if (!RealBroadcastChannel.unrefs) {
    globalThis.BroadcastChannel = class extends RealBroadcastChannel {
      static unrefs = true;
      constructor(name) {
        super(name);
        this.unref();
      }
    };
  }
  // A `window` left by an earlier instance (see below) would make clerk-js load as in a
  // browser.
  if (globalThis.window === globalThis) delete globalThis.window;
  const { Clerk } = await import(fresh
    ? `${import.meta.resolve('@clerk/clerk-js')}?instance=${++freshModules}`
    : '@clerk/clerk-js');
  const clerk = new Clerk(latch.publishableKey, { proxyUrl: latch.url });
  let clientToken = '';
  clerk.__internal_onBeforeRequest((request) => {
    assert.equal(request.url.origin, latch.url, `clerk-js tried to reach ${request.url}`);
    request.url.searchParams.set('_is_native', '1');
    request.headers.set('authorization', clientToken);
  });
  clerk.__internal_onAfterResponse((_request, response) => {
    const token = response?.headers.get('authorization');
    if (token) clientToken = token;
  });
  await clerk.load({ standardBrowser: false, telemetry: false });
  // signOut() touches `window` once the request has succeeded.
  globalThis.window ??= globalThis;
  return clerk;
}

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const CLERK_DIST = fileURLToPath(new URL('./node_modules/@clerk/clerk-js/dist/', import.meta.url));
// @clerk/ui's browser bundle and its chunks, extracted by setup.sh.
const CLERK_UI_DIST = fileURLToPath(new URL('./vendor/clerk-ui/dist/', import.meta.url));

/**
 * Serves the test page on a random loopback port, clerk-js's dist folder under /clerk/
 * and @clerk/ui's under /clerk-ui/ (each bundle loads its chunks from next to itself).
 * The page loads clerk.browser.js with `pageConfig.publishableKey` and
 * `pageConfig.proxyUrl`, read at each request, so the page's origin can be known before
 * latch starts. `/ui` (and any path under `/ui/`) is the same page with ui.browser.js too
 * (which sets `window.__internal_ClerkUICtor`, to be passed as `Clerk.load({ ui: { ClerkUI
 * } })`) and an empty `<div id="app">` to mount components in; any other path (such as an
 * OAuth flow's `/sso-callback` and `/done`) is the page without them. Returns { server,
 * origin }.
 */
export async function startPageServer(pageConfig) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const m = /^\/(clerk|clerk-ui)\/([\w.-]+\.js)$/.exec(path);
    if (m) {
      try {
        const body = await readFile((m[1] === 'clerk' ? CLERK_DIST : CLERK_UI_DIST) + m[2]);
        // Pages of other origins (a Next.js application) load them with crossorigin="anonymous".
        res.writeHead(200, { 'content-type': 'text/javascript', 'access-control-allow-origin': '*' });
        return res.end(body);
      } catch {}
    }
    if (m || /^\/(clerk|clerk-ui)\//.test(path) || path === '/favicon.ico') return res.writeHead(404).end();
    const ui = path === '/ui' || path.startsWith('/ui/');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    return res.end(`<!doctype html><html><head><title>latch conformance</title>
<script src="/clerk/clerk.browser.js" data-clerk-publishable-key="${pageConfig.publishableKey}"
  data-clerk-proxy-url="${pageConfig.proxyUrl}"></script>${ui ? '\n<script src="/clerk-ui/ui.browser.js"></script>' : ''}
</head><body>${ui ? '<div id="app"></div>' : ''}</body></html>`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

/** Asserts that setup.sh extracted @clerk/ui's browser bundle. */
export function assertClerkUiInstalled() {
  assert.ok(existsSync(CLERK_UI_DIST + 'ui.browser.js'),
    `${CLERK_UI_DIST}ui.browser.js is missing: run tests/conformance/setup.sh`);
}

// Where withScreenshotOnFailure writes; LATCH_CONFORMANCE_ARTIFACTS overrides it.
const ARTIFACTS_DIR = process.env.LATCH_CONFORMANCE_ARTIFACTS
  ?? fileURLToPath(new URL('../../target/conformance-artifacts/', import.meta.url));

/**
 * Runs `fn()`; if it throws, saves a full-page screenshot and the page's HTML as
 * `<artifacts>/<name>.png` and `<artifacts>/<name>.html`, prints their paths, and rethrows.
 */
export async function withScreenshotOnFailure(page, name, fn) {
  try {
    return await fn();
  } catch (err) {
    const base = join(ARTIFACTS_DIR, name.replace(/[^\w.-]+/g, '_'));
    try {
      await mkdir(ARTIFACTS_DIR, { recursive: true });
      await page.screenshot({ path: `${base}.png`, fullPage: true, timeout: 10_000 });
      await writeFile(`${base}.html`, await page.content());
      console.error(`[artifacts] ${name} failed: ${base}.png, ${base}.html`);
    } catch (saveErr) {
      console.error(`[artifacts] ${name} failed, and saving the page to ${base}.* failed too: ${saveErr}`);
    }
    throw err;
  }
}

/**
 * Headless Chromium with one context whose requests to any host but 127.0.0.1 (or those
 * of `hosts`, all loopback names) are refused and listed in `blocked`. `ignoreHTTPSErrors`
 * makes its contexts accept any certificate (such as one of a test's own CA). Returns
 * { browser, context, blocked, newContext }.
 */
export async function launchBrowser({ hosts = ['127.0.0.1'], ignoreHTTPSErrors = false } = {}) {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run tests/conformance/setup.sh as root`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  // Nothing may leave the machine.
  const blocked = [];
  /** Another context (no cookies shared with the others), held to the same rule. */
  async function newContext() {
    const context = await browser.newContext({ ignoreHTTPSErrors });
    await context.route((url) => !hosts.includes(url.hostname), (route) => {
      blocked.push(route.request().url());
      return route.abort();
    });
    return context;
  }
  const context = await newContext();
  return { browser, context, blocked, newContext };
}

/**
 * A private certificate authority and a server certificate it signed for 127.0.0.1 and
 * localhost (EC P-256, valid for a day), made with the `openssl` command line tool in a
 * temporary directory. Returns { caCert, serverCert, serverKey } (paths) and remove().
 */
export async function generateTestPki() {
  const dir = await mkdtemp(join(tmpdir(), 'latch-pki-'));
  const openssl = (...args) => promisify(execFile)('openssl', args, { cwd: dir, timeout: STARTUP_TIMEOUT_MS });
  await openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Latch conformance CA',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  await openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  await writeFile(join(dir, 'server.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '',
  ].join('\n'));
  await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-CAcreateserial', '-days', '1', '-extfile', 'server.ext', '-out', 'server.pem');
  return {
    caCert: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * A plain-TCP listener on loopback that relays each connection over TLS to `target` (an
 * https URL) trusting the certificate authority `ca` (PEM): this process's own fetch
 * (which trusts only the system's authorities) reaches an HTTPS latch at the returned
 * `url` (http). Returns { url, close() }.
 */
export async function tlsRelay(target, ca) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  const server = createNetServer((plain) => {
    const secure = tlsConnect({ host: hostname, port: Number(port), ca, servername: isIP(hostname) ? undefined : hostname });
    for (const s of [plain, secure]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => { plain.destroy(); secure.destroy(); });
    }
    plain.pipe(secure).pipe(plain);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * An HTTPS listener on loopback with `cert` and `key` (PEM) in front of the plain HTTP
 * server on `port`, as a TLS-terminating load balancer: each request goes on with
 * `X-Forwarded-Proto: https` and `X-Forwarded-Host`. Returns { origin, close() }.
 */
export async function httpsFront(port, { cert, key }) {
  const agent = new Agent({ keepAlive: true });
  const server = createHttpsServer({ cert, key }, (req, res) => {
    const headers = { ...req.headers, 'x-forwarded-proto': 'https', 'x-forwarded-host': req.headers.host };
    const upstream = request({ host: '127.0.0.1', port, path: req.url, method: req.method, headers, agent }, (reply) => {
      res.writeHead(reply.statusCode, reply.headers);
      reply.pipe(res);
    });
    upstream.on('error', (err) => (res.headersSent ? res.destroy(err) : res.writeHead(502).end(String(err))));
    req.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `https://127.0.0.1:${server.address().port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}

/** The JWK latch serves at GET /v1/jwks, as a PEM public key. */
export async function publicKeyPem(latch) {
  const res = await fetch(`${latch.url}/v1/jwks`, { headers: { authorization: `Bearer ${latch.secretKey}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const { keys } = await res.json();
  assert.equal(keys.length, 1);
  return createPublicKey({ key: keys[0], format: 'jwk' }).export({ type: 'spki', format: 'pem' });
}

/** A fresh user's createUser params. */
export function newUserParams() {
  const tag = randomBytes(5).toString('hex');
  return {
    emailAddress: [`user-${tag}@example.com`],
    username: `user_${tag}`,
    password: `pw-${randomBytes(12).toString('base64url')}`,
  };
}

/** Awaits a rejection that is a ClerkAPIResponseError with this code and status. */
export async function rejectsWithCode(promise, code, status = 422) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.clerkError, true, `expected a ClerkAPIResponseError, got ${err}`);
    assert.equal(err.errors?.[0]?.code, code);
    assert.equal(err.status, status);
    return true;
  });
}

/** The claims of a JWT, without verifying it. */
export function jwtClaims(jwt) {
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, 'not a JWT');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString());
}

/**
 * A loopback HTTP receiver for latch's `http` code sender: collects the JSON
 * messages it is sent. Returns { url, nextCode(to), close() }.
 */
export async function startCodeReceiver() {
  const { createServer } = await import('node:http');
  const messages = [];
  const waiting = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      messages.push(JSON.parse(body));
      res.writeHead(200).end();
      waiting.splice(0).forEach((wake) => wake());
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/codes`;
  /** The next code sent to `to` (waits up to 10 s). */
  async function nextCode(to) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const i = messages.findIndex((m) => m.to === to);
      if (i >= 0) return messages.splice(i, 1)[0].code;
      assert.ok(Date.now() < deadline, `no code was sent to ${to}`);
      await new Promise((resolve) => { waiting.push(resolve); setTimeout(resolve, 200); });
    }
  }
  return { url, nextCode, close: () => new Promise((resolve) => server.close(resolve)) };
}

/**
 * Signs up in the page through `window.Clerk.client.signUp` with an email address and a
 * password, the email code taken from `receiver`, then makes the new session active.
 * Returns { started, prepared, done } where `started` is the sign-up after create,
 * `prepared` after prepareEmailAddressVerification, and `done` { status, userId,
 * sessionId, activeId, token } after attemptEmailAddressVerification, setActive and
 * getToken.
 */
export async function signUpInPage(page, receiver, { emailAddress, password }) {
  const { started, prepared } = await page.evaluate(async (params) => {
    const pick = (s) => ({
      id: s.id, status: s.status, emailAddress: s.emailAddress, missingFields: s.missingFields,
      unverifiedFields: s.unverifiedFields, emailVerification: s.verifications.emailAddress.status,
      emailStrategy: s.verifications.emailAddress.strategy,
    });
    const signUp = await window.Clerk.client.signUp.create(params);
    const started = pick(signUp);
    const prepared = pick(await signUp.prepareEmailAddressVerification({ strategy: 'email_code' }));
    return { started, prepared };
  }, { emailAddress, password });
  const code = await receiver.nextCode(emailAddress);
  const done = await page.evaluate(async (code) => {
    const signUp = await window.Clerk.client.signUp.attemptEmailAddressVerification({ code });
    await window.Clerk.setActive({ session: signUp.createdSessionId });
    return {
      status: signUp.status,
      userId: signUp.createdUserId,
      sessionId: signUp.createdSessionId,
      activeId: window.Clerk.session?.id ?? null,
      token: await window.Clerk.session.getToken(),
    };
  }, code);
  return { started, prepared, done };
}

/** latch settings that send codes to `receiver` (startCodeReceiver) through the `http` sender. */
export function httpCodeSender(receiver) {
  return {
    LATCH_CODES__SENDER: 'http',
    LATCH_CODES__HTTP_URL: receiver.url,
    LATCH_CODES__HTTP_SECRET: 'conformance shared secret',
  };
}

/** A port free right now on loopback. */
export async function freePort() {
  const server = createNetServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const OIDC_PROVIDER = fileURLToPath(new URL('../../crates/testkit/oidc/provider.mjs', import.meta.url));

/**
 * Starts a real OpenID Connect provider (`oidc-provider`, installed by
 * crates/testkit/oidc/setup.sh) with these settings (see provider.mjs); it logs in
 * whoever names one of `accounts` by its `sub`, with any password. Resolves to
 * { issuer, stop }.
 */
export async function startProvider(settings) {
  const child = spawn(process.execPath, [OIDC_PROVIDER, JSON.stringify(settings)], {
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
 * A latch with the OpenID Connect provider `custom_acme` (an oidc-provider started
 * here, which knows `accounts`): latch listens on a port chosen first, so its callback
 * (`LATCH_OAUTH__CALLBACK_URL`) can be registered with the provider. Other options go to
 * startLatch. Returns the latch with `idp` ({ issuer, stop }) and `stop()` stopping both.
 */
export async function startOAuthLatch({ accounts, env = {}, ...options }) {
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/v1/oauth_callback`;
  const clientId = `latch-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const idp = await startProvider({ clientId, clientSecret, redirectUris: [callback], accounts });
  let latch;
  try {
    latch = await startLatch({
      ...options,
      env: {
        LATCH_SERVER__ADDR: `127.0.0.1:${port}`,
        LATCH_OAUTH__CALLBACK_URL: callback,
        LATCH_OAUTH__PROVIDERS__CUSTOM_ACME__ISSUER_URL: idp.issuer,
        LATCH_OAUTH__PROVIDERS__CUSTOM_ACME__CLIENT_ID: clientId,
        LATCH_OAUTH__PROVIDERS__CUSTOM_ACME__CLIENT_SECRET: clientSecret,
        ...env,
      },
    });
  } catch (err) {
    idp.stop();
    throw err;
  }
  return {
    ...latch,
    idp,
    async stop() {
      const code = await latch.stop();
      idp.stop();
      return code;
    },
  };
}

/**
 * What a browser does from the provider's authorize URL, with fetch: follow redirects,
 * keep cookies, log in as `login` and consent on the provider's pages, until a redirect
 * leaves for a URL starting with `until`. Returns that URL.
 */
export async function browse(start, login, until) {
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

/**
 * In a Playwright page on the provider (`issuer`): log in as `login` and consent on
 * its pages, as a person would, until the page has left the provider.
 */
export async function loginAtProvider(page, issuer, login) {
  for (let step = 0; step < 5; step++) {
    await page.waitForLoadState('domcontentloaded');
    if (new URL(page.url()).origin !== issuer) return;
    const prompt = await page.locator('input[name="prompt"]').getAttribute('value', { timeout: 10_000 });
    if (prompt === 'login') {
      await page.locator('input[name="login"]').fill(login);
      await page.locator('input[name="password"]').fill('any password');
    }
    const before = page.url();
    await Promise.all([
      page.waitForURL((url) => url.href !== before, { waitUntil: 'domcontentloaded' }),
      page.locator('button[type="submit"]').first().click(),
    ]);
  }
  assert.notEqual(new URL(page.url()).origin, issuer, `still at the provider: ${page.url()}`);
}

/**
 * Records the Frontend API requests a page makes to latch: { method, path, body, status,
 * error } (method from `_method` when clerk-js tunnels it, body as the form's fields,
 * error the first of the errors of an answer of 400 and above).
 */
export function recordFapi(page, latchUrl) {
  const requests = [];
  page.on('response', async (res) => {
    const req = res.request();
    const url = new URL(req.url());
    if (url.origin !== latchUrl) return;
    let body = {};
    try {
      body = Object.fromEntries(new URLSearchParams(req.postData() ?? ''));
    } catch {}
    const entry = {
      method: url.searchParams.get('_method') ?? req.method(),
      path: url.pathname,
      body,
      status: res.status(),
      error: null,
    };
    requests.push(entry);
    if (entry.status >= 400) {
      try {
        entry.error = (await res.json()).errors?.[0] ?? null;
      } catch {}
    }
  });
  return requests;
}
