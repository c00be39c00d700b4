// Capacity and idle limits: over --max-connections a
// subscription gets 200, a jittered retry and gateway:overloaded, then EOF;
// --idle-timeout closes a subscriber that got no event for that long, and
// heartbeats do not count as events.
import { assert, assertEq, httpGet, rawSse, run, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const db = await startPostgres();

test('over --max-connections: 200 + retry + gateway:overloaded, and the others keep working', async () => {
  // A parked socket learns its client left at the next write:
  // a short heartbeat frees the slot quickly.
  const gw = await startGateway(db.url, ['--max-connections', '3', '--retry', '1000ms', '--heartbeat', '300ms']);
  const held = [];
  for (let i = 0; i < 3; i++) held.push(await rawSse(gw.port, '/events?stream=cap'));
  const extra = await rawSse(gw.port, '/events?stream=cap');
  assertEq(extra.status, 200, 'never a 5xx to an EventSource');
  await waitFor(() => extra.ended, 5000, 'the extra subscription is closed');
  const s = extra.records.find((r) => r.event === 'gateway:overloaded');
  assert(s && s.id === undefined, 'gateway:overloaded without an id');
  assert(s.retry >= 500 && s.retry < 1500, `jittered retry around --retry (got ${s.retry})`);
  assertEq((await httpGet(gw.base, '/healthz')).status, 200, 'health still answers at capacity');

  const sql = await sqlClient(db.url);
  await sql.query(`SELECT sse.publish('cap', 'still-here')`);
  await waitFor(() => held.every((c) => c.records.some((r) => r.data === 'still-here')), 5000, 'held subscribers still served');
  held[0].close();
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).connections === 2, 5000, 'a slot frees');
  const again = await rawSse(gw.port, '/events?stream=cap');
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).registered === 3, 5000, 'a new subscriber fits again');
  assert(!again.ended, 'accepted');
});

test('--idle-timeout: no event for that long closes the socket; heartbeats do not reset it', async () => {
  const gw = await startGateway(db.url, ['--idle-timeout', '1500ms', '--heartbeat', '200ms']);
  const c = await rawSse(gw.port, '/events?stream=idle');
  const t0 = Date.now();
  await waitFor(() => c.ended, 10000, 'the idle subscriber is closed');
  const took = Date.now() - t0;
  const heartbeats = c.records.reduce((n, r) => n + r.comments.filter((x) => x === 'hb').length, 0);
  console.log(`  closed after ${took} ms with ${heartbeats} heartbeats`);
  assert(heartbeats >= 2, `heartbeats were sent meanwhile (${heartbeats})`);
  assert(took >= 1400, `not before the idle timeout (${took} ms)`);
});

await run();
