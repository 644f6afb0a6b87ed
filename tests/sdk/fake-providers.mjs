// Plays two outside services for the SDK suite, on a free loopback port:
//   GET /certs   Google's x509 endpoint (test certificate, Google's JSON format, max-age)
//   GET /verify  a customer's identity provider: token "good:<uid>" is user <uid>, else 404
//   GET /graph/debug_token, /graph/me  Facebook's Graph API for app "sdk-fb-app" (secret
//                "sdk-fb-secret"): token "fb:<uid>" is user <uid>, anything else is invalid
//   ANY /stall/…  an old ConnectyCube service that has stopped answering (10 s, then 500)
// Usage: node fake-providers.mjs PORT_FILE   (runs until killed)
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const certificate = readFileSync(new URL('../fixtures/firebase/test-cert-a.pem', import.meta.url), 'utf8');

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/certs') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' });
    res.end(JSON.stringify({ 'sdk-kid': certificate }));
    return;
  }
  if (url.pathname === '/graph/debug_token') {
    const token = url.searchParams.get('input_token') ?? '';
    const appToken = url.searchParams.get('access_token');
    const uid = token.startsWith('fb:') ? token.slice(3) : '';
    const valid = appToken === 'sdk-fb-app|sdk-fb-secret' && uid !== '';
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ data: valid
      ? { app_id: 'sdk-fb-app', type: 'USER', is_valid: true, expires_at: Math.floor(Date.now() / 1000) + 3600, user_id: uid }
      : { is_valid: false, error: { code: 190, message: 'Invalid OAuth access token' } } }));
    return;
  }
  if (url.pathname === '/graph/me') {
    const token = url.searchParams.get('access_token') ?? '';
    const proof = createHmac('sha256', 'sdk-fb-secret').update(token).digest('hex');
    if (url.searchParams.get('appsecret_proof') !== proof) {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'Invalid appsecret_proof', code: 100 } }));
      return;
    }
    const uid = token.slice(3);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ id: uid, name: `Facebook ${uid}`, email: `${uid}@facebook.example.com` }));
    return;
  }
  if (url.pathname.startsWith('/stall/')) {
    setTimeout(() => { res.writeHead(500); res.end(); }, 10000);
    return;
  }
  if (url.pathname === '/verify') {
    const token = url.searchParams.get('token') ?? '';
    const [kind, uid] = token.split(':');
    if (kind === 'good' && uid) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ user: { id: uid, login: `ext_${uid}`, name: 'Provider Person' } }));
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'User token is invalid' }));
    }
    return;
  }
  res.writeHead(404);
  res.end();
});

server.listen(0, '127.0.0.1', () => {
  writeFileSync(process.argv[2], JSON.stringify({ port: server.address().port }));
});
