// One-time code sign-ins with clerk-js (Node, native mode): codes are read from
// what latch's `http` code sender delivered to a receiver this test runs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  backendClient, loadNodeClerk, newUserParams, rejectsWithCode, startCodeReceiver, startLatch,
} from './harness.mjs';

let latch, receiver, backend, clerk, user, params;
const phone = '+15550007788';

before(async () => {
  receiver = await startCodeReceiver();
  latch = await startLatch({
    env: {
      LATCH_CODES__SENDER: 'http',
      LATCH_CODES__HTTP_URL: receiver.url,
      LATCH_CODES__HTTP_SECRET: 'conformance shared secret',
    },
  });
  backend = backendClient(latch);
  clerk = await loadNodeClerk(latch);
  params = newUserParams();
  user = await backend.users.createUser({ ...params, phoneNumber: [phone] });
});

after(async () => {
  await latch?.stop();
  await receiver?.close();
});

test('email code sign-in: prepare sends the code, attempt completes', async () => {
  const email = params.emailAddress[0];
  const signIn = await clerk.client.signIn.create({ identifier: email });
  const factor = signIn.supportedFirstFactors.find((f) => f.strategy === 'email_code');
  assert.ok(factor?.emailAddressId, 'an email_code factor with its address id');
  await signIn.prepareFirstFactor({ strategy: 'email_code', emailAddressId: factor.emailAddressId });
  const code = await receiver.nextCode(email);
  const done = await clerk.client.signIn.attemptFirstFactor({ strategy: 'email_code', code });
  assert.equal(done.status, 'complete');
  await clerk.setActive({ session: done.createdSessionId });
  assert.equal(clerk.user?.id, user.id);
  await clerk.signOut();
});

test('a wrong code is form_code_incorrect', async () => {
  const signIn = await clerk.client.signIn.create({ identifier: params.emailAddress[0], strategy: 'email_code' });
  const code = await receiver.nextCode(params.emailAddress[0]);
  const wrong = code === '000000' ? '111111' : '000000';
  await rejectsWithCode(signIn.attemptFirstFactor({ strategy: 'email_code', code: wrong }), 'form_code_incorrect');
  const done = await clerk.client.signIn.attemptFirstFactor({ strategy: 'email_code', code });
  assert.equal(done.status, 'complete');
  await clerk.setActive({ session: done.createdSessionId });
  await clerk.signOut();
});

test('phone code sign-in, identified by the phone number', async () => {
  const signIn = await clerk.client.signIn.create({ identifier: phone });
  const factor = signIn.supportedFirstFactors.find((f) => f.strategy === 'phone_code');
  assert.ok(factor?.phoneNumberId);
  await signIn.prepareFirstFactor({ strategy: 'phone_code', phoneNumberId: factor.phoneNumberId });
  const code = await receiver.nextCode(phone);
  const done = await clerk.client.signIn.attemptFirstFactor({ strategy: 'phone_code', code });
  assert.equal(done.status, 'complete');
  await clerk.setActive({ session: done.createdSessionId });
  await clerk.signOut();
});

test('a locked user is user_locked', async () => {
  await backend.users.lockUser(user.id);
  const signIn = await clerk.client.signIn.create({ identifier: params.emailAddress[0] });
  await rejectsWithCode(signIn.attemptFirstFactor({ strategy: 'password', password: params.password }), 'user_locked', 403);
  const unlocked = await backend.users.unlockUser(user.id);
  assert.equal(unlocked.locked, false);
});

test('password reset by email code: needs_new_password, then resetPassword completes', async () => {
  const email = params.emailAddress[0];
  let signIn = await clerk.client.signIn.create({ strategy: 'reset_password_email_code', identifier: email });
  const code = await receiver.nextCode(email);
  signIn = await signIn.attemptFirstFactor({ strategy: 'reset_password_email_code', code });
  assert.equal(signIn.status, 'needs_new_password');
  const newPassword = `${params.password}-new`;
  signIn = await signIn.resetPassword({ password: newPassword, signOutOfOtherSessions: true });
  assert.equal(signIn.status, 'complete');
  await clerk.setActive({ session: signIn.createdSessionId });
  assert.equal(clerk.user?.id, user.id);
  await clerk.signOut();
  // The new password works; the old one does not.
  await rejectsWithCode(clerk.client.signIn.create({ identifier: email, password: params.password }), 'form_password_incorrect');
  const again = await clerk.client.signIn.create({ identifier: email, password: newPassword });
  assert.equal(again.status, 'complete');
  params.password = newPassword;
});
