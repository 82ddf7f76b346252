// Sign-up with clerk-js (Node, native mode) against latches configured through
// LATCH_SIGN_UP__* variables; codes are read from what latch's `http` code sender
// delivered to a receiver this test runs, and the users made are read back with
// @clerk/backend. Each latch gets its own clerk-js (a fresh module instance).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  backendClient, httpCodeSender, jwtClaims, loadNodeClerk, newUserParams, rejectsWithCode, startCodeReceiver,
  startLatch,
} from './harness.mjs';

let receiver;

before(async () => {
  receiver = await startCodeReceiver();
});

after(async () => {
  await receiver?.close();
});

/** Starts a latch with these [sign_up] settings (LATCH_SIGN_UP__<KEY>), codes sent to the receiver. */
async function startSignUpLatch(signUp = {}) {
  const env = httpCodeSender(receiver);
  for (const [key, value] of Object.entries(signUp)) env[`LATCH_SIGN_UP__${key.toUpperCase()}`] = String(value);
  const latch = await startLatch({ env });
  return { latch, backend: backendClient(latch), clerk: await loadNodeClerk(latch, { fresh: true }) };
}

const tag = () => randomBytes(5).toString('hex');
const password = () => `pw-${randomBytes(12).toString('base64url')}`;

/** setActive on the sign-up's session; its token names the new user. */
async function activate(clerk, signUp) {
  assert.equal(signUp.status, 'complete');
  assert.match(signUp.createdSessionId ?? '', /^sess_/);
  assert.match(signUp.createdUserId ?? '', /^user_/);
  assert.ok(clerk.client.sessions.some((s) => s.id === signUp.createdSessionId), 'the session is on the client');
  await clerk.setActive({ session: signUp.createdSessionId });
  assert.equal(clerk.session?.id, signUp.createdSessionId);
  assert.equal(clerk.user?.id, signUp.createdUserId);
  const claims = jwtClaims(await clerk.session.getToken());
  assert.equal(claims.sub, signUp.createdUserId);
  assert.equal(claims.sid, signUp.createdSessionId);
}

describe('default settings: email address, password and an email code', () => {
  let latch, backend, clerk;
  before(async () => ({ latch, backend, clerk } = await startSignUpLatch()));
  after(async () => latch?.stop());

  test('create, prepare and attempt the email code; the user exists with the address verified', async () => {
    const email = `new-${tag()}@example.com`;
    let signUp = await clerk.client.signUp.create({ emailAddress: email, password: password() });
    assert.match(signUp.id ?? '', /^sua_/);
    assert.equal(signUp.status, 'missing_requirements');
    assert.equal(signUp.emailAddress, email);
    assert.equal(signUp.hasPassword, true);
    assert.deepEqual(signUp.missingFields, []);
    assert.deepEqual(signUp.unverifiedFields, ['email_address']);
    assert.equal(signUp.createdSessionId, null);

    signUp = await signUp.prepareEmailAddressVerification({ strategy: 'email_code' });
    assert.equal(signUp.verifications.emailAddress.status, 'unverified');
    assert.equal(signUp.verifications.emailAddress.strategy, 'email_code');
    const code = await receiver.nextCode(email);
    assert.match(code, /^\d{6}$/);

    signUp = await clerk.client.signUp.attemptEmailAddressVerification({ code });
    assert.equal(signUp.verifications.emailAddress.status, 'verified');
    assert.deepEqual(signUp.unverifiedFields, []);
    await activate(clerk, signUp);
    assert.equal(clerk.user.primaryEmailAddress?.emailAddress, email);

    const user = await backend.users.getUser(signUp.createdUserId);
    assert.equal(user.primaryEmailAddress?.emailAddress, email);
    assert.equal(user.primaryEmailAddress?.verification?.status, 'verified');
    assert.equal(user.passwordEnabled, true);
    const { data } = await backend.users.getUserList({ emailAddress: [email] });
    assert.deepEqual(data.map((u) => u.id), [signUp.createdUserId]);
    await clerk.signOut();
    assert.equal(clerk.session, null);
  });

  test('an email address a user already has is form_identifier_exists on email_address', async () => {
    const params = newUserParams();
    await backend.users.createUser(params);
    const attempt = clerk.client.signUp.create({ emailAddress: params.emailAddress[0], password: password() });
    await rejectsWithCode(attempt, 'form_identifier_exists');
    const err = await attempt.catch((e) => e);
    assert.equal(err.errors[0].meta?.paramName, 'email_address');
  });
});

