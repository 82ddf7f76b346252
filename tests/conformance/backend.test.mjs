// Backend API through @clerk/backend: users, sessions, revocation and deletion, seen
// together with clerk-js.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  backendClient, jwtClaims, loadNodeClerk, newUserParams, rejectsWithCode, startLatch,
} from './harness.mjs';

let latch, backend, clerk;

before(async () => {
  latch = await startLatch();
  backend = backendClient(latch);
  clerk = await loadNodeClerk(latch);
});

after(async () => {
  await latch?.stop();
});

async function signInAndActivate(params) {
  const signIn = await clerk.client.signIn.create({
    strategy: 'password', identifier: params.emailAddress[0], password: params.password,
  });
  assert.equal(signIn.status, 'complete');
  await clerk.setActive({ session: signIn.createdSessionId });
  return signIn.createdSessionId;
}

test('a wrong secret key is refused', async () => {
  const other = backendClient({ ...latch, secretKey: `${latch.secretKey}x` });
  await rejectsWithCode(other.users.getCount(), 'authentication_invalid', 401);
});

test('getUserList and getCount reflect created users', async () => {
  const before = await backend.users.getCount();
  const created = [];
  for (let i = 0; i < 2; i++) created.push(await backend.users.createUser(newUserParams()));
  assert.equal(await backend.users.getCount(), before + 2);

  const { data, totalCount } = await backend.users.getUserList({ limit: 100 });
  assert.equal(totalCount, before + 2);
  for (const user of created) assert.ok(data.some((u) => u.id === user.id), `${user.id} is listed`);

  const email = created[1].primaryEmailAddress.emailAddress;
  const filtered = await backend.users.getUserList({ emailAddress: [email] });
  assert.deepEqual(filtered.data.map((u) => u.id), [created[1].id]);

  const fetched = await backend.users.getUser(created[0].id);
  assert.equal(fetched.username, created[0].username);
});

test('createUser refuses a duplicate email address', async () => {
  const params = newUserParams();
  await backend.users.createUser(params);
  await rejectsWithCode(
    backend.users.createUser({ ...newUserParams(), emailAddress: params.emailAddress }),
    'form_identifier_exists',
  );
});

test('getSessionList lists the session; revokeSession revokes it', async () => {
  const params = newUserParams();
  const user = await backend.users.createUser(params);
  const sessionId = await signInAndActivate(params);
  assert.equal(jwtClaims(await clerk.session.getToken()).sid, sessionId);

  const { data, totalCount } = await backend.sessions.getSessionList({ userId: user.id });
  assert.equal(totalCount, 1);
  assert.equal(data[0].id, sessionId);
  assert.equal(data[0].userId, user.id);
  assert.equal(data[0].status, 'active');

  const revoked = await backend.sessions.revokeSession(sessionId);
  assert.equal(revoked.id, sessionId);
  assert.equal(revoked.status, 'revoked');
  const after = await backend.sessions.getSessionList({ userId: user.id });
  assert.equal(after.data.find((s) => s.id === sessionId)?.status, 'revoked');

  await assert.rejects(clerk.session.getToken({ skipCache: true }), (err) => {
    assert.ok([401, 403, 404].includes(err.status), `status ${err.status}: ${err.message}`);
    return true;
  });

  await clerk.client.reload();
  assert.ok(!clerk.client.sessions.some((s) => s.id === sessionId), 'revoked session left the client');
});

test('banUser revokes the sessions and stops sign-ins; unbanUser lets them back', async () => {
  const params = newUserParams();
  const user = await backend.users.createUser(params);
  const sessionId = await signInAndActivate(params);

  const banned = await backend.users.banUser(user.id);
  assert.equal(banned.banned, true);
  const { data } = await backend.sessions.getSessionList({ userId: user.id });
  assert.equal(data.find((s) => s.id === sessionId)?.status, 'revoked');
  await clerk.client.reload();
  await rejectsWithCode(
    clerk.client.signIn.create({ strategy: 'password', identifier: params.emailAddress[0], password: params.password }),
    'user_banned',
    403,
  );

  const unbanned = await backend.users.unbanUser(user.id);
  assert.equal(unbanned.banned, false);
  const signIn = await clerk.client.signIn.create({
    strategy: 'password', identifier: params.emailAddress[0], password: params.password,
  });
  assert.equal(signIn.status, 'complete');
});

test('deleteUser removes the user; signing in with its email then fails', async () => {
  const params = newUserParams();
  const user = await backend.users.createUser(params);
  const count = await backend.users.getCount();

  const deleted = await backend.users.deleteUser(user.id);
  assert.equal(deleted.id, user.id);
  assert.equal(deleted.deleted, true);
  assert.equal(await backend.users.getCount(), count - 1);
  await assert.rejects(backend.users.getUser(user.id), (err) => err.status === 404);

  await rejectsWithCode(
    clerk.client.signIn.create({ identifier: params.emailAddress[0] }),
    'form_identifier_not_found',
  );
});

test('latch shuts down cleanly on SIGTERM', async () => {
  assert.equal(await latch.stop(), 0);
});
