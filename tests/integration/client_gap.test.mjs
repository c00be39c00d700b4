// gateway:gap reaches onGap (clients/js/sse-gateway.js): retention prunes
// events (--retention 1s, pruned by the leader within about 5 s) that a
// small window (--window-events 4) no longer holds, so a replay from below
// them starts with gateway:gap. In Node (share:false), and in Chromium with
// sharing on, where the holder relays the gap only to the tab whose cursor
// is below the pruned events, not to a live tab beside it.
import { chromium } from 'playwright-core';
import { subscribe } from '../../clients/js/sse-gateway.js';
import { assert, assertEq, metric, onCleanup, run, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const db = await startPostgres();
const sql = await sqlClient(db.url);
const gw = await startGateway(db.url, ['--retention', '1s', '--window-events', '4']);

for (let i = 0; i < 10; i++) await sql.query("SELECT sse.publish('g', $1)", [`old${i}`]);
const pruned = async () => Number((await sql.query('SELECT pruned_through AS p FROM sse.state')).rows[0].p);
await waitFor(async () => (await pruned()) >= 10, 10000, 'retention pruned the ten events');
const oldest = (await pruned()) + 1;

test('Node: a replay from below the pruned events starts with onGap', async () => {
  const gaps = [], got = [];
  const sub = subscribe({ url: gw.base + '/events', streams: ['g', 'gn'], lastEventId: 1, share: false,
    onGap: (g) => gaps.push(g), onEvent: (e) => got.push(e) });
  onCleanup(() => sub.close());
  await waitFor(() => gaps.length === 1, 5000, 'the gap');
  assertEq(gaps[0], { last_event_id: 1, oldest_position: oldest }, 'gateway:gap data');
  await sql.query("SELECT sse.publish('gn', 'after')"); // not on g: the tabs below replay g only
  await waitFor(() => got.length === 1, 5000, 'a live event after the gap');
  assertEq(got.map((e) => e.data), ['after'], 'and no pruned event');
  sub.close();
});

test('Chromium, shared: the gap reaches the tab that missed events, not the live one', async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  onCleanup(() => browser.close());
  const context = await browser.newContext();
  const open = async (options) => {
    const page = await context.newPage();
    await page.goto(gw.base + '/healthz');
    await page.evaluate(async (o) => {
      const { subscribe } = await import('/sse-gateway.js');
      Object.assign(window, { got: [], gaps: [], statuses: [] });
      subscribe({ ...o, onEvent: (e) => window.got.push(e.data), onGap: (g) => window.gaps.push(g), onStatus: (s) => window.statuses.push(s) });
    }, options);
    await page.waitForFunction(() => window.statuses.includes('open'), null, { timeout: 10000 });
    return page;
  };
  const live = await open({ streams: ['g'] });
  const behind = await open({ streams: ['g'], lastEventId: 2 });
  await behind.waitForFunction(() => window.gaps.length === 1, null, { timeout: 5000 });
  // The Node test's event may have been pruned since: the oldest can only have moved up.
  const [gap] = await behind.evaluate(() => window.gaps);
  assert(gap.last_event_id === 2 && gap.oldest_position >= oldest && gap.oldest_position <= (await pruned()) + 1,
    `the tab behind: ${JSON.stringify(gap)}`);
  await sql.query("SELECT sse.publish('g', 'after2')");
  for (const p of [live, behind]) await p.waitForFunction(() => window.got.includes('after2'), null, { timeout: 5000 });
  assertEq(await live.evaluate(() => window.gaps), [], 'the live tab missed nothing');
  assertEq(await behind.evaluate(() => window.got), ['after2'], 'the tab behind: no pruned event, the live one');
  assert((await metric(gw.base, 'sse_gateway_gaps_total')) >= 2, 'the gateway counted the gaps');
  console.log(`# pruned through ${oldest - 1}; gaps: Node 1, shared tab behind 1, live tab 0`);
});

await run();
