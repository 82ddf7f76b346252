// An instance moved from SQLite to PostgreSQL with `latch copy --to postgres`:
// clerk-js signs its users in on the PostgreSQL instance, by password and by
// password and TOTP, with the same keys.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  backendClient, currentStep, loadNodeClerk, newTotpSecret, newUserParams, psql, redisCli,
  runLatch, startLatch, totp,
} from './harness.mjs';

const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
const database = `latch_copy_${tag}`;
const redisPrefix = `latch-copy:${tag}:`;
let sqlite, postgres, clerk;
const plain = newUserParams();
const twoFactor = { ...newUserParams(), secret: newTotpSecret() };
const ids = {};

before(async () => {
  sqlite = await startLatch();
  const backend = backendClient(sqlite);
  ids.plain = (await backend.users.createUser(plain)).id;
  ids.twoFactor = (await backend.users.createUser({ ...twoFactor, totpSecret: twoFactor.secret })).id;
  await psql(`CREATE DATABASE ${database}`);
  const url = `postgres://postgres@127.0.0.1:5432/${database}`;
  // A consistent snapshot, read while the SQLite instance still serves.
  const said = await runLatch(sqlite, ['copy', '--to', 'postgres', '--postgres-url', url]);
  assert.match(said, /users: \d+ rows, digest ok/);
  postgres = await startLatch({
    env: {
      LATCH_STORAGE__DURABLE: 'postgres',
      LATCH_STORAGE__POSTGRES_URL: url,
      LATCH_STORAGE__FLOW_STORE: 'redis',
      LATCH_STORAGE__REDIS_URL: 'redis://127.0.0.1:6379',
      LATCH_STORAGE__REDIS_KEY_PREFIX: redisPrefix,
    },
  });
  clerk = await loadNodeClerk(postgres);
});

after(async () => {
  await postgres?.stop();
  await sqlite?.stop();
  await psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  const keys = (await redisCli('--scan', '--pattern', `${redisPrefix}*`)).stdout.split('\n').filter(Boolean);
  if (keys.length) await redisCli('del', ...keys);
});

test('the PostgreSQL instance has the SQLite instance\'s keys', () => {
  assert.equal(postgres.secretKey, sqlite.secretKey);
  assert.equal(postgres.publishableKey, sqlite.publishableKey);
});

test('a copied user signs in with their password', async () => {
  const signIn = await clerk.client.signIn.create({ identifier: plain.emailAddress[0], password: plain.password });
  assert.equal(signIn.status, 'complete');
  await clerk.setActive({ session: signIn.createdSessionId });
  assert.equal(clerk.user?.id, ids.plain);
  await clerk.signOut();
});

test('a copied user signs in with their password and authenticator app', async () => {
  const signIn = await clerk.client.signIn.create({
    identifier: twoFactor.emailAddress[0], password: twoFactor.password,
  });
  assert.equal(signIn.status, 'needs_second_factor');
  const done = await signIn.attemptSecondFactor({ strategy: 'totp', code: totp(twoFactor.secret, currentStep()) });
  assert.equal(done.status, 'complete');
  await clerk.setActive({ session: done.createdSessionId });
  assert.equal(clerk.user?.id, ids.twoFactor);
  assert.equal(clerk.user?.twoFactorEnabled, true);
  await clerk.signOut();
});
