// The scenario shared by the edge tests (edge_nginx, edge_haproxy): two real
// gateways on one private PostgreSQL behind a shipped proxy config that
// terminates TLS with HTTP/2, and ten pages of one origin in headless
// Chromium, each with an EventSource. First every page receives every event
// over HTTP/2; then one gateway drains (SIGTERM) while a publisher keeps
// publishing, and every page must end up with every event exactly once.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  assert, assertEq, freePort, httpGet, onCleanup, rawSse, sleep, sqlClient, startGateway, unsentBytes, waitFor,
} from './harness.mjs';

export const PAGES = 10;
export const STREAM = 'edge';
const DRAIN_TIMEOUT_MS = 8000;
// A short spread keeps the test quick; --write-deadline bounds the drain that
// the stuck subscriber below holds open; the large queue keeps that
// subscriber from being cut as a slow consumer before the drain starts.
const GATEWAY_ARGS = ['--drain-spread', '1s', '--drain-timeout', `${DRAIN_TIMEOUT_MS}ms`,
  '--write-deadline', '4s', '--max-queued-bytes', '256MiB'];

// Gateways with an admin listener each (where a balancer polls /readyz).
export async function startFleet(db, n = 2) {
  const fleet = [];
  for (let i = 0; i < n; i++) {
    const adminPort = await freePort();
    const gw = await startGateway(db.url, [...GATEWAY_ARGS, '--admin-listen', `127.0.0.1:${adminPort}`]);
    gw.adminPort = adminPort;
    gw.admin = `http://127.0.0.1:${adminPort}`;
    fleet.push(gw);
  }
  return fleet;
}

const registered = async (gw) => (await (await fetch(gw.admin + '/stats')).json()).registered;

