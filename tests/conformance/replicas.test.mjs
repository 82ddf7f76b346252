// Clerk's SDKs against three latch replicas sharing PostgreSQL and Redis, with every
// request sent to the next replica in turn: no step may depend on the replica that
// served the step before.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { verifyToken } from '@clerk/backend';
import {
  backendClient, httpCodeSender, jwtClaims, loadNodeClerk, newUserParams, publicKeyPem, rejectsWithCode,
  startCluster, startCodeReceiver,
} from './harness.mjs';

const REPLICAS = 3;
const TIMEOUT = { timeout: 30_000 };

let cluster, receiver, backend, clerk, user, params, testUser, testParams;

before(async () => {
  receiver = await startCodeReceiver();
  cluster = await startCluster({ replicas: REPLICAS, env: httpCodeSender(receiver) });
  backend = backendClient(cluster);
  clerk = await loadNodeClerk(cluster);
}, { timeout: 90_000 });

after(async () => {
  await cluster?.stop();
  await receiver?.close();
}, { timeout: 60_000 });

/** Runs `steps` and returns the replica that served each request it made, in order. */
async function replicasServing(steps) {
  const from = cluster.log.length;
  const result = await steps();
  return { result, served: cluster.log.slice(from) };
}

/** The replica that served the one request whose method and path match. */
function replicaOf(served, method, pathPattern) {
  const hits = served.filter((r) => r.method === method && pathPattern.test(r.path.split('?')[0]));
  assert.equal(hits.length, 1, `one ${method} ${pathPattern} in ${JSON.stringify(served)}`);
  return hits[0].replica;
}

test('the replicas share one JWKS', TIMEOUT, async () => {
  assert.equal(new Set(cluster.replicas).size, REPLICAS);
  const jwks = await Promise.all(cluster.replicas.map(async (url) => {
    const res = await fetch(`${url}/v1/jwks`, { headers: { authorization: `Bearer ${cluster.secretKey}` } });
    assert.equal(res.status, 200);
    return res.json();
  }));
  assert.equal(jwks[0].keys.length, 1);
  for (const other of jwks.slice(1)) assert.deepEqual(other, jwks[0]);
});

test('backend createUser on one replica, every replica reads the user back', TIMEOUT, async () => {
  params = newUserParams();
  user = await backend.users.createUser(params);
  assert.match(user.id, /^user_/);
  testParams = newUserParams();
  testParams.emailAddress = [testParams.emailAddress[0].replace('@', '+clerk_test@')];
  testUser = await backend.users.createUser(testParams);
  const { result, served } = await replicasServing(() =>
    Promise.all(Array.from({ length: REPLICAS }, () => backend.users.getUser(user.id))));
  for (const read of result) assert.equal(read.primaryEmailAddress?.emailAddress, params.emailAddress[0]);
  assert.equal(new Set(served.map((r) => r.replica)).size, REPLICAS, JSON.stringify(served));
});

let sessionId;

test('password sign-in completes; its session token verifies and names the user', TIMEOUT, async () => {
  const signIn = await clerk.client.signIn.create({
    strategy: 'password', identifier: params.emailAddress[0], password: params.password,
  });
  assert.equal(signIn.status, 'complete');
  assert.match(signIn.createdSessionId ?? '', /^sess_/);
  sessionId = signIn.createdSessionId;
  await clerk.setActive({ session: sessionId });
  assert.equal(clerk.user?.id, user.id);
  const jwt = await clerk.session.getToken({ skipCache: true });
  assert.equal(jwtClaims(jwt).sub, user.id);
  const viaJwks = await verifyToken(jwt, { secretKey: cluster.secretKey, apiUrl: cluster.url });
  assert.equal(viaJwks.sub, user.id);
  assert.equal(viaJwks.sid, sessionId);
  const viaPem = await verifyToken(jwt, { jwtKey: await publicKeyPem(cluster) });
  assert.equal(viaPem.sub, user.id);
});

test('signOut ends the session for every replica', TIMEOUT, async () => {
  await clerk.signOut();
  assert.equal(clerk.session, null);
  const { result, served } = await replicasServing(() =>
    Promise.all(Array.from({ length: REPLICAS }, () => backend.sessions.getSession(sessionId))));
  for (const session of result) {
    assert.equal(session.userId, user.id);
    assert.notEqual(session.status, 'active');
  }
  assert.equal(new Set(served.map((r) => r.replica)).size, REPLICAS, JSON.stringify(served));
});

test('two-step password sign-in: identified on one replica, finished on another', TIMEOUT, async () => {
  const { result: signIn, served } = await replicasServing(async () => {
    const started = await clerk.client.signIn.create({ identifier: params.username });
    assert.equal(started.status, 'needs_first_factor');
    return started.attemptFirstFactor({ strategy: 'password', password: params.password });
  });
  const created = replicaOf(served, 'POST', /^\/v1\/client\/sign_ins$/);
  const attempted = replicaOf(served, 'POST', /\/attempt_first_factor$/);
  assert.notEqual(created, attempted);
  assert.equal(signIn.status, 'complete');
  assert.notEqual(signIn.createdSessionId, sessionId);
  await clerk.setActive({ session: signIn.createdSessionId });
  assert.equal(jwtClaims(await clerk.session.getToken({ skipCache: true })).sub, user.id);
  await clerk.signOut();
  assert.equal(clerk.session, null);
});

