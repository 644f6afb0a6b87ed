// The SDK's session-expired callback: an application whose sessions idle out after 2 s lets a
// session expire; the next call gets the exact 401, the SDK calls on.sessionExpired, and the
// retry with a fresh session succeeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { app, init, uniqueLogin, PASSWORD, sleep } from './lib.mjs';

const credentials = app('short-app.json');
let expiredCalls = 0;
const CC = init(credentials, {
  on: {
    sessionExpired: (handleResponse, retry) => {
      expiredCalls += 1;
      CC.createSession().then(retry).catch(handleResponse);
    },
  },
});

test('an expired session fires on.sessionExpired and the retried call succeeds', async () => {
  const login = uniqueLogin('expiry');
  const { user } = await CC.users.signup({ login, password: PASSWORD });
  const first = await CC.createSession();
  await sleep(3000);
  // POST /login's URL does not contain "session", so the SDK handles the 401 itself.
  const loggedIn = await CC.login({ login, password: PASSWORD });
  assert.equal(expiredCalls, 1, 'the callback fired once');
  assert.equal(loggedIn.id, user.id, 'the replayed login succeeded');
  const current = await CC.getSession();
  assert.notEqual(current.token, first.token, 'the retry used a fresh session');
  assert.equal(current.user_id, user.id);
});
