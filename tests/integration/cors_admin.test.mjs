// CORS (--cors-origin) and the admin daemon (--admin-listen). A page served
// from an allowed loopback origin subscribes across origins with
// withCredentials in headless Chromium and receives events; a page from
// another origin receives nothing. The admin daemon answers health checks
// while the SSE daemon is at its connection limit.
import http from 'node:http';
import net from 'node:net';
import { chromium } from 'playwright-core';
import {
  assert, assertEq, freePort, httpGet, onCleanup, run, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const db = await startPostgres();
const pagePort = await freePort();
const allowed = `http://127.0.0.2:${pagePort}`;
const other = `http://127.0.0.3:${pagePort}`;
const adminPort = await freePort();
const gw = await startGateway(db.url, ['--cors-origin', `https://unused.example, ${allowed}`,
  '--admin-listen', `127.0.0.1:${adminPort}`, '--max-connections', '4']);
const admin = `http://127.0.0.1:${adminPort}`;

test('allowed origins get CORS headers, others a 403, preflights a 204', async () => {
  const ok = await httpGet(gw.base, '/healthz', { Origin: allowed });
  assertEq(ok.status, 200, 'allowed origin');
  assertEq(ok.headers.get('access-control-allow-origin'), allowed, 'Allow-Origin echoes the origin');
  assertEq(ok.headers.get('access-control-allow-credentials'), 'true', 'credentials allowed');
  const denied = await httpGet(gw.base, '/events?stream=c', { Origin: other });
  assertEq(denied.status, 403, 'other origin refused');
  assertEq(denied.body, '{"error":"origin not allowed"}', 'error body');
  const pre = await fetch(gw.base + '/events?stream=c', {
    method: 'OPTIONS', headers: { Origin: allowed, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
  });
  assertEq(pre.status, 204, 'preflight');
  assert(/authorization/i.test(pre.headers.get('access-control-allow-headers')), 'Authorization allowed');
  const same = await httpGet(gw.base, '/healthz', { Origin: gw.base });
  assertEq(same.status, 200, 'the gateway\'s own origin needs no list entry');
  assertEq(same.headers.get('access-control-allow-origin'), null, 'and gets no CORS headers');
});

test('headless Chromium: withCredentials EventSource from an allowed origin receives events; another origin does not', async () => {
  const html = `<!doctype html><script>
    window.got = []; window.errors = 0;
    const es = new EventSource('${gw.base}/events?stream=cross', { withCredentials: true });
    es.onmessage = (e) => window.got.push(e.lastEventId + ':' + e.data);
    es.onerror = () => { window.errors++; };
  </script>`;
  const server = http.createServer((req, res) => { res.setHeader('Content-Type', 'text/html'); res.end(html); });
  await new Promise((r) => server.listen(pagePort, '0.0.0.0', r));
  onCleanup(() => server.close());
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
  });
  onCleanup(() => browser.close());
  const good = await browser.newPage();
  await good.goto(allowed + '/');
  const bad = await browser.newPage();
  await bad.goto(other + '/');
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).registered === 1, 10000, 'the allowed page registered');
  await waitFor(async () => (await bad.evaluate(() => window.errors)) > 0, 10000, 'the other page fails');
  const sql = await sqlClient(db.url);
  await sql.query(`SELECT sse.publish('cross', 'across origins')`);
  await good.waitForFunction(() => window.got.length > 0, null, { timeout: 10000 });
  const { rows } = await sql.query(`SELECT position::text AS id FROM sse.events WHERE stream = 'cross'`);
  assertEq(await good.evaluate(() => window.got), [`${rows[0].id}:across origins`], 'the allowed page got the event');
  assertEq(await bad.evaluate(() => window.got), [], 'the other page got nothing');
  await browser.close();
});

test('--admin-listen serves health, readiness, metrics and stats, not subscriptions, even when the SSE daemon is at capacity', async () => {
  for (const p of ['/healthz', '/readyz', '/metrics', '/stats']) assertEq((await httpGet(admin, p)).status, 200, `admin ${p}`);
  assertEq((await httpGet(admin, '/events?stream=a')).status, 404, 'no subscriptions on the admin daemon');
  // Fill the SSE daemon to --max-connections; the extra clients are being
  // turned away with gateway:overloaded meanwhile.
  const socks = [];
  for (let i = 0; i < 60; i++) {
    const s = net.connect(gw.port, '127.0.0.1');
    s.on('error', () => {});
    s.on('connect', () => s.write('GET /events?stream=full HTTP/1.1\r\nHost: x\r\n\r\n'));
    socks.push(s);
  }
  onCleanup(() => socks.forEach((s) => s.destroy()));
  await waitFor(async () => (await (await fetch(admin + '/stats')).json()).connections >= 4, 5000, 'the SSE daemon is at capacity');
  assertEq((await httpGet(admin, '/healthz')).status, 200, 'admin /healthz answers while the SSE daemon is at capacity');
  socks.forEach((s) => s.destroy());
});

await run();
