// Password sign-in with clerk-js (Node, native mode) and token verification with
// @clerk/backend.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { verifyToken } from '@clerk/backend';
import {
  backendClient, jwtClaims, loadNodeClerk, newUserParams, publicKeyPem, rejectsWithCode, startLatch,
} from './harness.mjs';

let latch, backend, clerk, user, params;

before(async () => {
  latch = await startLatch();
  backend = backendClient(latch);
  clerk = await loadNodeClerk(latch);
});

after(async () => {
  await latch?.stop();
});

test('backend createUser returns the new user', async () => {
  params = newUserParams();
  user = await backend.users.createUser(params);
  assert.match(user.id, /^user_/);
  assert.equal(user.username, params.username);
  assert.equal(user.primaryEmailAddress?.emailAddress, params.emailAddress[0]);
  assert.equal(user.passwordEnabled, true);
});

test('clerk-js loads with no signed-in session', () => {
  assert.equal(clerk.loaded, true);
  assert.ok(clerk.client, 'a client object');
  assert.equal(clerk.session, null);
});

test('wrong password is form_password_incorrect', async () => {
  const attempt = { strategy: 'password', identifier: params.emailAddress[0], password: `${params.password}x` };
  await rejectsWithCode(clerk.client.signIn.create(attempt), 'form_password_incorrect');
});

test('unknown identifier is form_identifier_not_found', async () => {
  await rejectsWithCode(
    clerk.client.signIn.create({ identifier: 'nobody-here@example.com' }),
    'form_identifier_not_found',
  );
});

let sessionId, jwt;

test('sign in with email and password completes', async () => {
  const signIn = await clerk.client.signIn.create({
    strategy: 'password', identifier: params.emailAddress[0], password: params.password,
  });
  assert.equal(signIn.status, 'complete');
  assert.match(signIn.createdSessionId ?? '', /^sess_/);
  assert.ok(clerk.client.sessions.some((s) => s.id === signIn.createdSessionId), 'session is on the client');
  sessionId = signIn.createdSessionId;
});

test('setActive makes the session current and getToken returns a JWT', async () => {
  await clerk.setActive({ session: sessionId });
  assert.equal(clerk.session?.id, sessionId);
  assert.equal(clerk.user?.id, user.id);
  jwt = await clerk.session.getToken();
  assert.equal(typeof jwt, 'string');
  const claims = jwtClaims(jwt);
  assert.equal(claims.sub, user.id);
  assert.equal(claims.sid, sessionId);
  assert.deepEqual(Object.keys(claims).sort(), ['azp', 'exp', 'fva', 'iat', 'iss', 'nbf', 'sid', 'sub', 'v']);
  assert.equal(claims.exp - claims.iat, 60);
});

test('verifyToken accepts the token through the JWKS endpoint', async () => {
  const claims = await verifyToken(jwt, { secretKey: latch.secretKey, apiUrl: latch.url });
  assert.equal(claims.sub, user.id);
  assert.equal(claims.sid, sessionId);
  assert.ok(claims.exp > Date.now() / 1000);
});

test('verifyToken accepts the token with a PEM public key', async () => {
  const claims = await verifyToken(jwt, { jwtKey: await publicKeyPem(latch) });
  assert.equal(claims.sub, user.id);
  assert.equal(claims.sid, sessionId);
});

test('verifyToken rejects a tampered token', async () => {
  const [head, , sig] = jwt.split('.');
  const forged = Buffer.from(JSON.stringify({ ...jwtClaims(jwt), sub: 'user_someone_else' })).toString('base64url');
  await assert.rejects(verifyToken(`${head}.${forged}.${sig}`, { jwtKey: await publicKeyPem(latch) }));
});

test('user.update changes the signed-in user\'s own profile', async () => {
  const updated = await clerk.user.update({ firstName: 'Ada', lastName: 'Lovelace', unsafeMetadata: { theme: 'dark' } });
  assert.equal(updated.firstName, 'Ada');
  assert.equal(updated.lastName, 'Lovelace');
  assert.deepEqual(updated.unsafeMetadata, { theme: 'dark' });
  const seen = await backend.users.getUser(user.id);
  assert.equal(seen.firstName, 'Ada');
  assert.deepEqual(seen.unsafeMetadata, { theme: 'dark' });
});

test('user.getSessions lists the user\'s active sessions with where they started', async () => {
  const sessions = await clerk.user.getSessions();
  assert.equal(sessions.length, 1);
  assert.equal(sessions[0].id, clerk.session.id);
  assert.equal(sessions[0].latestActivity?.ipAddress, '127.0.0.1');
});

test('user.updatePassword needs the current password, then changes it', async () => {
  await rejectsWithCode(
    clerk.user.updatePassword({ currentPassword: 'not it at all', newPassword: 'another long secret' }),
    'form_password_incorrect',
  );
  await clerk.user.updatePassword({ currentPassword: params.password, newPassword: 'another long secret' });
  // And back, for the tests after this one.
  await clerk.user.updatePassword({ currentPassword: 'another long secret', newPassword: params.password });
  assert.equal(clerk.user.passwordEnabled, true);
});

test('signOut ends the session', async () => {
  await clerk.signOut();
  assert.equal(clerk.session, null);
  assert.equal(clerk.client.sessions.length, 0);
  const { data } = await backend.sessions.getSessionList({ userId: user.id });
  const session = data.find((s) => s.id === sessionId);
  assert.ok(session, 'the session is still listed');
  assert.notEqual(session.status, 'active');
});

test('sign in with username, then password as the first factor', async () => {
  let signIn = await clerk.client.signIn.create({ identifier: params.username });
  assert.equal(signIn.status, 'needs_first_factor');
  assert.ok(signIn.supportedFirstFactors.some((f) => f.strategy === 'password'), 'password is a first factor');
  await rejectsWithCode(
    signIn.attemptFirstFactor({ strategy: 'password', password: `${params.password}x` }),
    'form_password_incorrect',
  );
  signIn = await signIn.attemptFirstFactor({ strategy: 'password', password: params.password });
  assert.equal(signIn.status, 'complete');
  assert.match(signIn.createdSessionId ?? '', /^sess_/);
  assert.notEqual(signIn.createdSessionId, sessionId);
  await clerk.setActive({ session: signIn.createdSessionId });
  assert.equal(jwtClaims(await clerk.session.getToken()).sub, user.id);
  await clerk.signOut();
  assert.equal(clerk.session, null);
});

test('a password without a strategy signs in too, as in Clerk docs', async () => {
  const signIn = await clerk.client.signIn.create({ identifier: params.emailAddress[0], password: params.password });
  assert.equal(signIn.status, 'complete');
  assert.match(signIn.createdSessionId ?? '', /^sess_/);
});
