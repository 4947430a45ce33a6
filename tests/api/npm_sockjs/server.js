// An NGUC-compatible server on the reference SockJS server (npm sockjs 0.3.24),
// for tests/api/test_npm_sockjs.py: tokens live 4 s, the first connection gets
// 4 events then c[3000,"Go away!"], the second 5 events about 1 s apart.
const http = require('http');
const sockjs = require('sockjs');
const crypto = require('crypto');
let tokens = {}; let refresh = {}; let conns = 0; let reauth = 0; let refreshes = 0; let sent = 0;
function issue() { const a = crypto.randomBytes(8).toString('hex'), r = crypto.randomBytes(8).toString('hex');
  tokens[a] = Date.now() + 4000; refresh[r] = true; return {access_token: a, token_type: 'Bearer', expires_in: 4, refresh_token: r}; }
const echo = sockjs.createServer({log: () => {}});
echo.on('connection', function (conn) {
  conns++; const n = conns; let authed = false;
  conn.on('data', function (msg) {
    const m = JSON.parse(msg); const tok = m[1].authorization.replace('Bearer ', '');
    if (!(tok in tokens) || tokens[tok] < Date.now()) { conn.close(2010, 'Auth failed'); return; }
    if (authed) { reauth++; return; } authed = true;
    if (n === 1) {
      let i = 0; const t = setInterval(() => { sent++; conn.write(JSON.stringify(['UserStatus', {pbx_user_id: '1', status: String(i), seq: sent}]));
        if (++i === 4) { clearInterval(t); setTimeout(() => conn.close(3000, 'Go away!'), 200); } }, 300);
    } else {
      let i = 0; const t = setInterval(() => { sent++; conn.write(JSON.stringify(['Queue', {queue: {id: '5', waiting: String(i)}, members: [], callers: [], seq: sent, text: 'åäö ☎'}]));
        if (++i === 5) clearInterval(t); }, 1100);
    }
  });
});
const server = http.createServer((req, res) => {
  let body = ''; req.on('data', c => body += c); req.on('end', () => {
    if (req.url === '/oauth2/user-credentials') {
      const p = new URLSearchParams(body);
      if (p.get('grant_type') === 'password' && p.get('password') === 'p' && p.has('tfa')) { res.end(JSON.stringify(issue())); return; }
      if (p.get('grant_type') === 'refresh_token' && refresh[p.get('refresh_token')]) { delete refresh[p.get('refresh_token')]; refreshes++; res.end(JSON.stringify(issue())); return; }
      res.statusCode = 401; res.end('{}'); return;
    }
    if (req.url === '/stats') { res.end(JSON.stringify({conns, reauth, refreshes, sent})); return; }
    res.statusCode = 404; res.end();
  });
});
echo.installHandlers(server, {prefix: '/events'});
server.listen(Number(process.argv[2]), "127.0.0.1", () => console.log("listening"));
