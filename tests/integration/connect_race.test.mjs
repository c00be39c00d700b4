// Race-free connect: subscribers connect with cursors while
// publishers run at full speed; none misses or repeats an event.
import { assert, assertEq, rawSse, run, sqlClient, startGateway, startPostgres, test, waitFor, sleep } from './lib/harness.mjs';

const db = await startPostgres();
const gw = await startGateway(db.url);

test('subscribers connecting mid-stream with cursors get exactly the events after them', async () => {
  let stop = false;
  const publishers = Array.from({ length: 4 }, async (_, p) => {
    const c = await sqlClient(db.url);
    let i = 0;
    while (!stop) await c.query('SELECT sse.publish($1, $2)', ['race', `p${p}-${i++}`]);
  });
  const sql = await sqlClient(db.url);
  const subs = [];
  for (let k = 0; k < 30; k++) {
    const { rows } = await sql.query('SELECT sse.head() AS head');
    // Mix fresh cursors (the head right now) with older ones.
    const cursor = Math.max(0, Number(rows[0].head) - (k % 3) * 25);
    subs.push({ cursor, c: await rawSse(gw.port, `/events?stream=race&lastEventId=${cursor}`) });
    await sleep(20);
  }
  await sleep(300);
  stop = true;
  await Promise.all(publishers);
  // Committed events get their positions from the leader shortly after: wait for all of them.
  await waitFor(async () => (await sql.query('SELECT count(*)::int AS n FROM sse.outbox')).rows[0].n === 0, 10000, 'sequencing');
  const { rows } = await sql.query("SELECT position FROM sse.events WHERE stream = 'race' ORDER BY position");
  const all = rows.map((r) => Number(r.position));
  assert(all.length > 200, `publishers ran (${all.length} events)`);
  for (const s of subs) {
    const expected = all.filter((p) => p > s.cursor);
    await waitFor(() => s.c.records.filter((r) => r.id).length >= expected.length, 10000, `subscriber from ${s.cursor}`);
    assertEq(s.c.records.filter((r) => r.id).map((r) => Number(r.id)), expected, `exact events after ${s.cursor}`);
    s.c.close();
  }
  console.log(`  ${all.length} events, ${subs.length} subscribers connected mid-stream, 0 missing, 0 repeated`);
});

await run();
