// Two-factor sign-ins with clerk-js (Node, native mode): a password first,
// then a phone code (read from what latch's `http` sender delivered), a TOTP
// code (the harness computes it), or a backup code; the factors are turned on and off
// with @clerk/backend.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  backendClient, currentStep, loadNodeClerk, newTotpSecret, newUserParams, rejectsWithCode,
  startCodeReceiver, startLatch, totp,
} from './harness.mjs';

let latch, receiver, backend, clerk;

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
});

after(async () => {
  await latch?.stop();
  await receiver?.close();
});


/** Signs in with the password; the sign-in then waits for its second factor. */
async function passwordFirst(params) {
  const signIn = await clerk.client.signIn.create({
    identifier: params.emailAddress[0], password: params.password,
  });
  assert.equal(signIn.status, 'needs_second_factor');
  assert.equal(signIn.createdSessionId, null);
  assert.equal(clerk.client.sessions.length, 0, 'no session before the second factor');
  return signIn;
}

async function finish(signIn, userId) {
  assert.equal(signIn.status, 'complete');
  await clerk.setActive({ session: signIn.createdSessionId });
  assert.equal(clerk.user?.id, userId);
  assert.equal(clerk.user?.twoFactorEnabled, true);
  await clerk.signOut();
}

test('password, then a phone code to a number reserved for the second factor', async () => {
  const params = newUserParams();
  const phone = '+15550007799';
  const user = await backend.users.createUser({ ...params, phoneNumber: [phone] });
  const reserved = await backend.phoneNumbers.updatePhoneNumber(user.phoneNumbers[0].id, {
    reservedForSecondFactor: true,
  });
  assert.equal(reserved.reservedForSecondFactor, true);
  assert.equal((await backend.users.getUser(user.id)).twoFactorEnabled, true);

  const signIn = await passwordFirst(params);
  const factor = signIn.supportedSecondFactors.find((f) => f.strategy === 'phone_code');
  assert.equal(factor?.phoneNumberId, reserved.id);
  await signIn.prepareSecondFactor({ strategy: 'phone_code', phoneNumberId: factor.phoneNumberId });
  const code = await receiver.nextCode(phone);
  const wrong = code === '000000' ? '111111' : '000000';
  await rejectsWithCode(signIn.attemptSecondFactor({ strategy: 'phone_code', code: wrong }), 'form_code_incorrect');
  await finish(await clerk.client.signIn.attemptSecondFactor({ strategy: 'phone_code', code }), user.id);
});

test('password, then a TOTP code; a code works once', async () => {
  const params = newUserParams();
  const secret = newTotpSecret();
  const user = await backend.users.createUser({ ...params, totpSecret: secret });
  assert.equal(user.totpEnabled, true);
  assert.equal(user.twoFactorEnabled, true);

  const signIn = await passwordFirst(params);
  assert.deepEqual(signIn.supportedSecondFactors.map((f) => f.strategy), ['totp']);
  const code = totp(secret, currentStep());
  await finish(await signIn.attemptSecondFactor({ strategy: 'totp', code }), user.id);

  const again = await passwordFirst(params);
  await rejectsWithCode(again.attemptSecondFactor({ strategy: 'totp', code }), 'form_code_incorrect');
  await finish(await again.attemptSecondFactor({ strategy: 'totp', code: totp(secret, currentStep() + 1) }), user.id);
});

test('password, then a backup code; each code works once', async () => {
  const params = newUserParams();
  const codes = Array.from({ length: 10 }, () => randomBytes(4).toString('hex'));
  const user = await backend.users.createUser({ ...params, backupCodes: codes });
  assert.equal(user.backupCodeEnabled, true);

  const signIn = await passwordFirst(params);
  assert.deepEqual(signIn.supportedSecondFactors.map((f) => f.strategy), ['backup_code']);
  await finish(await signIn.attemptSecondFactor({ strategy: 'backup_code', code: codes[3] }), user.id);

  const again = await passwordFirst(params);
  await rejectsWithCode(again.attemptSecondFactor({ strategy: 'backup_code', code: codes[3] }), 'form_code_incorrect');
  await finish(await again.attemptSecondFactor({ strategy: 'backup_code', code: codes[4] }), user.id);
});

test('turning two-factor off through the Backend API', async () => {
  const params = newUserParams();
  const user = await backend.users.createUser({ ...params, totpSecret: newTotpSecret(), backupCodes: ['abcd1234efgh'] });
  await backend.users.disableUserMFA(user.id);
  const off = await backend.users.getUser(user.id);
  assert.equal(off.twoFactorEnabled, false);
  assert.equal(off.totpEnabled, false);
  assert.equal(off.backupCodeEnabled, false);
  const signIn = await clerk.client.signIn.create({
    identifier: params.emailAddress[0], password: params.password,
  });
  assert.equal(signIn.status, 'complete');
  await clerk.setActive({ session: signIn.createdSessionId });
  await clerk.signOut();
});

test('a signed-in user enrols an authenticator app and backup codes with clerk-js', async () => {
  const params = newUserParams();
  const user = await backend.users.createUser(params);
  const signIn = await clerk.client.signIn.create({ identifier: params.emailAddress[0], password: params.password });
  assert.equal(signIn.status, 'complete');
  await clerk.setActive({ session: signIn.createdSessionId });

  const created = await clerk.user.createTOTP();
  assert.equal(created.verified, false);
  assert.match(created.uri, /^otpauth:\/\/totp\//);
  const verified = await clerk.user.verifyTOTP({ code: totp(created.secret, currentStep()) });
  assert.equal(verified.verified, true);
  assert.equal(verified.backupCodes.length, 10);
  const fresh = await clerk.user.createBackupCode();
  assert.equal(fresh.codes.length, 10);
  const on = await backend.users.getUser(user.id);
  assert.equal(on.totpEnabled, true);
  assert.equal(on.backupCodeEnabled, true);
  await clerk.signOut();

  // The earlier set was replaced; the fresh one works.
  const next = await passwordFirst(params);
  assert.deepEqual(next.supportedSecondFactors.map((f) => f.strategy), ['totp', 'backup_code']);
  await rejectsWithCode(next.attemptSecondFactor({ strategy: 'backup_code', code: verified.backupCodes[0] }), 'form_code_incorrect');
  const done = await next.attemptSecondFactor({ strategy: 'backup_code', code: fresh.codes[0] });
  assert.equal(done.status, 'complete');
  await clerk.setActive({ session: done.createdSessionId });
  const removed = await clerk.user.disableTOTP();
  assert.equal(removed.deleted, true);
  assert.equal((await backend.users.getUser(user.id)).totpEnabled, false);
  await clerk.signOut();
});
