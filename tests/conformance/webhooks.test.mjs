// Webhooks as an application receives them: verified by verifyWebhook from
// @clerk/backend unmodified, shaped as the Backend API shows each resource,
// and refused when tampered with, signed with another secret or too old.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import { verifyWebhook } from '@clerk/backend/webhooks';

import { backendClient, loadNodeClerk, newUserParams, startLatch } from './harness.mjs';

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;

let latch, backend, clerk, receiver;

/** A receiver that keeps each raw request and what verifyWebhook made of it. */
async function startReceiver() {
  const got = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(
        ['svix-id', 'svix-timestamp', 'svix-signature', 'content-type'].map((h) => [h, req.headers[h]]),
      );
      let event = null;
      let error = null;
      try {
        event = await verifyWebhook(asRequest(headers, body), { signingSecret: SECRET });
      } catch (e) {
        error = e.message;
      }
      got.push({ headers, body, event, error });
      res.writeHead(event ? 200 : 400).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/api/webhooks`,
    got,
    /** Waits until an event of `type` matching `where` arrived. */
    async event(type, where = () => true) {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const found = got.find((g) => g.event?.type === type && where(g.event.data));
        if (found) return found;
        assert.ok(Date.now() < deadline, `no ${type} arrived; got ${got.map((g) => g.event?.type ?? g.error)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

function asRequest(headers, body) {
  return new Request('http://app.test/api/webhooks', {
    method: 'POST',
    headers: Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)),
    body,
  });
}

/** The raw Backend API JSON of `path`. */
async function bapiJson(path) {
  const res = await fetch(`${latch.url}${path}`, { headers: { authorization: `Bearer ${latch.secretKey}` } });
  assert.equal(res.status, 200);
  return res.json();
}

before(async () => {
  receiver = await startReceiver();
  latch = await startLatch({
    env: {
      LATCH_WEBHOOKS__ENDPOINTS__APP__URL: receiver.url,
      LATCH_WEBHOOKS__ENDPOINTS__APP__SECRET: SECRET,
    },
  });
  backend = backendClient(latch);
  clerk = await loadNodeClerk(latch);
});

after(async () => {
  await latch?.stop();
  await receiver?.close();
});

test('verifyWebhook accepts every event, each shaped as the Backend API shows its resource', async () => {
  const params = newUserParams();
  const user = await backend.users.createUser(params);
  const created = await receiver.event('user.created', (d) => d.id === user.id);
  assert.equal(created.error, null);
  const evt = created.event;
  assert.equal(evt.object, 'event');
  assert.match(evt.instance_id, /^ins_/);
  assert.equal(typeof evt.timestamp, 'number');
  assert.equal(typeof evt.event_attributes.http_request.client_ip, 'string');
  assert.equal(typeof evt.event_attributes.http_request.user_agent, 'string');
  // The same keys as the Backend API's user, and @clerk/backend reads it.
  const shown = await bapiJson(`/v1/users/${user.id}`);
  assert.deepEqual(Object.keys(evt.data).sort(), Object.keys(shown).sort());
  assert.equal(evt.data.email_addresses[0].email_address, params.emailAddress[0]);

  const signIn = await clerk.client.signIn.create({
    strategy: 'password', identifier: params.emailAddress[0], password: params.password,
  });
  await clerk.setActive({ session: signIn.createdSessionId });
  const session = await receiver.event('session.created', (d) => d.id === signIn.createdSessionId);
  assert.equal(session.event.data.user_id, user.id);
  assert.equal(session.event.data.status, 'active');
  assert.equal(session.event.data.user.id, user.id, 'the session event carries its user');
  const shownSession = await bapiJson(`/v1/sessions/${signIn.createdSessionId}`);
  for (const key of Object.keys(shownSession)) {
    assert.ok(key in session.event.data, `session.created lacks ${key}`);
  }

  await backend.users.updateUser(user.id, { firstName: 'Webhook' });
  const updated = await receiver.event('user.updated', (d) => d.id === user.id && d.first_name === 'Webhook');
  assert.equal(updated.error, null);

  await clerk.signOut();
  const ended = await receiver.event('session.ended', (d) => d.id === signIn.createdSessionId);
  assert.equal(ended.event.data.status, 'ended');

  await backend.users.deleteUser(user.id);
  const deleted = await receiver.event('user.deleted', (d) => d.id === user.id);
  assert.deepEqual(deleted.event.data, { deleted: true, id: user.id, object: 'user' });
  assert.ok(receiver.got.every((g) => g.error === null), 'every delivery verified');
});

test('a tampered body, another secret and an old timestamp are refused', async () => {
  const user = await backend.users.createUser(newUserParams());
  const real = await receiver.event('user.created', (d) => d.id === user.id);
  // The delivery as sent verifies.
  await verifyWebhook(asRequest(real.headers, real.body), { signingSecret: SECRET });
  await assert.rejects(
    verifyWebhook(asRequest(real.headers, real.body.replace(user.id, 'user_someone_else')), { signingSecret: SECRET }),
  );
  await assert.rejects(
    verifyWebhook(asRequest(real.headers, real.body), { signingSecret: `whsec_${randomBytes(24).toString('base64')}` }),
  );
  // Signed correctly, but ten minutes old: a replay.
  const old = String(Math.floor(Date.now() / 1000) - 600);
  const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
  const signature = createHmac('sha256', key).update(`${real.headers['svix-id']}.${old}.${real.body}`).digest('base64');
  await assert.rejects(
    verifyWebhook(
      asRequest({ ...real.headers, 'svix-timestamp': old, 'svix-signature': `v1,${signature}` }, real.body),
      { signingSecret: SECRET },
    ),
    /timestamp/i,
  );
});

test('the endpoint from configuration is listed with its messages, delivered', async () => {
  const listed = await bapiJson('/v1/webhooks/endpoints');
  const app = listed.data.find((e) => e.id === 'ep_config_app');
  assert.ok(app, JSON.stringify(listed));
  assert.equal(app.url, receiver.url);
  assert.equal((await bapiJson('/v1/webhooks/endpoints/ep_config_app/secret')).key, SECRET);
  const messages = await bapiJson('/v1/webhooks/endpoints/ep_config_app/messages');
  assert.ok(messages.data.length > 0);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const now = await bapiJson('/v1/webhooks/endpoints/ep_config_app/messages?status=pending');
    if (now.data.length === 0) break;
    assert.ok(Date.now() < deadline, JSON.stringify(now));
    await new Promise((r) => setTimeout(r, 200));
  }
});