describe('phone number required, email address and password not: an SMS code', () => {
  let latch, backend, clerk;
  before(async () => ({ latch, backend, clerk } = await startSignUpLatch({
    require_email_address: false, require_phone_number: true, require_password: false,
  })));
  after(async () => latch?.stop());

  test('create, prepare and attempt the phone code; the user exists with the number verified', async () => {
    // Not +1 XXX 555 01XX, which are development test numbers.
    const phone = `+1415555${String(2000 + Math.floor(Math.random() * 8000))}`;
    let signUp = await clerk.client.signUp.create({ phoneNumber: phone });
    assert.equal(signUp.status, 'missing_requirements');
    assert.equal(signUp.phoneNumber, phone);
    assert.deepEqual(signUp.missingFields, []);
    assert.deepEqual(signUp.unverifiedFields, ['phone_number']);

    signUp = await signUp.preparePhoneNumberVerification({ strategy: 'phone_code' });
    assert.equal(signUp.verifications.phoneNumber.strategy, 'phone_code');
    const code = await receiver.nextCode(phone);
    signUp = await clerk.client.signUp.attemptPhoneNumberVerification({ code });
    assert.equal(signUp.verifications.phoneNumber.status, 'verified');
    await activate(clerk, signUp);

    const user = await backend.users.getUser(signUp.createdUserId);
    assert.equal(user.primaryPhoneNumber?.phoneNumber, phone);
    assert.equal(user.primaryPhoneNumber?.verification?.status, 'verified');
    assert.equal(user.passwordEnabled, false);
    assert.deepEqual(user.emailAddresses, []);
    await clerk.signOut();
  });
});

describe('username required, email address not: username, password and optional names', () => {
  let latch, backend, clerk;
  before(async () => ({ latch, backend, clerk } = await startSignUpLatch({
    require_email_address: false, require_username: true,
  })));
  after(async () => latch?.stop());

  test('create completes at once; the user signs in again with the username', async () => {
    const username = `new_${tag()}`;
    const secret = password();
    const signUp = await clerk.client.signUp.create({ username, password: secret, firstName: 'Ada', lastName: 'Lovelace' });
    assert.equal(signUp.username, username);
    assert.equal(signUp.firstName, 'Ada');
    assert.equal(signUp.lastName, 'Lovelace');
    await activate(clerk, signUp);

    const user = await backend.users.getUser(signUp.createdUserId);
    assert.equal(user.username, username);
    assert.equal(user.firstName, 'Ada');
    assert.equal(user.lastName, 'Lovelace');
    assert.equal(user.passwordEnabled, true);
    await clerk.signOut();

    const signIn = await clerk.client.signIn.create({ identifier: username, password: secret });
    assert.equal(signIn.status, 'complete');
    await clerk.setActive({ session: signIn.createdSessionId });
    assert.equal(clerk.user?.id, user.id);
    await clerk.signOut();
  });

  test('a username a user already has is form_identifier_exists on username', async () => {
    const params = newUserParams();
    await backend.users.createUser(params);
    const attempt = clerk.client.signUp.create({ username: params.username, password: password() });
    await rejectsWithCode(attempt, 'form_identifier_exists');
    assert.equal((await attempt.catch((e) => e)).errors[0].meta?.paramName, 'username');
  });
});

describe('last name required: a sign-up without it is missing_requirements until update', () => {
  let latch, backend, clerk;
  before(async () => ({ latch, backend, clerk } = await startSignUpLatch({
    require_email_address: false, require_username: true, last_name: 'required',
  })));
  after(async () => latch?.stop());

  test('create lists last_name as missing; update with it completes', async () => {
    const username = `new_${tag()}`;
    let signUp = await clerk.client.signUp.create({ username, password: password() });
    assert.equal(signUp.status, 'missing_requirements');
    assert.deepEqual(signUp.missingFields, ['last_name']);
    assert.ok(signUp.requiredFields.includes('last_name'), `required: ${signUp.requiredFields}`);
    assert.equal(signUp.createdSessionId, null);

    signUp = await signUp.update({ lastName: 'Hopper' });
    assert.deepEqual(signUp.missingFields, []);
    assert.equal(signUp.lastName, 'Hopper');
    await activate(clerk, signUp);
    const user = await backend.users.getUser(signUp.createdUserId);
    assert.equal(user.username, username);
    assert.equal(user.lastName, 'Hopper');
    await clerk.signOut();
  });
});

describe('restricted mode', () => {
  let latch, backend, clerk;
  before(async () => ({ latch, backend, clerk } = await startSignUpLatch({ mode: 'restricted' })));
  after(async () => latch?.stop());

  test('a sign-up is sign_up_mode_restricted and makes no user', async () => {
    const email = `new-${tag()}@example.com`;
    await rejectsWithCode(clerk.client.signUp.create({ emailAddress: email, password: password() }), 'sign_up_mode_restricted');
    assert.equal(await backend.users.getCount(), 0);
  });
});
