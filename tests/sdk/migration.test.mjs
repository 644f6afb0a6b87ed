// Moving from ConnectyCube through the official SDK: the app keeps the credentials it was
// built with; a user who exists only on the old service (a second `cube-auth serve` standing
// in for hosted ConnectyCube) signs in here, keeping their id, fields and tags, and still
// does once the old service is gone. A wrong password creates nothing; an old service that
// has stalled gives a clear error and writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import CC from 'connectycube';
import { api, app, rejection, sleep, uniqueLogin, PASSWORD } from './lib.mjs';

const oldApi = process.env.CUBE_AUTH_OLD_API;
const oldPid = Number(process.env.CUBE_AUTH_OLD_PID);
if (!oldApi || !oldPid) throw new Error('run through tests/sdk/run.sh (CUBE_AUTH_OLD_API and CUBE_AUTH_OLD_PID)');

/** The SDK on `url`, with the credentials an app build carries. */
function at(url, credentials) {
  CC.init(
    { appId: credentials.application_id, authKey: credentials.auth_key, authSecret: credentials.auth_secret },
    { endpoints: { api_url: url }, debug: { mode: 0 }, timeout: 15000 },
  );
  return CC;
}

test('a user of the old service signs in here with the old credentials, also after it is gone', async () => {
  const moving = app('moving-app.json');
  const login = uniqueLogin('mover');
  const stays = uniqueLogin('stays');
  let cc = at(oldApi, moving);
  const { user: old } = await cc.users.signup({
    login, email: `${login}@example.com`, password: PASSWORD, full_name: 'Moving Person', tag_list: ['early', 'vip'],
  });
  await cc.users.signup({ login: stays, password: PASSWORD });

  cc = at(api, moving);
  const wrong = await rejection(cc.createSession({ login: stays, password: 'not-the-password-1' }));
  assert.ok([401, 404].includes(wrong.code), `a wrong password is refused: ${wrong.code}`);
  const session = await cc.createSession({ login, password: PASSWORD });
  assert.equal(session.user.id, old.id, 'the old id is kept');
  assert.equal(session.user.full_name, 'Moving Person');
  assert.equal(session.user.email, `${login}@example.com`);
  assert.equal(session.user.user_tags, 'early,vip');

  // The old service goes away.
  process.kill(oldPid, 'SIGINT');
  for (let i = 0; i < 100; i += 1) {
    try {
      await fetch(`${oldApi}/session.json`, { method: 'POST' });
    } catch {
      break;
    }
    await sleep(50);
  }
  const again = await cc.createSession({ login, password: PASSWORD });
  assert.equal(again.user.id, old.id);
  const profile = await cc.users.get(old.id);
  assert.equal((profile.user ?? profile).login, login);
  const found = await cc.users.getV2({ login });
  assert.deepEqual(found.items.map((u) => u.id), [old.id]);
  const nobody = await cc.users.getV2({ login: stays });
  assert.equal(nobody.total_entries, 0, 'the wrong password created nothing');
});

test('an old service that has stalled gives a clear error and writes nothing', async () => {
  const stalled = app('stalled-app.json');
  const login = uniqueLogin('stalled');
  const cc = at(api, stalled);
  const error = await rejection(cc.createSession({ login, password: PASSWORD }));
  assert.equal(error.code, 422);
  assert.match(error.info.errors.base[0], /moving from did not respond/);
  await cc.createSession();
  const nobody = await cc.users.getV2({ login });
  assert.equal(nobody.total_entries, 0);
});
