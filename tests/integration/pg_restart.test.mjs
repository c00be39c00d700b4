// Database outage: PostgreSQL stopped (pg_ctl -m fast) and started again
// while subscribers are connected. /readyz is 503 while it is down, /healthz
// stays 200, nobody is disconnected, and delivery resumes by itself: durable
// events committed after the restart arrive, leadership is taken again, and
// ephemeral NOTIFY works again.
import { assert, assertEq, esClient, httpGet, rawSse, run, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const db = await startPostgres();
const stats = async (gw) => (await fetch(gw.base + '/stats')).json();

async function publish(from, to) {
  const sql = await sqlClient(db.url);
  for (let k = from; k < to; k++) await sql.query('SELECT sse.publish($1, $2)', ['pr', `e${k}`]);
  await waitFor(async () => (await sql.query('SELECT count(*)::int AS n FROM sse.outbox')).rows[0].n === 0, 20000, 'sequencing');
  await sql.end();
}

test('PostgreSQL restart: subscribers stay connected and get every durable event', async () => {
  const gw = await startGateway(db.url);
  const clients = Array.from({ length: 5 }, () => esClient(`${gw.base}/events?stream=pr`, { types: ['ephemeral'] }));
  const raw = await rawSse(gw.port, '/events?stream=pr');
  await waitFor(async () => (await stats(gw)).registered === 6, 5000, 'six subscribers registered');
  await waitFor(async () => (await stats(gw)).leader, 5000, 'leader');
  await publish(0, 20);
  await waitFor(() => clients.every((c) => c.events.length >= 20), 10000, 'the first 20 events');

  db.stop('fast');
  await waitFor(async () => (await httpGet(gw.base, '/readyz')).status === 503, 10000, '/readyz 503 while the database is down');
  assertEq((await httpGet(gw.base, '/healthz')).status, 200, '/healthz stays 200');
  assert(!(await stats(gw)).leader, 'no leader without a database');

  db.start();
  await waitFor(async () => (await httpGet(gw.base, '/readyz')).status === 200, 30000, '/readyz 200 again');
  await waitFor(async () => (await stats(gw)).leader, 10000, 'leadership taken again');
  await publish(20, 40);
  const expected = Array.from({ length: 40 }, (_, k) => `e${k}`);
  await waitFor(() => clients.every((c) => c.events.length >= 40), 20000, 'all 40 events after the restart');
  for (const c of clients) {
    assertEq(c.events.map((e) => e.data), expected, 'every durable event once, in order');
    assertEq(c.opens, 1, 'the subscriber was never disconnected');
  }
  assert(!raw.ended, 'the raw subscriber socket stayed open');
  assertEq(raw.records.filter((r) => r.id !== undefined).map((r) => r.data), expected, 'raw subscriber: every event');

  const sql = await sqlClient(db.url);
  await waitFor(async () => {
    await sql.query(`SELECT sse.notify('pr', 'ping', 'ephemeral')`);
    return clients.every((c) => c.events.some((e) => e.type === 'ephemeral'));
  }, 10000, 'ephemeral notifications flow again');
});

await run();
