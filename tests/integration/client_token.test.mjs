// Tokens in the browser client (clients/js/sse-gateway.js), with
// --jwt-secret: tokens that expire in 2 s, and a `token` function that mints
// fresh ones. A Chromium page (sharing on) and a Node subscriber (share:false)
// lose nothing published across three expiries. What reaches the gateway is
// recorded by a TCP relay in front of it: every subscription carries its
// token in Authorization, never in the URL, and every connection carries
// Last-Event-ID (the first ones because they start from sse.head()). A 401 (a token that expired before it was used) makes the
// client ask for another token.
import crypto from 'node:crypto';
import net from 'node:net';
import { chromium } from 'playwright-core';
import { subscribe } from '../../clients/js/sse-gateway.js';
import { assert, assertEq, onCleanup, run, sleep, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const SECRET = crypto.randomBytes(24).toString('hex');
const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
function token(claims) {
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims);
  return head + '.' + crypto.createHmac('sha256', SECRET).update(head).digest('base64url');
}
const now = () => Math.floor(Date.now() / 1000);
const shortToken = () => token({ sse: { subscribe: ['t'] }, exp: now() + 2 });

const db = await startPostgres();
const sql = await sqlClient(db.url);
const gw = await startGateway(db.url, ['--jwt-secret', SECRET]);

// The relay: passes bytes both ways and records the head of every request
// (GETs only here, so each request is a head and nothing else).
const requests = [];
const relay = net.createServer((client) => {
  const upstream = net.connect(gw.port, '127.0.0.1');
  let buf = '';
  client.on('data', (d) => {
    buf += d.toString('latin1');
    for (let end; (end = buf.indexOf('\r\n\r\n')) >= 0; buf = buf.slice(end + 4)) {
      const [line, ...fields] = buf.slice(0, end).split('\r\n');
      const headers = Object.fromEntries(fields.map((f) => [f.slice(0, f.indexOf(':')).toLowerCase(), f.slice(f.indexOf(':') + 1).trim()]));
      requests.push({ target: line.split(' ')[1], headers });
    }
    upstream.write(d);
  });
  upstream.on('data', (d) => client.write(d));
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.on('error', () => {});
  upstream.on('error', () => {});
});
await new Promise((r) => relay.listen(0, '127.0.0.1', r));
onCleanup(() => relay.close());
const base = `http://127.0.0.1:${relay.address().port}`;
const subscriptions = () => requests.filter((r) => r.target.startsWith('/events'));

test('three expiries, no event lost; tokens in a header, Last-Event-ID on every reconnect', async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  onCleanup(() => browser.close());
  const page = await browser.newPage();
  let pageTokens = 0;
  await page.exposeFunction('mintToken', () => { pageTokens++; return shortToken(); });
  await page.goto(base + '/healthz');
  // Both start from the head, so every connection, the first too, has a cursor to send.
  const { rows: [{ h: start }] } = await sql.query('SELECT sse.head() AS h');
  await page.evaluate(async (start) => {
    const { subscribe } = await import('/sse-gateway.js');
    window.got = [];
    window.statuses = [];
    subscribe({ streams: ['t'], lastEventId: start, token: () => window.mintToken(),
      onEvent: (e) => window.got.push(e), onStatus: (s) => window.statuses.push(s) });
  }, start);

  let nodeTokens = 0;
  const nodeGot = [];
  const sub = subscribe({ url: base + '/events', streams: ['t'], share: false, lastEventId: start,
    token: async () => { nodeTokens++; return shortToken(); }, onEvent: (e) => nodeGot.push(e) });
  onCleanup(() => sub.close());
  await page.waitForFunction(() => window.statuses.includes('open'), null, { timeout: 10000 });
  const admin = { Authorization: `Bearer ${token({ sse: { admin: true }, exp: now() + 600 })}` };
  await waitFor(async () => (await (await fetch(gw.base + '/stats', { headers: admin })).json()).connections === 2, 5000, 'both subscribed');

  // An event every 100 ms until both clients have had three tokens expire
  // (a fourth minted), and ten more after that; at most 20 s.
  const sent = [];
  const started = Date.now();
  for (let i = 0, extra = 10; extra > 0 && Date.now() < started + 20000; i++) {
    await sql.query("SELECT sse.publish('t', $1)", [`t${i}`]);
    sent.push(`t${i}`);
    if (pageTokens >= 4 && nodeTokens >= 4) extra--;
    await sleep(100);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const pageData = async () => (await page.evaluate(() => window.got)).map((e) => e.data);
  await waitFor(async () => (await pageData()).length >= sent.length && nodeGot.length >= sent.length, 10000,
    `${sent.length} events in both`);
  await sleep(300);
  assertEq(await pageData(), sent, 'the page: every event once, in order');
  assertEq(nodeGot.map((e) => e.data), sent, 'Node: every event once, in order');
  assert(pageTokens >= 4 && nodeTokens >= 4, `a token per expiry (page ${pageTokens}, Node ${nodeTokens})`);

  const subs = subscriptions();
  assert(subs.length >= 8, `at least four subscriptions each (${subs.length})`);
  for (const r of subs) {
    assert(!/[?&]token=/.test(r.target), `no token in the URL: ${r.target}`);
    assert(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/.test(r.headers.authorization || ''), `a Bearer token: ${r.target}`);
  }
  for (const r of subs) assert(/^\d+$/.test(r.headers['last-event-id'] || ''), `Last-Event-ID: ${JSON.stringify(r.headers)}`);
  console.log(`# ${sent.length} events over ${seconds} s; tokens minted: page ${pageTokens}, Node ${nodeTokens}; ` +
    `subscriptions seen by the gateway: ${subs.length}, with a query token: 0; lost 0, repeated 0`);
});

test('a 401 makes the client ask for another token', async () => {
  const tokens = [token({ sse: { subscribe: ['t'] }, exp: now() - 5 }), token({ sse: { subscribe: ['t'] }, exp: now() + 600 })];
  let asked = 0;
  const statuses = [];
  const sub = subscribe({ url: gw.base + '/events', streams: ['t'], share: false,
    token: () => tokens[Math.min(asked++, 1)], onStatus: (s) => statuses.push(s) });
  onCleanup(() => sub.close());
  await waitFor(() => statuses.includes('open'), 5000, 'open after the 401');
  assertEq(asked, 2, 'asked twice: the expired token, then a good one');
  sub.close();
});

await run();
