// JWT authorization with tokens made here (HMAC from node:crypto):
// 401 for missing, badly signed, alg none, other algorithm, expired,
// not-yet-valid and tampered tokens; 403 when the claims do not cover the
// stream; tokens from the header, the cookie and the query; gateway:expired
// when a token runs out; publish rights; a cross-origin page in Chromium
// subscribing with its cookie and withCredentials.
import crypto from 'node:crypto';
import http from 'node:http';
import { chromium } from 'playwright-core';
import {
  assert, assertEq, freePort, httpGet, onCleanup, rawSse, run, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const SECRET = crypto.randomBytes(24).toString('hex');
const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
function token(claims, { alg = 'HS256', secret = SECRET } = {}) {
  const head = b64({ alg, typ: 'JWT' }) + '.' + b64(claims);
  if (alg === 'none') return head + '.';
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  return head + '.' + crypto.createHmac(hash, secret).update(head).digest('base64url');
}
const now = () => Math.floor(Date.now() / 1000);
const orders = { sse: { subscribe: ['orders:*'], publish: ['orders:*'] }, exp: now() + 3600 };

const db = await startPostgres();
const pagePort = await freePort();
// Another origin on the same site (another port), as app.example.com and
// sse.example.com would be: browsers send the cookie, CORS decides.
const pageOrigin = `http://127.0.0.1:${pagePort}`;
const gw = await startGateway(db.url, ['--jwt-secret', SECRET, '--cors-origin', pageOrigin]);
const sql = await sqlClient(db.url);
const sub = (p, headers = {}) => httpGet(gw.base, p, headers).catch((e) => ({ status: 0, body: String(e) }));

// An SSE request's status without waiting for the stream to end.
async function subStatus(path, headers = {}) {
  const c = await rawSse(gw.port, path, headers);
  c.close();
  return c.status;
}

test('bad tokens are 401, tokens that do not cover the stream 403', async () => {
  const good = token(orders);
  const [h, p, s] = good.split('.');
  const cases = [
    [undefined, 'missing'],
    [token(orders, { secret: 'wrong' }), 'wrongly signed'],
    [token(orders, { alg: 'none' }), 'alg none'],
    [token(orders, { alg: 'HS512' }), 'another algorithm (HS512, same secret)'],
    [token({ ...orders, exp: now() - 10 }), 'expired'],
    [token({ ...orders, nbf: now() + 600 }), 'not yet valid'],
    [`${h}.${b64({ sse: { subscribe: ['*'] }, exp: now() + 3600 })}.${s}`, 'tampered payload'],
    [`${h}.${p}`, 'no signature part'],
    ['garbage', 'garbage'],
  ];
  for (const [t, what] of cases) {
    const r = await sub('/events?stream=orders:1', t ? { Authorization: `Bearer ${t}` } : {});
    assertEq(r.status, 401, what);
    assert(/^\{"error":".+"\}$/.test(r.body), `${what}: JSON error body`);
    assert(r.headers.get('www-authenticate')?.startsWith('Bearer'), `${what}: WWW-Authenticate`);
  }
  assertEq(await subStatus('/events?stream=orders:1', { Authorization: `Bearer ${good}` }), 200, 'orders:* covers orders:1');
  assertEq((await sub('/events?stream=chat:1', { Authorization: `Bearer ${good}` })).status, 403, 'not chat:1');
  assertEq((await sub('/events?stream=orders-1', { Authorization: `Bearer ${good}` })).status, 403, 'not orders-1');
  assertEq((await sub('/events?stream=orders:1&stream=chat:1', { Authorization: `Bearer ${good}` })).status, 403, 'every stream must be covered');
  for (const p of ['/healthz', '/readyz']) assertEq((await sub(p)).status, 200, `${p} needs no token`);
  assertEq((await sub('/metrics')).status, 401, '/metrics needs the admin claim (admin_data.test.mjs)');
});

test('header, cookie and query tokens all work', async () => {
  const t = token(orders);
  assertEq(await subStatus('/events?stream=orders:2', { Authorization: `Bearer ${t}` }), 200, 'Authorization header');
  assertEq(await subStatus('/events?stream=orders:2', { Cookie: `theme=dark; sse_token=${t}` }), 200, 'sse_token cookie');
  assertEq(await subStatus(`/events?stream=orders:2&token=${t}`), 200, '?token=');
  assertEq((await sub('/events?stream=orders:2&token=garbage')).status, 401, 'a bad query token');
});

test('a token expiring in 2 s gets gateway:expired and the socket closes', async () => {
  const t = token({ sse: { subscribe: ['orders:*'] }, exp: now() + 2 });
  const c = await rawSse(gw.port, '/events?stream=orders:3', { Authorization: `Bearer ${t}` });
  assertEq(c.status, 200, 'accepted while valid');
  await waitFor(() => c.ended, 8000, 'the socket closes when the token expires');
  const s = c.records.find((r) => r.event === 'gateway:expired');
  assert(s && s.id === undefined, 'gateway:expired without an id');
});

test('publishing needs publish rights', async () => {
  const post = (t, stream) => fetch(gw.base + '/publish', {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...(t ? { Authorization: `Bearer ${t}` } : {}) },
    body: JSON.stringify({ stream, data: 'x' }),
  });
  assertEq((await post(undefined, 'orders:1')).status, 401, 'no token');
  assertEq((await post(token({ sse: { subscribe: ['orders:*'] }, exp: now() + 60 }), 'orders:1')).status, 403, 'subscribe rights only');
  assertEq((await post(token(orders), 'chat:1')).status, 403, 'publish rights for other streams');
  assertEq((await post(token(orders), 'orders:1')).status, 201, 'publish rights');
});

test('Chromium: a page on an allowed origin subscribes with its cookie and withCredentials', async () => {
  const html = `<!doctype html><script>
    window.got = []; window.errors = 0;
    const es = new EventSource('${gw.base}/events?stream=orders:web', { withCredentials: true });
    es.onmessage = (e) => window.got.push(e.data);
    es.onerror = () => { window.errors++; };
  </script>`;
  const server = http.createServer((req, res) => { res.setHeader('Content-Type', 'text/html'); res.end(html); });
  await new Promise((r) => server.listen(pagePort, '127.0.0.1', r));
  onCleanup(() => server.close());
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
  });
  onCleanup(() => browser.close());
  const context = await browser.newContext();
  // The cookie an application on this site would set after login.
  await context.addCookies([{ name: 'sse_token', value: token(orders), url: gw.base, sameSite: 'Lax' }]);
  const page = await context.newPage();
  await page.goto(pageOrigin + '/');
  const admin = { Authorization: `Bearer ${token({ sse: { admin: true }, exp: now() + 600 })}` };
  await waitFor(async () => (await (await fetch(gw.base + '/stats', { headers: admin })).json()).streams.some((s) => s.stream === 'orders:web'), 10000, 'the page subscribed');
  await sql.query(`SELECT sse.publish('orders:web', 'with a cookie')`);
  await page.waitForFunction(() => window.got.length > 0, null, { timeout: 10000 });
  assertEq(await page.evaluate(() => window.got), ['with a cookie'], 'the page got the event');

  const anonymous = await (await browser.newContext()).newPage();
  await anonymous.goto(pageOrigin + '/');
  await waitFor(async () => (await anonymous.evaluate(() => window.errors)) > 0, 10000, 'without the cookie the page is refused');
  assertEq(await anonymous.evaluate(() => window.got), [], 'and gets nothing');
  await browser.close();
});

await run();
