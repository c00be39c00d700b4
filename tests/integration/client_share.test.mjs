// The browser client shares one connection among the tabs of an origin
// (clients/js/sse-gateway.js): six pages of one origin in headless Chromium
// subscribe to overlapping streams; the gateway holds one SSE connection for
// all of them; a join with new streams makes the holder reconnect with the
// union; the holding page closes while events are being published and
// another takes over; every page gets exactly its streams' events, in
// order, once. A share:false page holds a connection of its own.
import { chromium } from 'playwright-core';
import { assert, assertEq, metric, onCleanup, run, sleep, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const db = await startPostgres();
const sql = await sqlClient(db.url);
// A short heartbeat so that the closed page's socket is noticed quickly.
const gw = await startGateway(db.url, ['--heartbeat', '1s']);
const stats = async () => (await fetch(gw.base + '/stats')).json();

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
onCleanup(() => browser.close());
const context = await browser.newContext(); // one origin, one storage partition: tabs share
const errors = [];

// A page of the gateway's origin with the client loaded and one subscription
// recording what it gets in window.got.
async function openPage(name, options) {
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
  await page.goto(gw.base + '/healthz');
  await page.evaluate(async (o) => {
    const { subscribe } = await import('/sse-gateway.js');
    window.got = [];
    window.statuses = [];
    window.sub = subscribe({ ...o, onEvent: (e) => window.got.push(e), onStatus: (s) => window.statuses.push(s) });
  }, options);
  await page.waitForFunction(() => window.statuses.includes('open'), null, { timeout: 10000 });
  return page;
}
const got = (page) => page.evaluate(() => window.got);

async function head() {
  return (await sql.query('SELECT sse.head() AS h')).rows[0].h;
}

// Events i = 0..n-1: every third on b, the rest on a; every fifth typed; a
// few on c, which no page wants.
const plan = (n) => Array.from({ length: n }, (_, i) => ({
  stream: i % 7 === 6 ? 'c' : i % 3 === 0 ? 'b' : 'a',
  type: i % 5 === 0 ? 'order-updated' : null,
  data: `e${i}`,
}));

test('six pages, one connection; the holder closes mid-publish; each page gets its events once, in order', async () => {
  // The first page subscribes first, so it takes the lock and holds the connection.
  const pages = [await openPage('p0', { streams: ['a'] })];
  pages.push(await openPage('p1', { streams: ['a'] }), await openPage('p2', { streams: ['a'] }));
  await waitFor(async () => (await stats()).connections === 1, 5000, 'one connection for three pages');
  const start = await head();

  // Pages 3-5 join with a new stream while events are published: the holder
  // reconnects with the union, from its last id, and loses nothing for 0-2.
  const events = plan(50);
  let published = 0, closedAt = -1;
  const publisher = (async () => {
    for (const e of events) {
      await sql.query('SELECT sse.publish($1, $2, $3)', [e.stream, e.data, e.type]);
      published++;
      if (published === 25) { closedAt = published; await pages[0].close(); } // the holder leaves
      await sleep(40);
    }
  })();
  for (const i of [3, 4, 5]) pages.push(await openPage(`p${i}`, { streams: ['a', 'b'], lastEventId: start }));
  await publisher;
  assertEq(closedAt, 25, 'the holder page closed after 25 events');

  const { rows } = await sql.query('SELECT position, stream, event, data FROM sse.events WHERE position > $1 ORDER BY position', [start]);
  assertEq(rows.length, 50, 'fifty events sequenced');
  const want = (streams) => rows.filter((r) => streams.includes(r.stream))
    .map((r) => ({ id: String(r.position), stream: r.stream, type: r.event || 'message', data: r.data }));
  const figures = [];
  for (let i = 1; i < 6; i++) {
    const streams = i < 3 ? ['a'] : ['a', 'b'];
    const expected = want(streams);
    await waitFor(async () => (await got(pages[i])).filter((e) => Number(e.id) > Number(start)).length >= expected.length,
      10000, `page ${i}: ${expected.length} events`);
    await sleep(300); // anything extra (a repeat) would arrive now
    const all = await got(pages[i]);
    const after = all.filter((e) => Number(e.id) > Number(start));
    const ids = after.map((e) => e.id);
    const repeats = ids.length - new Set(ids).size;
    const lost = expected.filter((e) => !ids.includes(e.id)).length;
    figures.push(`p${i} [${streams}]: ${after.length} events, lost ${lost}, repeated ${repeats}`);
    assertEq(after, expected, `page ${i} (${streams}): exactly its streams' events, in order, once`);
    assert(all.every((e) => streams.includes(e.stream)), `page ${i}: nothing of other streams`);
  }
  const s = await waitFor(async () => { const x = await stats(); return x.connections === 1 && x; }, 10000, 'one connection after the hand-over');
  assertEq(s.streams.map((x) => [x.stream, x.subscribers]).sort(), [['a', 1], ['b', 1]], 'the union, once');
  assertEq(errors, [], 'no page errors');
  console.log(`# 6 pages, 50 events (a: ${want(['a']).length}, b: ${want(['b']).length}, c: ${want(['c']).length}), ` +
    `holder closed after 25; SSE connections: ${s.connections}; ` +
    `connections opened in all: ${await metric(gw.base, 'sse_gateway_connections_total{result="accepted"}') ?? '?'}`);
  for (const f of figures) console.log('# ' + f);
  globalThis.sharePages = pages.slice(1);
});

test('a share:false page holds its own connection and still gets every event', async () => {
  const solo = await openPage('solo', { streams: ['b'], share: false });
  await waitFor(async () => (await stats()).connections === 2, 5000, 'two connections');
  const before = await head();
  for (let i = 0; i < 5; i++) await sql.query("SELECT sse.publish('b', $1)", [`solo${i}`]);
  const data = async (p) => (await got(p)).filter((e) => Number(e.id) > Number(before)).map((e) => e.data);
  const five = ['solo0', 'solo1', 'solo2', 'solo3', 'solo4'];
  await waitFor(async () => (await data(solo)).length === 5, 5000, 'solo page events');
  assertEq(await data(solo), five, 'the share:false page');
  const shared = globalThis.sharePages?.[4] ?? await openPage('shared', { streams: ['a', 'b'] });
  await waitFor(async () => (await data(shared)).length === 5, 5000, 'shared page events');
  assertEq(await data(shared), five, 'a shared page, meanwhile');
  await solo.evaluate(() => window.sub.close());
  await waitFor(async () => (await stats()).connections === 1, 5000, 'back to one connection');
});

await run();
