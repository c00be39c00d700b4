// The core promise (positions): 8 concurrent publisher sessions with random
// delays between publish and COMMIT and ~20% rollbacks; two gateway instances
// with 10 subscribers each. Every subscriber gets exactly the committed events
// of its streams, in strictly increasing position order, none missing, none
// repeated, none rolled back; both instances agree on every id; a late
// subscriber from lastEventId=0 sees the same sequence.
import { assert, assertEq, esClient, run, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const STREAMS = ['ord:a', 'ord:b', 'ord:c'];
const db = await startPostgres();
const gwA = await startGateway(db.url);
const gwB = await startGateway(db.url);

function subscribe(gw, i) {
  const streams = i % 3 === 0 ? [STREAMS[i % 3], STREAMS[(i + 1) % 3]] : [STREAMS[i % 3]];
  const qs = streams.map((s) => 'stream=' + encodeURIComponent(s)).join('&');
  return { streams, client: esClient(`${gw.base}/events?${qs}`) };
}

async function publisher(p, target, committed) {
  const c = await sqlClient(db.url);
  let txn = 0;
  while (committed.length < target) {
    txn++;
    const events = [];
    await c.query('BEGIN');
    const n = 1 + Math.floor(Math.random() * 3);
    for (let k = 0; k < n; k++) {
      const stream = STREAMS[Math.floor(Math.random() * 3)];
      const data = `p${p}-t${txn}-e${k}`;
      await c.query('SELECT sse.publish($1, $2)', [stream, data]);
      events.push({ stream, data });
    }
    await c.query('SELECT pg_sleep($1)', [Math.random() * 0.2]);
    if (Math.random() < 0.2) await c.query('ROLLBACK');
    else { await c.query('COMMIT'); committed.push(...events); }
  }
}

test('every subscriber gets exactly the committed events of its streams, in order', async () => {
  const subs = [];
  for (let i = 0; i < 10; i++) subs.push({ gw: 'A', ...subscribe(gwA, i) });
  for (let i = 0; i < 10; i++) subs.push({ gw: 'B', ...subscribe(gwB, i) });
  await waitFor(() => subs.every((s) => s.client.opens > 0), 10000, 'all subscribers open');
  // Subscribers connected live: wait until both instances registered all 10.
  await waitFor(async () => {
    const [a, b] = await Promise.all([gwA, gwB].map(async (g) => (await (await fetch(g.base + '/stats')).json()).registered));
    return a === 10 && b === 10;
  }, 10000, 'registration on both instances');

  const committed = [];
  await Promise.all(Array.from({ length: 8 }, (_, p) => publisher(p, 300, committed)));
  const sql = await sqlClient(db.url);
  // Committed events get their positions from the leader shortly after: wait for all of them.
  await waitFor(async () => (await sql.query('SELECT count(*)::int AS n FROM sse.outbox')).rows[0].n === 0, 10000, 'sequencing');
  const { rows } = await sql.query('SELECT position, stream, data FROM sse.events ORDER BY position');
  // The SQL truth: exactly the committed events, none rolled back.
  assertEq(rows.map((r) => r.data).sort(), committed.map((e) => e.data).sort(), 'sse.events holds exactly the committed events');
  const byData = new Map(rows.map((r) => [r.data, Number(r.position)]));

  for (const s of subs) {
    const expected = rows.filter((r) => s.streams.includes(r.stream)).map((r) => r.data);
    await waitFor(() => s.client.events.length >= expected.length, 20000,
      `subscriber on ${s.gw} ${s.streams} to get ${expected.length} events (has ${s.client.events.length})`);
  }
  for (const s of subs) {
    const expected = rows.filter((r) => s.streams.includes(r.stream));
    const got = s.client.events;
    assertEq(got.map((e) => e.data), expected.map((r) => r.data), `exact sequence on ${s.gw} ${s.streams}`);
    for (let k = 1; k < got.length; k++) assert(Number(got[k].id) > Number(got[k - 1].id), 'strictly increasing ids');
    for (const e of got) assertEq(Number(e.id), byData.get(e.data), 'same id for the same payload on both instances');
  }
  console.log(`  ${committed.length} committed events, ${subs.length} subscribers, 0 missing, 0 repeated`);

  const late = esClient(`${gwB.base}/events?stream=ord:a&stream=ord:b&stream=ord:c&lastEventId=0`);
  await waitFor(() => late.events.length >= rows.length, 20000, 'late subscriber replay');
  assertEq(late.events.map((e) => [Number(e.id), e.data]), rows.map((r) => [Number(r.position), r.data]), 'late subscriber sees the same sequence');
});

await run();
