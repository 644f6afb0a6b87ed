// Avatars through the official SDK: storage.createAndUpload with a real file (presigned POST
// to the S3 engine, which checks the policy), users.update({avatar: uid}), then downloads
// through storage.privateUrl / publicUrl give back the same bytes.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { app, init, uniqueLogin, PASSWORD, rejection } from './lib.mjs';

const credentials = app();
const CC = init(credentials);
const picture = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(4096)]);
const path = join(mkdtempSync(join(tmpdir(), 'cube-auth-sdk-')), 'avatar.png');
writeFileSync(path, picture);
let owner;
let viewer;

before(async () => {
  const ownerLogin = uniqueLogin('owner');
  const viewerLogin = uniqueLogin('viewer');
  owner = (await CC.users.signup({ login: ownerLogin, password: PASSWORD })).user;
  owner.login = ownerLogin;
  viewer = (await CC.users.signup({ login: viewerLogin, password: PASSWORD })).user;
  viewer.login = viewerLogin;
});

async function download(url) {
  const response = await fetch(url);
  assert.equal(response.status, 200, `${url} → ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

test('createAndUpload a private avatar, set it, and another user downloads it', async () => {
  await CC.createSession({ login: owner.login, password: PASSWORD });
  const blob = await CC.storage.createAndUpload({
    file: createReadStream(path), name: 'avatar.png', type: 'image/png', size: picture.length, public: false,
  });
  assert.equal(blob.size, picture.length);
  assert.match(blob.uid, /^[0-9a-f]{32}$/);
  const info = await CC.storage.getInfo(blob.id);
  assert.equal(info.blob.size, picture.length, 'complete read the real size from S3');
  assert.equal(info.blob.blob_status, 'complete');

  const { user } = await CC.users.update({ avatar: blob.uid });
  assert.equal(user.avatar, blob.uid);

  await CC.createSession({ login: viewer.login, password: PASSWORD });
  const seen = await CC.users.get(owner.id);
  const bytes = await download(CC.storage.privateUrl(seen.user.avatar));
  assert.ok(bytes.equals(picture), 'the same bytes come back');

  const anonymous = await fetch(CC.storage.publicUrl(blob.uid), { redirect: 'manual' });
  assert.equal(anonymous.status, 401, 'a private blob needs a session');
});

test('a public blob downloads through publicUrl without a session', async () => {
  await CC.createSession({ login: owner.login, password: PASSWORD });
  const blob = await CC.storage.createAndUpload({
    file: createReadStream(path), name: 'banner.png', type: 'image/png', size: picture.length, public: true,
  });
  const bytes = await download(CC.storage.publicUrl(blob.uid));
  assert.ok(bytes.equals(picture));
  await CC.storage.delete(blob.id);
  const gone = await fetch(CC.storage.publicUrl(blob.uid), { redirect: 'manual' });
  assert.equal(gone.status, 404);
});

test('creating a blob on an application session is refused', async () => {
  await CC.createSession();
  const error = await rejection(CC.storage.create({ name: 'x.png', content_type: 'image/png' }));
  assert.deepEqual([error.code, error.info], [403, { errors: ['Forbidden. Need user.'] }]);
});

test('storage.list pages the caller\'s own files, newest first', async () => {
  await CC.createSession({ login: viewer.login, password: PASSWORD });
  const first = await CC.storage.createAndUpload({
    file: createReadStream(path), name: 'first.png', type: 'image/png', size: picture.length, public: false,
  });
  const second = await CC.storage.createAndUpload({
    file: createReadStream(path), name: 'second.png', type: 'image/png', size: picture.length, public: true,
  });
  const listed = await CC.storage.list({ page: 1, per_page: 10 });
  assert.equal(listed.total_entries, 2);
  assert.equal(listed.current_page, 1);
  assert.deepEqual(listed.items.map((item) => item.blob.id), [second.id, first.id]);
  assert.equal(listed.items[1].blob.blob_status, 'complete');
  const paged = await CC.storage.list({ page: 2, per_page: 1 });
  assert.deepEqual(paged.items.map((item) => item.blob.id), [first.id]);
  await CC.storage.delete(first.id);
  const after = await CC.storage.list();
  assert.equal(after.total_entries, 1);
  assert.deepEqual(after.items.map((item) => item.blob.id), [second.id]);
});
