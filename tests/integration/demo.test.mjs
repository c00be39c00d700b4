// The demo page in a real browser: headless Chromium (Debian's) driven by
// playwright-core opens the page served with --demo, connects to a stream,
// and an event published with sse.publish appears with its id.
import { chromium } from 'playwright-core';
import { assertEq, onCleanup, run, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const db = await startPostgres();
const gw = await startGateway(db.url, ['--demo']);

test('an event published in SQL shows up on the demo page with its id', async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  onCleanup(() => browser.close());
  const page = await browser.newPage();
  await page.goto(gw.base + '/');
  await page.fill('#stream', 'demo-test');
  await page.click('#connect');
  await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('open'), null, { timeout: 10000 });
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).registered === 1, 5000, 'registered');
  const sql = await sqlClient(db.url);
  await sql.query("SELECT sse.publish('demo-test', 'hello from PostgreSQL')");
  await page.waitForSelector('#events li', { timeout: 10000 });
  const { rows } = await sql.query("SELECT position AS head FROM sse.events WHERE stream = 'demo-test'");
  const item = await page.$eval('#events li', (li) => [...li.children].map((s) => s.textContent));
  assertEq(item, [String(rows[0].head), 'message', 'hello from PostgreSQL'], 'the list shows id, type and data');
  assertEq(await page.$eval('#last', (e) => e.textContent), String(rows[0].head), 'Last-Event-ID display');
});

await run();