test('email code sign-in of a test identity: create, prepare and attempt on three replicas', TIMEOUT, async () => {
  const email = testParams.emailAddress[0];
  const { result: signIn, served } = await replicasServing(async () => {
    const started = await clerk.client.signIn.create({ identifier: email });
    const factor = started.supportedFirstFactors.find((f) => f.strategy === 'email_code');
    assert.ok(factor?.emailAddressId, 'an email_code factor with its address id');
    await started.prepareFirstFactor({ strategy: 'email_code', emailAddressId: factor.emailAddressId });
    return clerk.client.signIn.attemptFirstFactor({ strategy: 'email_code', code: '424242' });
  });
  assert.equal(new Set([
    replicaOf(served, 'POST', /^\/v1\/client\/sign_ins$/),
    replicaOf(served, 'POST', /\/prepare_first_factor$/),
    replicaOf(served, 'POST', /\/attempt_first_factor$/),
  ]).size, 3);
  assert.equal(signIn.status, 'complete');
  await clerk.setActive({ session: signIn.createdSessionId });
  assert.equal(clerk.user?.id, testUser.id);
  await clerk.signOut();
  assert.equal(clerk.session, null);
});

test('sign-up by email code: created, prepared and attempted on three replicas', TIMEOUT, async () => {
  const { emailAddress: [email], password } = newUserParams();
  const { result: signUp, served } = await replicasServing(async () => {
    const started = await clerk.client.signUp.create({ emailAddress: email, password });
    assert.equal(started.status, 'missing_requirements');
    await started.prepareEmailAddressVerification({ strategy: 'email_code' });
    const code = await receiver.nextCode(email);
    return clerk.client.signUp.attemptEmailAddressVerification({ code });
  });
  assert.equal(new Set([
    replicaOf(served, 'POST', /^\/v1\/client\/sign_ups$/),
    replicaOf(served, 'POST', /^\/v1\/client\/sign_ups\/[^/]+\/prepare_verification$/),
    replicaOf(served, 'POST', /^\/v1\/client\/sign_ups\/[^/]+\/attempt_verification$/),
  ]).size, 3);
  assert.equal(signUp.status, 'complete');
  await clerk.setActive({ session: signUp.createdSessionId });
  assert.equal(clerk.user?.id, signUp.createdUserId);
  assert.equal(jwtClaims(await clerk.session.getToken({ skipCache: true })).sub, signUp.createdUserId);
  const { result: reads } = await replicasServing(() =>
    Promise.all(Array.from({ length: REPLICAS }, () => backend.users.getUser(signUp.createdUserId))));
  for (const read of reads) assert.equal(read.primaryEmailAddress?.verification?.status, 'verified');
  await clerk.signOut();
  assert.equal(clerk.session, null);
});

test('an email address added, prepared and proved on three replicas, in PostgreSQL', TIMEOUT, async () => {
  const signIn = await clerk.client.signIn.create({
    strategy: 'password', identifier: params.emailAddress[0], password: params.password,
  });
  await clerk.setActive({ session: signIn.createdSessionId });
  const email = `added-${Date.now()}@example.com`;
  try {
    await addedAndProved(email);
  } finally {
    await clerk.signOut();
  }
});

async function addedAndProved(email) {
  const { result: verified, served } = await replicasServing(async () => {
    const added = await clerk.user.createEmailAddress({ email });
    const prepared = await added.prepareVerification({ strategy: 'email_code' });
    const code = await receiver.nextCode(email);
    return prepared.attemptVerification({ code });
  });
  assert.equal(new Set([
    replicaOf(served, 'POST', /^\/v1\/me\/email_addresses\/?$/),
    replicaOf(served, 'POST', /^\/v1\/me\/email_addresses\/[^/]+\/prepare_verification$/),
    replicaOf(served, 'POST', /^\/v1\/me\/email_addresses\/[^/]+\/attempt_verification$/),
  ]).size, 3);
  assert.equal(verified.verification.status, 'verified');
  const read = await backend.users.getUser(user.id);
  assert.ok(read.emailAddresses.some((e) => e.emailAddress === email && e.verification?.status === 'verified'));
}

test('a wrong password is form_password_incorrect, in one step and in two', TIMEOUT, async () => {
  const wrong = `${params.password}x`;
  await rejectsWithCode(
    clerk.client.signIn.create({ strategy: 'password', identifier: params.emailAddress[0], password: wrong }),
    'form_password_incorrect',
  );
  const signIn = await clerk.client.signIn.create({ identifier: params.emailAddress[0] });
  await rejectsWithCode(signIn.attemptFirstFactor({ strategy: 'password', password: wrong }), 'form_password_incorrect');
});

test('every replica served its share of the requests', () => {
  const total = cluster.served.reduce((a, b) => a + b, 0);
  assert.equal(total, cluster.log.length, 'every proxied request was answered by a replica');
  for (const [i, n] of cluster.served.entries()) assert.ok(n > 0, `replica ${i} served no request`);
  // Round robin: no replica served more than one request more than another.
  assert.ok(Math.max(...cluster.served) - Math.min(...cluster.served) <= 1, `served: ${cluster.served}`);
});
