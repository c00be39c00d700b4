// Churn in shared tabs (clients/js/sse-gateway.js): while events are
// published to three streams every 15 ms, headless Chromium pages of one
// origin subscribe to random sets of streams (live, or from a recent id),
// close subscriptions, close whole pages (often the holder: the oldest
// page), and open new ones, 30 steps chosen by a seeded generator. Every
// subscription must get exactly the events of its streams after its start,
// in order, with no hole and no repeat: up to the end for those still open
// (which must have got some), up to the last one it got for those closed.
import { chromium } from 'playwright-core';
import { assertEq, onCleanup, run, sleep, sqlClient, startGateway, startPostgres, test } from './lib/harness.mjs';

const db = await startPostgres();
const sql = await sqlClient(db.url);
const gw = await startGateway(db.url, ['--heartbeat', '1s']);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
onCleanup(() => browser.close());
const context = await browser.newContext();

let seed = Number(process.env.CHURN_SEED || 7);
const random = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const head = async () => Number((await sql.query('SELECT sse.head() AS h')).rows[0].h);
const pages = [], finished = [], errors = [];

async function newPage() {
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(gw.base + '/healthz');
  await page.evaluate(async () => { window.client = await import('/sse-gateway.js'); window.subs = []; });
  pages.push(page);
  return page;
}

async function subscribeOn(page) {
  const streams = ['a', 'b', 'c'].filter(() => random() < 0.5);
  if (!streams.length) streams.push('a');
  const from = random() < 0.3 ? null : String(Math.max(0, (await head()) - Math.floor(random() * 30)));
  await page.evaluate(({ streams, from }) => {
    const s = { streams, from, got: [], closed: false };
    s.sub = window.client.subscribe({ streams, lastEventId: from, onEvent: (e) => s.got.push(e.id) });
    window.subs.push(s);
  }, { streams, from });
}

const collect = (page) => page.evaluate(() => window.subs.map(({ streams, from, got, closed }) => ({ streams, from, got, closed })));

test('subscriptions, pages and holders come and go; no event lost or repeated', async () => {
  for (let i = 0; i < 4; i++) await subscribeOn(await newPage());
  let publishing = true, n = 0;
  const publisher = (async () => {
    while (publishing) {
      await sql.query('SELECT sse.publish($1, $2)', [['a', 'b', 'c'][n % 3], `x${n}`]);
      n++;
      await sleep(15);
    }
  })();
  let holdersClosed = 0;
  for (let step = 0; step < 30; step++) {
    await sleep(100 + random() * 200);
    const x = random();
    const open = pages.filter((p) => !p.isClosed());
    if (x < 0.15 && open.length > 2) { // the oldest page, most likely the holder
      finished.push(...(await collect(open[0])).map((s) => ({ ...s, closed: true })));
      await open[0].close();
      holdersClosed++;
      continue;
    }
    const page = open[Math.floor(random() * open.length)];
    if (x < 0.5) await subscribeOn(page);
    else if (x < 0.7) {
      await page.evaluate((k) => {
        const live = window.subs.filter((s) => !s.closed);
        if (live.length) { const s = live[k % live.length]; s.sub.close(); s.closed = true; }
      }, Math.floor(random() * 10));
    } else if (x < 0.85) await subscribeOn(await newPage());
  }
  await sleep(1000); // every open subscription, the newest too, sees events of its streams
  publishing = false;
  await publisher;
  const last = await head();
  const all = async () => [...finished, ...(await Promise.all(pages.filter((p) => !p.isClosed()).map(collect))).flat()];
  // Wait until every open subscription that has its streams' last event has it.
  const { rows } = await sql.query('SELECT position::text AS id, stream FROM sse.events ORDER BY position');
  const lastOf = (streams) => rows.filter((r) => streams.includes(r.stream)).at(-1)?.id;
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline && (await all()).some((s) => !s.closed && !s.got.includes(lastOf(s.streams)))) await sleep(100);
  await sleep(300);

  let deliveries = 0;
  const bad = [];
  for (const s of await all()) {
    deliveries += s.got.length;
    if (!s.got.length && s.closed) continue; // closed before its first event
    if (!s.got.length) { bad.push({ streams: s.streams, from: s.from, closed: false, lost: 'everything' }); continue; }
    const first = s.from != null ? Number(s.from) : Number(s.got[0]) - 1; // a live one starts at its first event
    const end = s.closed ? Number(s.got.at(-1)) : last;
    const want = rows.filter((r) => s.streams.includes(r.stream) && Number(r.id) > first && Number(r.id) <= end).map((r) => r.id);
    if (JSON.stringify(want) !== JSON.stringify(s.got)) {
      bad.push({ streams: s.streams, from: s.from, closed: s.closed, lost: want.filter((w) => !s.got.includes(w)).slice(0, 5),
        extra: s.got.filter((g, i) => !want.includes(g) || s.got.indexOf(g) !== i).slice(0, 5) });
    }
  }
  assertEq(bad, [], 'every subscription: its events, in order, once');
  assertEq(errors, [], 'no page errors');
  console.log(`# ${(await all()).length} subscriptions on ${pages.length} pages (${holdersClosed} oldest pages closed), ` +
    `${n} events, ${deliveries} deliveries; lost 0, repeated 0`);
});

await run();
