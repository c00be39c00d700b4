// A storm of new streams: 50,000 streams subscribed within a few seconds
// (2,000 connections of 25 streams, from four child processes, spread over
// 4 s) while an existing subscriber of another stream gets a durable event
// every 50 ms. Its publish-to-receipt p99 may grow by at most 100 ms over a
// baseline measured just before, since LISTENs run in batches on the
// listener's connection, never on the dispatcher's path. A miss by under
// half a second is measured once more with a fresh storm: on a shared
// two-core machine the other tests' load alone sometimes adds 100 ms; a
// LISTEN on the dispatcher's path costs seconds. --max-listen-channels (10,000
// by default) caps the channels: the cap is logged once and counted, streams
// beyond it still get durable events and sse.notify() (not raw NOTIFY), and
// once the storm's subscribers leave their channels are UNLISTENed and a new
// stream gets one again.
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  assert, assertEq, metric, onCleanup, rawSse, run, sleep, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const CHILDREN = 4, CONNECTIONS = 500, PER_CONNECTION = 25; // 50,000 streams
const STREAMS = CHILDREN * CONNECTIONS * PER_CONNECTION;
const SPREAD_MS = 4000; // "within a few seconds"
const CAP = 10000;
const CAP_LINE = 'the --max-listen-channels cap';
const here = path.dirname(fileURLToPath(import.meta.url));

const db = await startPostgres();
// A short heartbeat: a parked socket learns its client left only when it next writes.
const gw = await startGateway(db.url, ['--heartbeat', '1s']);
const sql = await sqlClient(db.url);
const stats = async () => (await fetch(gw.base + '/stats')).json();
// A metric's value, null when the gateway has no such series.
const series = async (name) => (await metric(gw.base, name)) ?? null;
const capLines = () => gw.log().split('\n').filter((l) => l.includes(CAP_LINE));
const p99 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)]; };

// The existing subscriber: each event is stamped on receipt by this
// process, which does little else.
const live = await rawSse(gw.port, '/events?stream=live');
const received = new Map();
let stamped = 0;
live.sock.on('data', () => {
  for (; stamped < live.records.length; stamped++) {
    const r = live.records[stamped];
    if (r.data !== undefined) received.set(r.data, Date.now());
  }
});
await waitFor(async () => (await stats()).registered === 1, 5000, 'the live subscriber registered');

// Publishes to "live" every 50 ms until stopped; returns what it sent,
// {data, t}: a unique data and the publish time.
let published = 0;
function publisher() {
  const sent = [];
  let stop = false;
  const done = (async () => {
    for (let next = Date.now(); !stop; next += 50) {
      await sleep(Math.max(0, next - Date.now()));
      const e = { data: `e${published++}`, t: Date.now() };
      await sql.query('SELECT sse.publish($1, $2)', ['live', e.data]);
      sent.push(e);
    }
  })();
  return { sent, stop: async () => { stop = true; await done; } };
}

async function latencies(sent, what) {
  await waitFor(() => sent.every((e) => received.has(e.data)), 20000,
    `${what}: every event to the live subscriber (${sent.filter((e) => received.has(e.data)).length} of ${sent.length})`);
  return sent.map((e) => received.get(e.data) - e.t);
}

// Subscribes STREAMS new streams named `${prefix}<n>` from child processes.
function storm(prefix) {
  const children = [];
  const opened = [];
  for (let i = 0; i < CHILDREN; i++) {
    const child = fork(path.join(here, 'lib', 'subscribe_storm.mjs'), [JSON.stringify({
      port: gw.port, prefix, first: i * CONNECTIONS, connections: CONNECTIONS, perConnection: PER_CONNECTION,
      inFlight: 100, spreadMs: SPREAD_MS,
    })]);
    onCleanup(() => child.kill('SIGKILL'));
    children.push(child);
    opened.push(new Promise((resolve) => child.once('message', resolve)));
  }
  return {
    opened: Promise.all(opened),
    close: () => Promise.all(children.map((c) => new Promise((resolve) => { c.once('message', resolve); c.send('close'); }))),
  };
}

