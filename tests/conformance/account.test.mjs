// The signed-in user's own account through clerk-js (Node, native mode): addresses added
// and proved by code, made primary, kept for the second factor and removed; reverification
// of the session; the account deleted. And the Backend API's counterparts through
// @clerk/backend.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  backendClient, httpCodeSender, loadNodeClerk, newUserParams, rejectsWithCode, startCodeReceiver,
  startLatch,
} from './harness.mjs';

let latch, backend, clerk, receiver, user, params;

before(async () => {
  receiver = await startCodeReceiver();
  latch = await startLatch({ env: httpCodeSender(receiver) });
  backend = backendClient(latch);
  clerk = await loadNodeClerk(latch);
  params = newUserParams();
  user = await backend.users.createUser(params);
  const signIn = await clerk.client.signIn.create({
    strategy: 'password', identifier: params.emailAddress[0], password: params.password,
  });
  await clerk.setActive({ session: signIn.createdSessionId });
});

after(async () => {
  await latch?.stop();
  await receiver?.close();
});

test('user.createEmailAddress, then prepareVerification and attemptVerification prove it', async () => {
  const address = `second-${Date.now()}@example.com`;
  const added = await clerk.user.createEmailAddress({ email: address });
  assert.equal(added.emailAddress, address);
  assert.equal(added.verification.status, null, 'not prepared yet');
  const prepared = await added.prepareVerification({ strategy: 'email_code' });
  assert.equal(prepared.verification.status, 'unverified');
  assert.equal(prepared.verification.strategy, 'email_code');
  const code = await receiver.nextCode(address);
  await rejectsWithCode(prepared.attemptVerification({ code: '000000' }), 'form_code_incorrect');
  const verified = await prepared.attemptVerification({ code });
  assert.equal(verified.verification.status, 'verified');

  await clerk.user.update({ primaryEmailAddressId: verified.id });
  assert.equal(clerk.user.primaryEmailAddressId, verified.id);
  const fromBackend = await backend.users.getUser(user.id);
  assert.equal(fromBackend.primaryEmailAddress?.emailAddress, address);

  // The old address can go now; the list follows.
  const old = clerk.user.emailAddresses.find((e) => e.emailAddress === params.emailAddress[0]);
  await old.destroy();
  await clerk.user.reload();
  assert.deepEqual(clerk.user.emailAddresses.map((e) => e.emailAddress), [address]);
});

test('an address another user has is form_identifier_exists', async () => {
  const other = await backend.users.createUser(newUserParams());
  await rejectsWithCode(
    clerk.user.createEmailAddress({ email: other.emailAddresses[0].emailAddress }),
    'form_identifier_exists',
  );
});

test('user.createPhoneNumber, proved, becomes a second factor with setReservedForSecondFactor', async () => {
  const number = '+14155552676';
  const added = await clerk.user.createPhoneNumber({ phoneNumber: number });
  await added.prepareVerification();
  const code = await receiver.nextCode(number);
  const verified = await added.attemptVerification({ code });
  assert.equal(verified.verification.status, 'verified');
  const reserved = await verified.setReservedForSecondFactor({ reserved: true });
  assert.equal(reserved.reservedForSecondFactor, true);
  await clerk.user.reload();
  assert.equal(clerk.user.twoFactorEnabled, true);
  await reserved.destroy();
  await clerk.user.reload();
  assert.equal(clerk.user.twoFactorEnabled, false);
  assert.deepEqual(clerk.user.phoneNumbers, []);
});

test('session.startVerification and attemptFirstFactorVerification reverify the session', async () => {
  const started = await clerk.session.startVerification({ level: 'first_factor' });
  assert.equal(started.status, 'needs_first_factor');
  assert.deepEqual(started.supportedFirstFactors.map((f) => f.strategy), ['password', 'email_code']);
  await rejectsWithCode(
    clerk.session.attemptFirstFactorVerification({ strategy: 'password', password: 'not it at all' }),
    'form_password_incorrect',
  );
  const done = await clerk.session.attemptFirstFactorVerification({
    strategy: 'password', password: params.password,
  });
  assert.equal(done.status, 'complete');
  assert.equal(done.session.id, clerk.session.id);
});

test('@clerk/backend: email addresses, phone numbers, metadata, verifyPassword and verifyTOTP', async () => {
  const targetParams = newUserParams();
  const target = await backend.users.createUser({ ...targetParams, backupCodes: ['k7m2p9qa', 'x3n8v1cd'] });
  const email = await backend.emailAddresses.createEmailAddress({
    userId: target.id, emailAddress: `ops-${Date.now()}@example.com`, verified: true,
  });
  assert.equal(email.verification?.status, 'verified');
  assert.equal((await backend.emailAddresses.getEmailAddress(email.id)).id, email.id);
  await backend.emailAddresses.updateEmailAddress(email.id, { primary: true });
  assert.equal((await backend.users.getUser(target.id)).primaryEmailAddressId, email.id);
  await backend.emailAddresses.deleteEmailAddress(email.id);

  const phone = await backend.phoneNumbers.createPhoneNumber({
    userId: target.id, phoneNumber: '+14155552677', verified: true,
  });
  assert.equal(phone.phoneNumber, '+14155552677');
  await backend.phoneNumbers.deletePhoneNumber(phone.id);

  await backend.users.updateUserMetadata(target.id, { publicMetadata: { plan: 'pro', limits: { seats: 1 } } });
  const merged = await backend.users.updateUserMetadata(target.id, { publicMetadata: { limits: { projects: 2 } } });
  assert.deepEqual(merged.publicMetadata, { plan: 'pro', limits: { seats: 1, projects: 2 } });

  const ok = await backend.users.verifyPassword({ userId: target.id, password: targetParams.password });
  assert.equal(ok.verified, true);
  await assert.rejects(backend.users.verifyPassword({ userId: target.id, password: 'wrong one entirely' }));
  const code = await backend.users.verifyTOTP({ userId: target.id, code: 'k7m2p9qa' });
  assert.deepEqual(code, { verified: true, code_type: 'backup_code' });
});

test('user.delete removes the account and signs the client out', async () => {
  const id = clerk.user.id;
  await clerk.user.delete();
  await clerk.client.reload();
  assert.equal(clerk.client.sessions.length, 0);
  await assert.rejects(backend.users.getUser(id), (err) => err.status === 404);
});
