// Sessions and signup through the official SDK: every auth call SDK 6 offers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { app, init, uniqueLogin, PASSWORD, rejection } from './lib.mjs';

const credentials = app();
const CC = init(credentials);
const login = uniqueLogin('sdk');
const email = `${login}@example.com`;
let userId;

test('signup with CB-AuthKey while the SDK holds no session', async () => {
  // SDK 6 resolves signup with the raw reply, {"user":{…}}.
  const { user } = await CC.users.signup({ login, email, password: PASSWORD, full_name: 'SDK User', tag_list: ['sdk', 'suite'] });
  assert.equal(user.login, login);
  assert.equal(user.email, email);
  assert.equal(user.user_tags, 'sdk,suite');
  assert.equal(typeof user.id, 'number');
  userId = user.id;
});

test('application session', async () => {
  const session = await CC.createSession();
  assert.equal(session.application_id, credentials.application_id);
  assert.ok(!session.user_id, 'an application session has no user');
  assert.match(session.token, /^[0-9a-f]{40}$/);
});

test('user session by login', async () => {
  const session = await CC.createSession({ login, password: PASSWORD });
  assert.equal(session.user_id, userId);
  assert.equal(session.user.login, login);
});

test('user session by email', async () => {
  const session = await CC.createSession({ email, password: PASSWORD });
  assert.equal(session.user_id, userId);
});

test('getSession returns the session with its user', async () => {
  const session = await CC.getSession();
  assert.equal(session.user_id, userId);
  assert.equal(session.user.email, email);
  assert.match(session.token, /^[0-9a-f]{40}$/);
});

test('a wrong password is rejected with 401 Unauthorized', async () => {
  const error = await rejection(CC.createSession({ login, password: 'not-the-password' }));
  assert.equal(error.code, 401);
  assert.deepEqual(error.info, { errors: ['Unauthorized'] });
});

test('guest session', async () => {
  const session = await CC.createSession({ guest: '1', full_name: 'Guest Person' });
  assert.ok(session.user_id);
  assert.equal(session.user.is_guest, true);
  assert.ok(session.user.login.startsWith('guest_login_'));
  assert.equal(session.user.full_name, 'Guest Person');
});

test('login and logout on an application session', async () => {
  const appSession = await CC.createSession();
  const user = await CC.login({ login, password: PASSWORD });
  assert.equal(user.id, userId);
  const bound = await CC.getSession();
  assert.equal(bound.user_id, userId);
  assert.equal(bound.token, appSession.token, 'the token stays the same');
  await CC.logout();
  const after = await CC.getSession();
  assert.ok(!after.user_id, 'back to an application session');
  const again = await CC.auth.login({ email, password: PASSWORD });
  assert.equal(again.id, userId);
  await CC.auth.logout();
});

test('destroySession ends the session for good', async () => {
  await CC.createSession({ login, password: PASSWORD });
  await CC.destroySession();
  init(credentials);
  const error = await rejection(CC.getSession());
  assert.equal(error.code, 401);
});

test('signup validation errors surface as 422 with field messages', async () => {
  await CC.createSession();
  const error = await rejection(CC.users.signup({ login: 'ab', password: 'short' }));
  assert.equal(error.code, 422);
  assert.deepEqual(error.info.errors.login, ['is too short (minimum is 3 characters)']);
  assert.deepEqual(error.info.errors.password, ['is too short (minimum is 8 characters)']);
  const taken = await rejection(CC.users.signup({ login, password: PASSWORD }));
  assert.equal(taken.code, 422);
  assert.deepEqual(taken.info, { errors: { login: ['has already been taken'] } });
});
