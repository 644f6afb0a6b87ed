// The users API through the official SDK: users.update, users.delete, users.getV2 (each
// operator class and rule violation) and every V1 users.get form.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { app, init, uniqueLogin, PASSWORD, rejection } from './lib.mjs';

const credentials = app('v1-app.json');
const CC = init(credentials);
const prefix = uniqueLogin('dir').replace('_', '');
const people = [];

before(async () => {
  const names = ['Hunter Alpha', 'Hunter Beta', 'Hunter Gamma', 'Other Person'];
  const tags = [['vip', 'red'], ['red'], ['blue'], ['vip']];
  for (let i = 0; i < names.length; i += 1) {
    const { user } = await CC.users.signup({
      login: `${prefix}${i}`, email: `${prefix}${i}@example.com`, password: PASSWORD,
      full_name: `${names[i]} ${prefix}`, tag_list: tags[i], phone: `+1${prefix.length}${i}`,
      facebook_id: `fb-${prefix}-${i}`, twitter_id: `tw-${prefix}-${i}`, external_user_id: 7000 + i + Math.floor(Math.random() * 1e6) * 10,
    });
    people.push(user);
  }
  await CC.createSession();
});

const idsOf = (reply) => reply.items.map((u) => u.id);

test('getV2: primary operators eq, in and start_with', async () => {
  const byLogin = await CC.users.getV2({ login: people[1].login });
  assert.deepEqual(idsOf(byLogin), [people[1].id]);
  assert.equal(byLogin.total_entries, 1);
  const byIds = await CC.users.getV2({ id: { in: [people[0].id, people[2].id, 999999999] } });
  assert.deepEqual(idsOf(byIds), [people[0].id, people[2].id]);
  const byPrefix = await CC.users.getV2({ full_name: { start_with: 'hunter' }, login: { in: people.map((p) => p.login) }, limit: 50 });
  assert.equal(byPrefix.limit, 5, 'start_with forces a page of five');
  assert.deepEqual(idsOf(byPrefix), people.slice(0, 3).map((p) => p.id));
});

test('getV2: tags, the exclude operator and paging', async () => {
  const vip = await CC.users.getV2({ user_tags: { in: ['vip'] }, login: { in: people.map((p) => p.login) } });
  assert.deepEqual(idsOf(vip), [people[0].id, people[3].id]);
  const notRed = await CC.users.getV2({ login: { in: people.map((p) => p.login) }, user_tags: { nin: ['red'] }, sort_desc: 'id' });
  assert.deepEqual(idsOf(notRed), [people[3].id, people[2].id]);
  const page = await CC.users.getV2({ login: { in: people.map((p) => p.login) }, limit: 2, offset: 2 });
  assert.deepEqual([page.limit, page.skip, page.total_entries, idsOf(page)], [2, 2, 4, [people[2].id, people[3].id]]);
});

test('getV2: compare operators on dates, including a JavaScript Date', async () => {
  const logins = { in: people.map((p) => p.login) };
  const future = await CC.users.getV2({ login: logins, created_at: { gt: new Date(Date.now() + 3600 * 1000) } });
  assert.equal(future.total_entries, 0);
  const past = await CC.users.getV2({ login: logins, created_at: { lte: new Date(Date.now() + 3600 * 1000) }, updated_at: { gte: 1 } });
  assert.equal(past.total_entries, 4);
});

test('getV2: each rule violation is a 422 that names the rule', async () => {
  const cases = [
    [{ login: { nin: ['x'] } }, 'At least one of'],
    [{ created_at: { gte: new Date() } }, 'At least one of'],
    [{ id: people[0].id, last_request_at: new Date() }, 'additional field'],
    [{ login: { start_with: 'abc' } }, 'at least 4 characters'],
    [{ id: { gt: 1 } }, 'compare operators are for dates'],
  ];
  for (const [params, rule] of cases) {
    const error = await rejection(CC.users.getV2(params));
    assert.equal(error.code, 422, JSON.stringify(params));
    assert.ok(error.info.errors.base[0].includes(rule), `${JSON.stringify(params)}: ${error.info.errors.base[0]}`);
  }
});

