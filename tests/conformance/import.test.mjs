// Users moved from Clerk with `latch import clerk` sign in through clerk-js
// (Node, native mode) as they did at Clerk: by password under the digest
// Clerk exported, and by password then their authenticator app's code, each
// under the id Clerk gave them. @clerk/backend reads them back.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  backendClient, currentStep, loadNodeClerk, runLatch, startLatch, totp,
} from './harness.mjs';

// Digests of this password made by bcrypt and Django (the vectors of
// scripts/hash-vectors.py that latch-testkit's fixtures hold too).
const PASSWORD = 'correct horse battery';
const BCRYPT = '$2b$04$HErsAOq9sJzaVZsbMhpvMeScNJlmqEeKSdhyax4wwe8HS5UOzyTle';
const DJANGO = 'pbkdf2_sha256$1000$ImportedSalt2024$o569+K0CaRFaEpwd9KWGltkmnCrqfBcZZ5LsZCI4ZPs=';
const TOTP_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

const USERS = {
  bcrypt: { id: 'user_2ConfBcrypt0000000000000001', email: 'bcrypt@example.com' },
  django: { id: 'user_2ConfDjango0000000000000002', email: 'django@example.com' },
  totp: { id: 'user_2ConfTotp000000000000000003', email: 'totp@example.com' },
};

const FILLERS = 9_997;
const filler = (n) => ({ id: `user_2ConfFill${String(n).padStart(16, '0')}`, email: `fill${n}@example.com` });

// Clerk's dashboard export: every column, lists split by `|`.
const CSV = [
  'id,first_name,last_name,username,primary_email_address,primary_phone_number,verified_email_addresses,'
    + 'unverified_email_addresses,verified_phone_numbers,unverified_phone_numbers,totp_secret,password_digest,password_hasher',
  `${USERS.bcrypt.id},Bea,Crypt,,${USERS.bcrypt.email},,${USERS.bcrypt.email},old-bea@example.com|older-bea@example.com,,,,${BCRYPT},bcrypt`,
  `${USERS.django.id},Django,,dj_user,${USERS.django.email},+15550009911,${USERS.django.email},,+15550009911,,,${DJANGO},pbkdf2_sha256_django`,
  `${USERS.totp.id},Tot,,,${USERS.totp.email},,${USERS.totp.email},,,,${TOTP_SECRET},${BCRYPT},bcrypt`,
  // The rest of an export of 10,000 users; every third one with a password.
  ...Array.from({ length: FILLERS }, (_, n) => {
    const { id, email } = filler(n);
    const digest = n % 3 === 0 ? `${BCRYPT},bcrypt` : ',';
    return `${id},Fill,${n},,${email},,${email},,,,,${digest}`;
  }),
].join('\n');

let latch, backend, clerk, dir;

before(async () => {
  latch = await startLatch();
  backend = backendClient(latch);
  dir = await mkdtemp(join(tmpdir(), 'latch-import-'));
  const file = join(dir, 'clerk-users.csv');
  await writeFile(file, `${CSV}\n`);
  const planned = await runLatch(latch, ['import', 'clerk', '--dry-run', file]);
  assert.match(planned, /would import 10000, would skip 0/);
  const done = await runLatch(latch, ['import', 'clerk', file]);
  assert.match(done, /^imported 10000, skipped 0 /m);
  clerk = await loadNodeClerk(latch);
});

after(async () => {
  await latch?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function signedInAs(signIn, user) {
  assert.equal(signIn.status, 'complete');
  await clerk.setActive({ session: signIn.createdSessionId });
  assert.equal(clerk.user?.id, user.id, 'the session is the Clerk id\'s');
  assert.equal(clerk.user?.primaryEmailAddress?.emailAddress, user.email);
  const token = await clerk.session.getToken();
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));
  assert.equal(claims.sub, user.id, 'the session token names the Clerk id');
  await clerk.signOut();
}

test('a bcrypt and a Django PBKDF2 digest sign in by password under the Clerk id', async () => {
  for (const user of [USERS.bcrypt, USERS.django]) {
    const signIn = await clerk.client.signIn.create({ identifier: user.email, password: PASSWORD });
    await signedInAs(signIn, user);
  }
  // A user sampled from the rest of the export.
  const sampled = filler(7_776);
  await signedInAs(await clerk.client.signIn.create({ identifier: sampled.email, password: PASSWORD }), sampled);
  // By username too, as the export named it.
  const byUsername = await clerk.client.signIn.create({ identifier: 'dj_user', password: PASSWORD });
  await signedInAs(byUsername, USERS.django);
});

test('an authenticator app moves with its user: password, then its TOTP code', async () => {
  const signIn = await clerk.client.signIn.create({ identifier: USERS.totp.email, password: PASSWORD });
  assert.equal(signIn.status, 'needs_second_factor');
  assert.deepEqual(signIn.supportedSecondFactors.map((f) => f.strategy), ['totp']);
  const done = await signIn.attemptSecondFactor({ strategy: 'totp', code: totp(TOTP_SECRET, currentStep()) });
  await signedInAs(done, USERS.totp);
});

test('the Backend API shows imported users as Clerk had them', async () => {
  const bea = await backend.users.getUser(USERS.bcrypt.id);
  assert.equal(bea.firstName, 'Bea');
  assert.equal(bea.passwordEnabled, true);
  assert.deepEqual(
    bea.emailAddresses.map((e) => [e.emailAddress, e.verification?.status ?? null]),
    [[USERS.bcrypt.email, 'verified'], ['old-bea@example.com', null], ['older-bea@example.com', null]],
  );
  assert.equal(bea.primaryEmailAddressId, bea.emailAddresses[0].id);
  const tot = await backend.users.getUser(USERS.totp.id);
  assert.equal(tot.totpEnabled, true);
  const dj = await backend.users.getUser(USERS.django.id);
  assert.equal(dj.username, 'dj_user');
  assert.equal(dj.phoneNumbers[0].phoneNumber, '+15550009911');
  assert.equal(dj.primaryPhoneNumberId, dj.phoneNumbers[0].id);
  const { totalCount } = await backend.users.getUserList();
  assert.equal(totalCount, 3 + FILLERS);
});