// One measurement: a baseline of 3 s, then the storm. Returns the figures.
async function measure(prefix) {
  const base = publisher();
  await sleep(3000);
  await base.stop();
  const baseline = await latencies(base.sent, 'baseline');
  const refusedBefore = await series('sse_gateway_listen_channels_refused_total');
  const during = publisher();
  const started = Date.now();
  const subs = storm(prefix);
  let results;
  subs.opened.then((r) => { results = r; });
  await waitFor(() => results || Date.now() - started > 60000, 70000, 'the storm');
  const took = Date.now() - started;
  await sleep(500); // the tail of the storm: LISTENs and registrations still in flight
  await during.stop();
  const stormed = await latencies(during.sent.filter((e) => e.t >= started), 'during the storm');
  const opened = (results || []).reduce((n, r) => n + r.opened, 0);
  console.log(`  ${prefix} ${opened} of ${CHILDREN * CONNECTIONS} connections (${STREAMS} streams) in ${took} ms; ` +
    `live events: baseline p99 ${p99(baseline)} ms (${baseline.length}), during the storm p99 ${p99(stormed)} ms ` +
    `max ${Math.max(...stormed)} ms (${stormed.length})`);
  return { subs, finished: !!results, took, opened, base: p99(baseline), storm: p99(stormed), refusedBefore };
}

let last; // the measurement whose storm subscribers stay for the next tests

test(`${STREAMS} new streams within seconds delay an existing subscriber's events by at most 100 ms`, async () => {
  for (let attempt = 1; ; attempt++) {
    last = await measure(`storm${attempt}-`);
    const excess = last.storm - last.base;
    if (!last.finished || excess <= 100 || excess > 500 || attempt === 2) break;
    console.log(`  missed by ${excess - 100} ms: once more with new streams, once these are gone`);
    await last.subs.close();
    await waitFor(async () => (await stats()).registered === 1, 20000, 'the storm subscribers gone');
    await waitFor(async () => (await series('sse_gateway_listen_channels')) === 1, 20000, 'their channels forgotten');
  }
  assert(last.finished, `the storm finished within 60 s (took ${last.took} ms)`);
  assertEq(last.opened, CHILDREN * CONNECTIONS, 'every storm subscription got its 200');
  assert(last.storm <= last.base + 100, `p99 during the storm ${last.storm} ms ≤ baseline ${last.base} ms + 100 ms`);
});

test('the cap: logged once, counted, and streams beyond it still get durable events and sse.notify', async () => {
  await waitFor(async () => (await stats()).registered === 1 + CHILDREN * CONNECTIONS, 20000, 'every storm subscriber registered');
  // "live" holds one channel; the storm got the rest.
  assertEq(await series('sse_gateway_listen_channels'), CAP, 'the channels at the cap');
  const refused = await series('sse_gateway_listen_channels_refused_total');
  assertEq(refused - last.refusedBefore, STREAMS - (CAP - 1), 'each stream beyond the cap counted');
  assertEq(capLines().length, 1, 'the cap logged once');
  console.log(`  ${capLines()[0].slice(0, 200)}`);

  const late = await rawSse(gw.port, '/events?stream=late');
  await waitFor(async () => (await stats()).registered === 2 + CHILDREN * CONNECTIONS, 5000, 'the late subscriber registered');
  assertEq(await series('sse_gateway_listen_channels_refused_total'), refused + 1, 'the late stream counted');
  await sql.query(`NOTIFY "live", 'raw-live'`);
  await sql.query(`NOTIFY "late", 'raw-late'`); // no channel: not delivered
  await sql.query("SELECT sse.notify('late', 'ephemeral-late')"); // after it, on the internal channel
  await sql.query("SELECT sse.publish('late', 'durable-late')");
  await waitFor(() => late.records.some((r) => r.data === 'ephemeral-late') && late.records.some((r) => r.data === 'durable-late'),
    10000, 'sse.notify and the durable event beyond the cap');
  await waitFor(() => live.records.some((r) => r.data === 'raw-live'), 5000, 'raw NOTIFY on a stream with a channel');
  assert(!late.records.some((r) => r.data === 'raw-late'), 'no raw NOTIFY beyond the cap');
  assertEq(capLines().length, 1, 'still one line');
  late.close();
});

test('once the storm leaves, its channels are UNLISTENed and new streams get one again', async () => {
  await last.subs.close();
  // Two health checks (1 s) without a subscriber, then one batch of UNLISTENs.
  await waitFor(async () => (await series('sse_gateway_listen_channels')) === 1, 20000, 'the storm channels forgotten');
  const fresh = await rawSse(gw.port, '/events?stream=fresh');
  await waitFor(async () => (await stats()).registered === 2, 10000, 'the fresh subscriber registered');
  await sql.query(`NOTIFY "fresh", 'raw-fresh'`);
  await waitFor(() => fresh.records.some((r) => r.data === 'raw-fresh'), 5000, 'raw NOTIFY to a stream after the cap freed up');
  assertEq(await series('sse_gateway_listen_channels'), 2, 'live and fresh');
  fresh.close();
});

await run();
