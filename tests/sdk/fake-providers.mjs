// Plays two outside services for the SDK suite, on a free loopback port:
//   GET /certs   Google's x509 endpoint (test certificate, Google's JSON format, max-age)
//   GET /verify  a customer's identity provider: token "good:<uid>" is user <uid>, else 404
// Usage: node fake-providers.mjs PORT_FILE   (runs until killed)
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';

const certificate = readFileSync(new URL('../fixtures/firebase/test-cert-a.pem', import.meta.url), 'utf8');

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/certs') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' });
    res.end(JSON.stringify({ 'sdk-kid': certificate }));
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
