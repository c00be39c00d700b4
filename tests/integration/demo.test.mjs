// The demo page (--demo) in headless Chromium: it connects at once, with no
// click, replays what is retained, shows untyped and typed events with their
// id, stream and type, publishes through its form, adds a stream, and shows
// the instance's /stats. A screenshot of the page is saved as a test artifact
// (SSE_TEST_ARTIFACTS, else the system's temporary folder) and its path printed.
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { assert, assertEq, onCleanup, run, sqlClient, startGateway, startPostgres, test } from './lib/harness.mjs';

const db = await startPostgres();
// A short heartbeat: the socket the page leaves when it adds a stream is noticed quickly.
const gw = await startGateway(db.url, ['--demo', '--heartbeat', '1s']);
const sql = await sqlClient(db.url);

test('the demo page connects at once and shows every event with its id, stream and type', async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  onCleanup(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await sql.query("SELECT sse.publish('demo', 'published before the page opened')");

  await page.goto(gw.base + '/');
  await page.waitForFunction(() => document.querySelector('#status').textContent === 'open', null, { timeout: 10000 });
  const rows = () => page.$$eval('#events tr', (trs) => trs.map((tr) => Object.fromEntries(
    [...tr.children].map((td) => [td.className, td.textContent]))));
  const find = async (data) => {
    await page.waitForFunction((d) => [...document.querySelectorAll('#events td.data')].some((td) => td.textContent === d),
      data, { timeout: 10000 });
    return (await rows()).find((r) => r.data === data);
  };
  const position = async (data) => String((await sql.query('SELECT position FROM sse.events WHERE data = $1', [data])).rows[0].position);

  const replayed = await find('published before the page opened');
  assertEq(replayed, { id: await position('published before the page opened'), stream: 'demo', type: 'message', data: 'published before the page opened' }, 'replayed on open');

  await sql.query("BEGIN; SELECT sse.publish('demo', '{\"order\":42,\"state\":\"paid\"}', 'order-updated'); COMMIT");
  await sql.query("SELECT sse.publish('demo', 'untyped, live')");
  const typed = await find('{"order":42,"state":"paid"}');
  assertEq(typed, { id: await position('{"order":42,"state":"paid"}'), stream: 'demo', type: 'order-updated', data: '{"order":42,"state":"paid"}' }, 'a typed event');
  const untyped = await find('untyped, live');
  assertEq(untyped.type, 'message', 'an untyped event');
  assertEq(await page.$eval('#last', (e) => e.textContent), untyped.id, 'the last id');

  // The form publishes through POST /publish.
  await page.fill('#pub-event', 'note');
  await page.fill('#pub-data', 'from the form');
  await page.click('#pub-send');
  const fromForm = await find('from the form');
  assertEq([fromForm.stream, fromForm.type], ['demo', 'note'], 'the form\'s event');
  assert((await page.$eval('#result', (e) => e.textContent)).startsWith('201'), 'the form shows 201');

  // A second stream on the same connection.
  await page.fill('#add-stream', 'orders:42');
  await page.click('#add button');
  await page.waitForFunction(() => document.querySelector('#status').textContent === 'open', null, { timeout: 10000 });
  await sql.query("SELECT sse.publish('orders:42', 'on the added stream', 'order-updated')");
  assertEq((await find('on the added stream')).stream, 'orders:42', 'an added stream');
  assert((await rows()).filter((r) => r.data === 'from the form').length === 1, 'nothing shown twice across the change');

  // /stats, refreshed.
  await page.waitForFunction(() => document.querySelector('#st-streams').textContent.includes('orders:42'), null, { timeout: 10000 });
  await page.waitForFunction(() => document.querySelector('#st-connections').textContent === '1', null, { timeout: 10000 });
  assert((await page.$eval('#st-leader', (e) => e.textContent)).startsWith('yes'), 'the leader');
  assert((await page.$eval('#psql', (e) => e.textContent)).includes("sse.publish('demo'"), 'the psql line');
  assertEq(errors, [], 'no page errors');

  const dir = process.env.SSE_TEST_ARTIFACTS || os.tmpdir();
  const file = path.join(dir, 'sse-gateway-demo.png');
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot: ${file}`);
});

await run();
