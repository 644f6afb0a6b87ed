// Shared helpers for the SDK suite. Each *.test.mjs runs in its own Node process, because the
// SDK's configuration is a process-wide singleton.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import CC from 'connectycube';

export const api = process.env.CUBE_AUTH_API;
export const dataDir = process.env.CUBE_AUTH_DATA_DIR;
if (!api || !dataDir) throw new Error('run through tests/sdk/run.sh (CUBE_AUTH_API and CUBE_AUTH_DATA_DIR)');

/** Credentials written by `cube-auth serve` (dev app) or `cube-auth apps create --json`. */
export function app(file = 'dev-app.json') {
  return JSON.parse(readFileSync(join(dataDir, file), 'utf8'));
}

/** Points the SDK at our server with `app`'s credentials. */
export function init(credentials, extra = {}) {
  CC.init(
    { appId: credentials.application_id, authKey: credentials.auth_key },
    { endpoints: { api_url: api }, debug: { mode: 0 }, timeout: 15000, ...extra },
  );
  return CC;
}

/** A login nobody else in this run uses. */
export function uniqueLogin(prefix) {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export const PASSWORD = 'sdk-suite-password-1';

/** Awaits a promise that must reject, and returns what it rejected with. */
export async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