test('V1 users.get: by id, login, email, full_name, facebook_id, twitter_id, phone, tags and external id', async () => {
  const target = people[1];
  assert.equal((await CC.users.get(target.id)).user.id, target.id);
  assert.equal((await CC.users.get({ login: target.login })).user.id, target.id);
  assert.equal((await CC.users.get({ email: target.email })).user.id, target.id);
  assert.equal((await CC.users.get({ facebook_id: target.facebook_id })).user.id, target.id);
  assert.equal((await CC.users.get({ twitter_id: target.twitter_id })).user.id, target.id);
  assert.equal((await CC.users.get({ phone: target.phone })).user.id, target.id);
  assert.equal((await CC.users.get({ external: target.external_user_id })).user.id, target.id);
  const byName = await CC.users.get({ full_name: target.full_name });
  assert.deepEqual([byName.current_page, byName.total_entries, byName.items[0].user.id], [1, 1, target.id]);
  const byTags = await CC.users.get({ tags: ['red', 'blue'], per_page: 100 });
  const tagged = byTags.items.map((i) => i.user.id);
  for (const p of people.slice(0, 3)) assert.ok(tagged.includes(p.id));
  assert.ok(!tagged.includes(people[3].id));
  const missing = await rejection(CC.users.get({ facebook_id: 'nobody-has-this' }));
  assert.equal(missing.code, 404);
});

test('V1 users.get: the listing with filter, order and paging', async () => {
  const ids = people.map((p) => p.id);
  const filtered = await CC.users.get({ page: 1, per_page: 2, filter: { field: 'id', param: 'in', value: ids }, order: { field: 'id', sort: 'desc' } });
  assert.deepEqual([filtered.current_page, filtered.per_page, filtered.total_entries], [1, 2, 4]);
  assert.deepEqual(filtered.items.map((i) => i.user.id), [ids[3], ids[2]]);
  const byDate = await CC.users.get({ filter: [{ field: 'id', param: 'in', value: ids }, { field: 'created_at', param: 'gt', value: '2000-01-01' }] });
  assert.equal(byDate.total_entries, 4);
});

test('users.update changes the profile and tags', async () => {
  await CC.createSession({ login: people[0].login, password: PASSWORD });
  const { user } = await CC.users.update({ full_name: '  Renamed   By SDK ', tag_list: ['green', 'GREEN', 'new'], custom_data: JSON.stringify({ a: 1 }) });
  assert.equal(user.full_name, 'Renamed   By SDK');
  assert.equal(user.user_tags, 'green,new');
  assert.equal(user.custom_data, '{"a":1}');
  const found = await CC.users.getV2({ user_tags: 'green', id: { in: [people[0].id] } });
  assert.equal(found.total_entries, 1);
});

test('users.update changes the password only with the right old_password', async () => {
  const login = people[0].login;
  const missing = await rejection(CC.users.update({ password: 'sdk-new-password-2' }));
  assert.deepEqual([missing.code, missing.info], [422, { errors: { old_password: ["can't be blank"] } }]);
  const wrong = await rejection(CC.users.update({ password: 'sdk-new-password-2', old_password: 'wrong-password-0' }));
  assert.deepEqual([wrong.code, wrong.info], [422, { errors: { old_password: ['is invalid'] } }]);
  await CC.users.update({ password: 'sdk-new-password-2', old_password: PASSWORD });
  const old = await rejection(CC.createSession({ login, password: PASSWORD }));
  assert.equal(old.code, 401);
  const fresh = await CC.createSession({ login, password: 'sdk-new-password-2' });
  assert.equal(fresh.user_id, people[0].id);
});

test('users.update changes the email only with the current password', async () => {
  await CC.createSession({ login: people[2].login, password: PASSWORD });
  const moved = `${prefix}-moved@example.com`;
  const missing = await rejection(CC.users.update({ email: moved }));
  assert.deepEqual([missing.code, missing.info], [422, { errors: { old_password: ["can't be blank"] } }]);
  const { user } = await CC.users.update({ email: moved, old_password: PASSWORD });
  assert.equal(user.email, moved);
});

test('users.delete removes the user for good', async () => {
  const victim = people[3];
  const session = await CC.createSession({ login: victim.login, password: PASSWORD });
  await CC.users.delete();
  init(credentials);
  await CC.createSession();
  const byId = await CC.users.getV2({ id: victim.id });
  assert.equal(byId.total_entries, 0);
  const gone = await rejection(CC.users.get({ login: victim.login }));
  assert.equal(gone.code, 404);
  init(credentials);
  CC.setSession(session);
  const dead = await rejection(CC.getSession());
  assert.equal(dead.code, 401, 'the deleted user\'s session is gone');
});
