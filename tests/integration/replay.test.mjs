// Replay on reconnect: ?lastEventId and Last-Event-ID (the
// header wins), several streams resumed with one id, lastEventId=0, replay
// from the database when the in-memory window no longer covers the cursor,
// and an eventsource client that reconnects by itself after its instance
// restarts and misses nothing.
import { assert, assertEq, esClient, rawSse, run, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const db = await startPostgres();
const sql = await sqlClient(db.url);
let gw = await startGateway(db.url, ['--window-events', '16']);

async function publish(stream, n, prefix, { sequenced = true } = {}) {
  for (let i = 0; i < n; i++) await sql.query('SELECT sse.publish($1, $2)', [stream, `${prefix}${i}`]);
  // Positions are given by the leader after commit: wait until these have theirs.
  if (sequenced) await waitFor(async () => (await sql.query('SELECT count(*)::int AS n FROM sse.outbox')).rows[0].n === 0, 5000, 'sequencing');
  const { rows } = await sql.query('SELECT sse.head() AS head');
  return Number(rows[0].head);
}

const ids = (c) => c.records.filter((r) => r.id).map((r) => Number(r.id));

test('?lastEventId=k replays k+1..N then continues live', async () => {
  const head = await publish('r1', 10, 'r1-');
  const c = await rawSse(gw.port, `/events?stream=r1&lastEventId=${head - 4}`);
  await waitFor(() => ids(c).length === 4, 5000, 'replay of 4');
  assertEq(ids(c), [head - 3, head - 2, head - 1, head], 'replayed ids');
  const next = await publish('r1', 1, 'live-');
  await waitFor(() => ids(c).length === 5, 5000, 'live event');
  assertEq(ids(c).at(-1), next, 'live continues after the replay');
  c.close();
});

test('the Last-Event-ID header wins over the query', async () => {
  const head = await publish('r2', 5, 'r2-');
  const c = await rawSse(gw.port, '/events?stream=r2&lastEventId=0', { 'Last-Event-ID': String(head - 2) });
  await waitFor(() => ids(c).length === 2, 5000, 'replay of 2');
  assertEq(ids(c), [head - 1, head], 'header cursor used');
  c.close();
});

test('several streams resume with one id, in global order', async () => {
  const before = await publish('r3a', 1, 'x');
  for (let i = 0; i < 6; i++) await publish(i % 2 ? 'r3a' : 'r3b', 1, `m${i}-`);
  const c = await rawSse(gw.port, `/events?stream=r3a&stream=r3b&lastEventId=${before}`);
  await waitFor(() => ids(c).length === 6, 5000, 'six events');
  assertEq(ids(c), [1, 2, 3, 4, 5, 6].map((k) => before + k), 'global position order');
  c.close();
});

test('lastEventId=0 replays everything retained, from the database past the window', async () => {
  const head = await publish('r4', 40, 'r4-'); // more than --window-events 16
  const c = await rawSse(gw.port, '/events?stream=r4&lastEventId=0');
  await waitFor(() => ids(c).length === 40, 5000, '40 events');
  assertEq(c.records.filter((r) => r.id).map((r) => r.data), Array.from({ length: 40 }, (_, i) => `r4-${i}`), 'all retained, in order');
  assertEq(ids(c).at(-1), head, 'up to the head');
  const m = await (await fetch(gw.base + '/metrics')).text();
  assert(/replayed_events_total\{source="database"\} [1-9]/.test(m), 'counted as a database replay');
  c.close();
});

test('an eventsource client reconnects with Last-Event-ID across a restart and misses nothing', async () => {
  const port = gw.port;
  const es = esClient(`${gw.base}/events?stream=r5`, { types: ['gateway:shutdown'] });
  await waitFor(() => es.opens === 1, 5000, 'open');
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).registered >= 1, 5000, 'registered');
  await publish('r5', 3, 'before-');
  await waitFor(() => es.events.filter((e) => e.id).length === 3, 5000, 'first three');
  await gw.stop('SIGTERM');
  await publish('r5', 4, 'during-', { sequenced: false }); // committed while no instance runs
  gw = await startGateway(db.url, ['--window-events', '16'], { port });
  await publish('r5', 2, 'after-');
  await waitFor(() => es.events.filter((e) => e.id).length === 9, 15000, 'all nine after the reconnect');
  assertEq(es.events.filter((e) => e.id).map((e) => e.data),
    ['before-0', 'before-1', 'before-2', 'during-0', 'during-1', 'during-2', 'during-3', 'after-0', 'after-1'], 'no loss, no repeat');
  assert(es.events.some((e) => e.type === 'gateway:shutdown'), 'saw the shutdown sentinel');
  es.close();
});

await run();
