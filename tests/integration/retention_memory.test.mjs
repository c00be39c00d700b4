// Retention is honoured in memory too: two instances hold the same events
// in their windows; once the leader prunes them, a replay from below the
// bound starts with gateway:gap on both, the leader and the follower alike,
// and no pruned event comes out of either window.
import {
  assert, assertEq, rawSse, run, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const db = await startPostgres();
const a = await startGateway(db.url, ['--retention', '1s']);
const b = await startGateway(db.url, ['--retention', '1s']);
const sql = await sqlClient(db.url);
const stats = async (gw) => (await fetch(gw.base + '/stats')).json();

test('after a prune, a replay from 0 gets gateway:gap first on every instance, from memory or not', async () => {
  await waitFor(async () => (await stats(a)).leader || (await stats(b)).leader, 10000, 'a leader');
  for (let i = 1; i <= 10; i++) await sql.query('SELECT sse.publish($1, $2)', ['kept', `e${i}`]);
  const head = async () => Number((await sql.query('SELECT head FROM sse.state')).rows[0].head);
  await waitFor(async () => (await head()) === 10, 10000, 'the ten events sequenced');
  // Both instances fanned them out, so both windows hold them.
  await waitFor(async () => (await stats(a)).position === 10 && (await stats(b)).position === 10, 10000, 'both at 10');
  await waitFor(async () => Number((await sql.query('SELECT pruned_through FROM sse.state')).rows[0].pruned_through) === 10,
    20000, 'the leader pruned all ten');
  // The instances learn the bound from the leader's notification; wait until
  // both have re-read it (their windows then hold nothing).
  await waitFor(async () => {
    const text = await (await fetch(a.base + '/metrics')).text() + await (await fetch(b.base + '/metrics')).text();
    return [...text.matchAll(/^sse_gateway_window_bytes (\d+)/mg)].every((m) => m[1] === '0');
  }, 10000, 'both windows trimmed');
  for (const gw of [a, b]) {
    const c = await rawSse(gw.port, '/events?stream=kept&lastEventId=0');
    await waitFor(() => c.records.some((r) => r.event === 'gateway:gap'), 5000, `the gap on ${gw.port}`);
    const events = c.records.filter((r) => r.event !== undefined || r.id !== undefined);
    assertEq(events[0].event, 'gateway:gap', 'the gap comes first');
    assertEq(JSON.parse(events[0].data), { last_event_id: 0, oldest_position: 11 }, 'its data');
    assert(!c.records.some((r) => r.id !== undefined), 'no pruned event is replayed');
    c.close();
  }
  // Live delivery goes on.
  const live = await rawSse(b.port, '/events?stream=kept');
  await waitFor(async () => (await stats(b)).registered >= 1, 5000, 'registered');
  await sql.query("SELECT sse.publish('kept', 'after')");
  await waitFor(() => live.records.some((r) => r.data === 'after'), 10000, 'a new event arrives');
  assertEq(live.records.find((r) => r.data === 'after').id, '11', 'with the next position');
  live.close();
});

await run();
