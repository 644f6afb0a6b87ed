// External identities through the official SDK, against cube-auth serve configured with a
// local key server and a fake customer identity provider (fake-providers.mjs):
// createSession with provider firebase_phone / firebase_email, and login with a CIdP token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sign } from 'node:crypto';
import { app, init, rejection } from './lib.mjs';

const PROJECT = 'cube-sdk-project';
const key = readFileSync(new URL('../fixtures/firebase/test-key-a.pem', import.meta.url), 'utf8');
const b64 = (data) => Buffer.from(data).toString('base64url');

/** A Firebase ID token as Google would issue it, signed with the test key. */
function firebaseToken(uid, extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64(JSON.stringify({ alg: 'RS256', kid: 'sdk-kid', typ: 'JWT' }));
  const claims = b64(JSON.stringify({
    iss: `https://securetoken.google.com/${PROJECT}`, aud: PROJECT, sub: uid, user_id: uid,
    iat: now - 10, auth_time: now - 10, exp: now + 3600, firebase: { sign_in_provider: 'phone' }, ...extra,
  }));
  const signature = sign('RSA-SHA256', Buffer.from(`${header}.${claims}`), key).toString('base64url');
  return `${header}.${claims}.${signature}`;
}

test('createSession with a Firebase phone token signs in, creating the user once', async () => {
  const CC = init(app('firebase-app.json'));
  const params = { provider: 'firebase_phone', firebase_phone: { project_id: PROJECT, access_token: firebaseToken('sdk-phone-1', { phone_number: '+15550999' }) } };
  const first = await CC.createSession(params);
  assert.equal(first.user.phone, '+15550999');
  const again = await CC.createSession(params);
  assert.equal(again.user_id, first.user_id, 'the same user');
});

test('createSession with a Firebase email token, and a bad token is refused', async () => {
  const CC = init(app('firebase-app.json'));
  const session = await CC.createSession({ provider: 'firebase_email', firebase_email: { project_id: PROJECT, access_token: firebaseToken('sdk-email-1', { email: 'sdk-email-1@example.com', email_verified: true }) } });
  assert.equal(session.user.email, 'sdk-email-1@example.com');
  const forged = firebaseToken('sdk-phone-2', { phone_number: '+1' }).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
  const error = await rejection(CC.createSession({ provider: 'firebase_phone', firebase_phone: { project_id: PROJECT, access_token: forged } }));
  assert.equal(error.code, 422);
  assert.match(error.info.errors.base[0], /Invalid Firebase ID token/);
});

test('login with a Custom Identity Provider token on an application session', async () => {
  const CC = init(app('cidp-app.json'));
  const appSession = await CC.createSession();
  const user = await CC.login({ login: 'good:sdk-cidp-1', password: 'any non-empty value' });
  assert.equal(user.login, 'ext_sdk-cidp-1');
  assert.equal(user.full_name, 'Provider Person');
  const session = await CC.getSession();
  assert.equal(session.user_id, user.id);
  assert.equal(session.token, appSession.token);
  await CC.logout();
  const again = await CC.login({ login: 'good:sdk-cidp-1', password: 'x' });
  assert.equal(again.id, user.id, 'created once');
  const refused = await rejection(CC.login({ login: 'expired-token', password: 'x' }));
  assert.equal(refused.code, 422);
  assert.equal(refused.info.errors.base[0], 'Custom Identity Provider responded with an error = "User token is invalid". Status code = 404');
});

test('createSession and login with a Facebook token of the application\'s Facebook app', async () => {
  const CC = init(app('facebook-app.json'));
  const session = await CC.createSession({ provider: 'facebook', keys: { token: 'fb:sdk-fb-1' } });
  assert.ok(session.user_id > 0);
  await CC.createSession();
  const user = await CC.login({ provider: 'facebook', keys: { token: 'fb:sdk-fb-1' } });
  assert.equal(user.id, session.user_id, 'found again, not created twice');
  assert.equal(user.facebook_id, 'sdk-fb-1');
  assert.equal(user.full_name, 'Facebook sdk-fb-1');
  assert.equal(user.email, 'sdk-fb-1@facebook.example.com');
  const found = await CC.users.get({ facebook_id: 'sdk-fb-1' });
  assert.equal(found.user.id, user.id);
  const refused = await rejection(CC.createSession({ provider: 'facebook', keys: { token: 'stolen-elsewhere' } }));
  assert.equal(refused.code, 422);
  assert.equal(refused.info.errors.base[0], 'Facebook access token is invalid');
});