// A proxy process in the foreground, its output in a log file; killed at exit.
export function startProxy(name, cmd, args) {
  const logPath = path.join(os.tmpdir(), `sse-it-${name}-${process.pid}-${Date.now()}.log`);
  const log = fs.openSync(logPath, 'w');
  const proc = spawn(cmd, args, { stdio: ['ignore', log, log] });
  const p = {
    proc, logPath,
    log: () => fs.readFileSync(logPath, 'utf8'),
    exited: new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  onCleanup(async () => {
    if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGTERM'); await p.exited; }
    fs.rmSync(logPath, { force: true });
  });
  return p;
}

// Ten pages of the proxy's origin, each with an EventSource on STREAM that
// records the id of every event, the gateway:shutdown sentinels and opens.
export async function openPages(browser, origin) {
  const context = await browser.newContext();
  const pages = [];
  for (let i = 0; i < PAGES; i++) {
    const page = await context.newPage();
    const r = await page.goto(origin + '/healthz');
    assertEq(r.status(), 200, `page ${i} loads over TLS with the test CA trusted`);
    await page.evaluate((stream) => {
      window.sse = { ids: [], shutdowns: 0, opens: 0 };
      const es = new EventSource('/events?stream=' + stream);
      window.sseSource = es;
      es.onmessage = (e) => window.sse.ids.push(e.lastEventId);
      es.addEventListener('gateway:shutdown', () => { window.sse.shutdowns++; });
      es.onopen = () => { window.sse.opens++; };
    }, STREAM);
    pages.push(page);
  }
  return pages;
}

// Closes every page's EventSource: the browser cancels each stream itself,
// so the proxy ends and logs each one, whatever closing the browser context
// later does with the connection.
export const closeStreams = (pages) => Promise.all(pages.map((p) => p.evaluate(() => window.sseSource.close())));

export const pageState = (page) => page.evaluate(() => ({
  ...window.sse, protocol: performance.getEntriesByType('navigation')[0].nextHopProtocol,
}));

// Lost, repeated and unknown ids of one page against the committed ones.
function tally(ids, truth) {
  const seen = new Set(ids);
  const known = new Set(truth);
  return {
    lost: truth.filter((id) => !seen.has(id)).length,
    repeated: ids.length - seen.size,
    unknown: ids.filter((id) => !known.has(id)).length,
    inOrder: ids.every((id, i) => i === 0 || Number(id) > Number(ids[i - 1])),
  };
}

async function committed(sql) {
  await waitFor(async () => (await sql.query('SELECT count(*)::int AS n FROM sse.outbox')).rows[0].n === 0,
    20000, 'the outbox sequenced');
  const r = await sql.query('SELECT position::text AS id FROM sse.events WHERE stream = $1 ORDER BY position', [STREAM]);
  return r.rows.map((row) => row.id);
}

async function waitForEveryEvent(pages, truth, what) {
  await waitFor(async () => {
    for (const p of pages) if (tally((await pageState(p)).ids, truth).lost) return false;
    return true;
  }, 20000, what);
}

// Phase 1: all ten pages over HTTP/2, spread over the fleet, get every event.
export async function tenPagesOverHttp2({ db, fleet, pages }) {
  for (const [i, p] of pages.entries()) assertEq((await pageState(p)).protocol, 'h2', `page ${i} is on HTTP/2`);
  await waitFor(async () => (await Promise.all(fleet.map(registered))).reduce((a, b) => a + b) === PAGES,
    15000, `${PAGES} EventSources registered across the fleet`);
  const spread = await Promise.all(fleet.map(registered));
  assert(spread.every((n) => n > 0), `the proxy spreads the pages over every instance (${spread})`);
  const sql = await sqlClient(db.url);
  await sql.query("SELECT sse.publish($1, 'first-' || i) FROM generate_series(1, 20) AS i", [STREAM]);
  const truth = await committed(sql);
  await waitForEveryEvent(pages, truth, 'every page has the 20 events');
  for (const [i, p] of pages.entries()) {
    const t = tally((await pageState(p)).ids, truth);
    assertEq([t.lost, t.repeated, t.unknown, t.inOrder], [0, 0, 0, true], `page ${i}: every event once, in order`);
  }
  console.log(`  ${PAGES} pages of one origin on HTTP/2, spread ${spread.join('/')} over the instances, ` +
    `each received all ${truth.length} events`);
}

// A subscriber straight to gw that stopped reading, its socket full: the
// drain then lasts until --write-deadline, long enough for the balancer to
// see /readyz 503 and for reconnecting pages to meet the draining instance.
async function holdDrainOpen(gw, sql) {
  const stuck = await rawSse(gw.port, '/events?stream=edge-stuck');
  await waitFor(() => stuck.records.length >= 1, 5000, 'the stuck subscriber connected');
  stuck.pause();
  // 6 MB at a time until the socket is full and the gateway holds a
  // backlog of its own (/stats queued_bytes): the drain's gateway:shutdown
  // then waits behind it.
  const held = async () => unsentBytes(gw.port, stuck.localPort()) > 0 &&
    (await (await fetch(gw.admin + '/stats')).json()).queued_bytes >= 1024 * 1024;
  for (let round = 0; round < 4 && !(await held()); round++) {
    await sql.query("SELECT sse.publish('edge-stuck', repeat('x', 60000)) FROM generate_series(1, 100)");
    await waitFor(held, 3000, 'a backlog for the stuck subscriber').catch(() => {});
  }
  assert(await held(), 'a backlog of 1 MiB for the stuck subscriber after 24 MB');
  return stuck;
}

// Phase 2: drain the instance with the most pages while publishing ~50/s.
// Returns the victim and the figures; checks 0 lost, 0 repeated, in order.
export async function drainUnderLoad({ db, fleet, pages }) {
  const counts = await Promise.all(fleet.map(registered));
  const victim = fleet[counts.indexOf(Math.max(...counts))];
  const survivor = fleet.find((g) => g !== victim);
  const onVictim = Math.max(...counts);
  const shutdownsBefore = (await Promise.all(pages.map(pageState))).reduce((n, s) => n + s.shutdowns, 0);

  const pub = await sqlClient(db.url);
  const bulk = await sqlClient(db.url);
  let published = 0, publishing = true, publishError;
  const publisher = (async () => {
    while (publishing) {
      await pub.query('SELECT sse.publish($1, $2)', [STREAM, `load-${published}`]);
      published++;
      await sleep(20); // about 50 events/s
    }
  })().catch((e) => { publishError = e; });
  // If a check below fails, stop publishing before the cleanups close the
  // database client (cleanups run last registered first).
  onCleanup(() => { publishing = false; return publisher; });
  await waitFor(() => published >= 25 || publishError, 10000, 'publishing under way');
  // Right before SIGTERM: --write-deadline counts from the moment it filled.
  const stuck = await holdDrainOpen(victim, bulk);

  const t0 = Date.now();
  victim.proc.kill('SIGTERM');
  // Timed alongside the drain, which the stuck subscriber keeps going.
  const moved = waitFor(async () => (await registered(survivor)) === PAGES, 15000, `all ${PAGES} pages on the other instance`)
    .then(() => Date.now() - t0, (e) => e);
  await waitFor(async () => (await httpGet(victim.admin, '/readyz')).status === 503, 3000, '/readyz 503 at once');
  const { code } = await victim.exited;
  const drainMs = Date.now() - t0;
  assertEq(code, 0, 'the drained instance exits 0');
  assert(drainMs < DRAIN_TIMEOUT_MS + 1000, `exit within --drain-timeout (${drainMs} ms)`);
  stuck.close();
  const movedMs = await moved;
  if (movedMs instanceof Error) throw movedMs;
  const mark = published;
  await waitFor(() => published >= mark + 50 || publishError, 10000, 'publishing after the drain');
  publishing = false;
  await publisher;
  if (publishError) throw publishError;

  const truth = await committed(pub);
  await waitForEveryEvent(pages, truth, 'every page caught up');
  const states = await Promise.all(pages.map(pageState));
  let lost = 0, repeated = 0;
  for (const [i, s] of states.entries()) {
    const t = tally(s.ids, truth);
    lost += t.lost;
    repeated += t.repeated;
    assert(t.inOrder && t.unknown === 0, `page ${i}: events in order, none but the committed ones`);
  }
  const shutdowns = states.reduce((n, s) => n + s.shutdowns, 0) - shutdownsBefore;
  console.log(`  drain: ${truth.length} events (${published} from the publisher running through it), ${PAGES} pages, ` +
    `${onVictim} on the drained instance, lost ${lost}, repeated ${repeated}; exit ${drainMs} ms after SIGTERM ` +
    `(held by a stuck subscriber until --write-deadline), all ${PAGES} pages on the other instance ${movedMs} ms after SIGTERM, ` +
    `${shutdowns} gateway:shutdown sentinels seen`);
  assertEq([lost, repeated], [0, 0], 'every page has every event exactly once');
  assert(shutdowns >= onVictim, `each page on the drained instance got gateway:shutdown (${shutdowns} >= ${onVictim})`);
  return { victim, survivor, t0, drainMs, onVictim };
}
