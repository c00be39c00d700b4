// Sentinels cannot be forged through the database: any login may
// pg_notify the gateway's internal channel "sse#notify", but a payload whose
// event type starts with "gateway:" is dropped, counted and logged once,
// while a normal sse.notify() on the same channel right after it still
// arrives. The other doors (sse.notify, sse.publish, INSERTs into the
// tables) refuse such types with an error.
import pg from 'pg';
import {
  assert, assertEq, metric, onCleanup, rawSse, run, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const db = await startPostgres();
const gw = await startGateway(db.url);
const admin = await sqlClient(db.url);
const stats = async () => (await fetch(gw.base + '/stats')).json();

// A login with no grant on the sse schema at all: pg_notify is everyone's.
await admin.query('CREATE ROLE mallory LOGIN');
const mallory = new pg.Client({ connectionString: db.url.replace('postgres@', 'mallory@'), application_name: 'mallory' });
await mallory.connect();
onCleanup(() => mallory.end().catch(() => {}));

const REASON = 'event types starting with gateway: are reserved';

test('a forged gateway:* notification never reaches a subscriber; the log says why once', async () => {
  const sub = await rawSse(gw.port, '/events?stream=s');
  assertEq(sub.status, 200, 'subscribed');
  await waitFor(async () => (await stats()).registered === 1, 5000, 'the subscriber registered');

  const forged = [
    { stream: 's', event: 'gateway:shutdown', data: 'x' },
    { stream: 's', event: 'gateway:gap', data: '{"from":1,"to":9}' },
    { stream: 's', event: 'gateway:overloaded', data: 'x' },
  ];
  for (const f of forged) await mallory.query("SELECT pg_notify('sse#notify', $1)", [JSON.stringify(f)]);
  // The same channel, in order after the forgeries: once this arrives, any
  // forgery that was going to be delivered has been.
  await admin.query("SELECT sse.notify('s', 'real', 'typing')");
  await waitFor(() => sub.records.some((r) => r.data === 'real'), 5000, 'the genuine sse.notify event');

  const sentinels = sub.records.filter((r) => (r.event || '').startsWith('gateway:'));
  assertEq(sentinels.map((r) => `${r.event} ${r.data}`), [], 'no forged sentinel delivered');
  assert(!sub.ended, 'the stream is still open');
  assertEq(sub.records.filter((r) => r.data !== undefined).map((r) => [r.event, r.data]), [['typing', 'real']],
    'exactly the genuine event');
  const lines = gw.log().split('\n').filter((l) => l.includes(REASON));
  assertEq(lines.length, 1, `one rate-limited log line for ${forged.length} forgeries`);
  assertEq(await metric(gw.base, 'sse_gateway_notifications_dropped_total{reason="reserved_type"}'), forged.length,
    'each forgery counted');
  console.log(`  ${forged.length} forgeries dropped; log: ${lines[0].slice(0, 160)}`);
  sub.close();
});

test('the other doors refuse gateway:* types with an error', async () => {
  const refused = async (sql, params) => {
    try { await admin.query(sql, params); } catch (e) { return e.message; }
    return null;
  };
  const notify = await refused("SELECT sse.notify('s', 'x', 'gateway:shutdown')");
  const publish = await refused("SELECT sse.publish('s', 'x', 'gateway:gap')");
  const outbox = await refused("INSERT INTO sse.outbox (stream, event, data) VALUES ('s', 'gateway:shutdown', 'x')");
  const events = await refused(
    "INSERT INTO sse.events (position, stream, event, data, published_at) VALUES (999999, 's', 'gateway:gap', 'x', now())");
  assert(notify && /reserved/.test(notify), `sse.notify refused: ${notify}`);
  assert(publish && /reserved/.test(publish), `sse.publish refused: ${publish}`);
  assert(outbox && /outbox_names/.test(outbox), `INSERT into sse.outbox refused: ${outbox}`);
  assert(events && /events_names/.test(events), `INSERT into sse.events refused: ${events}`);
});

await run();
