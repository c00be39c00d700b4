// Retention tells the instances: when the leader prunes events, the same
// transaction raises sse.state.pruned_through and NOTIFYs "sse#events" with
// "pruned", which every instance's listener turns into a WAKE that re-reads
// the bound. Observed here from outside, as any LISTEN session sees it.
import { assert, assertEq, run, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const db = await startPostgres();
const gw = await startGateway(db.url, ['--retention', '1s']);
const sql = await sqlClient(db.url);
const watcher = await sqlClient(db.url);
const notes = [];
watcher.on('notification', (n) => { if (n.channel === 'sse#events') notes.push({ payload: n.payload, at: Date.now() }); });
await watcher.query('LISTEN "sse#events"');

test('a prune that deletes events notifies "pruned" after raising pruned_through', async () => {
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).leader, 10000, 'the gateway leads');
  for (let i = 0; i < 5; i++) await sql.query('SELECT sse.publish($1, $2)', ['r', `e${i}`]);
  await waitFor(async () => Number((await sql.query('SELECT head FROM sse.state')).rows[0].head) === 5, 10000,
    'the five events sequenced');
  // The leader prunes every 5 s; the events are older than 1 s by the second
  // prune. Each prune that deleted something logs a line and notifies once.
  const pruned = () => notes.filter((n) => n.payload === 'pruned').length;
  const prunes = () => gw.log().split('\n').filter((l) => / pruned \d+ events older than/.test(l)).length;
  await waitFor(() => pruned() > 0, 15000, 'a "pruned" notification');
  await waitFor(async () => Number((await sql.query('SELECT count(*) FROM sse.events')).rows[0].count) === 0,
    10000, 'every event pruned');
  await waitFor(() => pruned() === prunes(), 5000, `one notification per prune (${pruned()} for ${prunes()})`);
  const state = (await sql.query('SELECT pruned_through FROM sse.state')).rows[0];
  assertEq(Number(state.pruned_through), 5, 'the bound was raised');
  assert(notes.filter((n) => n.payload !== 'pruned').every((n) => /^\d+$/.test(n.payload)),
    `other payloads are positions: ${JSON.stringify(notes.map((n) => n.payload))}`);
});

await run();
