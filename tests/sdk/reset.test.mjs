// Password reset through the official SDK and a real browser, against cube-auth serve (whose
// mail goes to DATA_DIR/outbox as .eml files): users.resetPassword(email), then the link in
// the mail resets the password, by a form post and in headless Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';
import { app, init, uniqueLogin, PASSWORD, dataDir, api, rejection, sleep } from './lib.mjs';

const credentials = app();
const NEW_PASSWORD = 'a-fresh-passphrase-9';

function decode(mail) {
  if (!/quoted-printable/i.test(mail)) return mail;
  return mail.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

/** The reset link mailed to `email`, waiting for the server's mail drainer. */
async function resetLink(email) {
  const outbox = join(dataDir, 'outbox');
  for (let i = 0; i < 100; i += 1) {
    let files = [];
    try { files = readdirSync(outbox).filter((f) => f.endsWith('.eml')); } catch { /* not created yet */ }
    for (const file of files) {
      const mail = decode(readFileSync(join(outbox, file), 'utf8'));
      if (mail.includes(`To: ${email}`)) {
        const match = mail.match(/https?:\/\/\S+\/password-reset\?token=[0-9a-f]{64}/);
        assert.ok(match, mail);
        return match[0];
      }
    }
    await sleep(100);
  }
  throw new Error(`no reset mail for ${email}`);
}

async function newUser(CC) {
  const login = uniqueLogin('reset');
  const email = `${login}@example.com`;
  await CC.users.signup({ login, email, password: PASSWORD });
  return { login, email };
}

test('users.resetPassword mails a link that sets a new password', async () => {
  const CC = init(credentials);
  const user = await newUser(CC);
  await CC.createSession();
  await CC.users.resetPassword(user.email);
  await CC.users.resetPassword(`nobody-${user.email}`);
  const link = await resetLink(user.email);
  assert.ok(link.startsWith(api), link);
  const token = new URL(link).searchParams.get('token');
  const response = await fetch(`${api}/password-reset`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'text/html' },
    body: new URLSearchParams({ token, password: NEW_PASSWORD, password_confirmation: NEW_PASSWORD }),
  });
  assert.equal(response.status, 200);
  assert.match(await response.text(), /Password changed/);
  const old = await rejection(CC.createSession({ login: user.login, password: PASSWORD }));
  assert.equal(old.code, 401);
  const session = await CC.createSession({ login: user.login, password: NEW_PASSWORD });
  assert.ok(session.user_id);
});

test('the reset page works in headless Chromium', async () => {
  const CC = init(credentials);
  const user = await newUser(CC);
  await CC.createSession();
  await CC.users.resetPassword(user.email);
  const link = await resetLink(user.email);
  const shots = process.env.SCREENSHOT_DIR ?? mkdtempSync(join(tmpdir(), 'cube-auth-shots-'));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 480, height: 640 } });
    const shown = await page.goto(link);
    assert.equal(shown.status(), 200);
    assert.match(shown.headers()['content-security-policy'], /^default-src 'none'/);
    assert.equal(await page.title(), 'Choose a new password');
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('Repeat the new password').fill(NEW_PASSWORD);
    await page.screenshot({ path: join(shots, 'reset-form.png') });
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Set new password' }).click()]);
    assert.equal(await page.title(), 'Password changed');
    assert.match(await page.getByRole('status').textContent(), /Your password has been changed/);
    await page.screenshot({ path: join(shots, 'reset-done.png') });
  } finally {
    await browser.close();
  }
  const session = await CC.createSession({ login: user.login, password: NEW_PASSWORD });
  assert.ok(session.user_id);
});
