// POST /publish: group commit of concurrent requests, answered only
// after the commit, all-or-nothing per request, events of one request
// consecutive and in order; bad bodies get 400/413; a kill -9 right after a
// 201 loses nothing; a drain flushes what is pending.
import net from 'node:net';
import {
  assert, assertEq, esClient, run, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const db = await startPostgres();
const sql = await sqlClient(db.url);
const post = (gw, body, type = 'application/json') => fetch(gw.base + '/publish', {
  method: 'POST', headers: { 'Content-Type': type }, body: typeof body === 'string' ? body : JSON.stringify(body),
});
// Rows of a request, committed (still in the outbox or already sequenced).
const rowsOf = async (prefix) => (await sql.query(
  `SELECT count(*)::int AS n FROM (SELECT data FROM sse.outbox UNION ALL SELECT data FROM sse.events) t WHERE data LIKE $1`,
  [`${prefix}%`])).rows[0].n;
const sequenced = () => waitFor(async () => (await sql.query('SELECT count(*)::int AS n FROM sse.outbox')).rows[0].n === 0, 20000, 'sequencing');

test('20 concurrent requests of 100 events: committed when answered, delivered once, in order, consecutive', async () => {
  const vacuums = async () => (await sql.query(
    `SELECT vacuum_count::int AS n FROM pg_stat_user_tables WHERE schemaname = 'sse' AND relname = 'outbox'`)).rows[0]?.n ?? 0;
  const gw = await startGateway(db.url);
  const vacuumsBefore = await vacuums();
  const sub = esClient(`${gw.base}/events?stream=pub`);
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).registered === 1, 5000, 'registered');
  const results = await Promise.all(Array.from({ length: 20 }, async (_, r) => {
    const events = Array.from({ length: 100 }, (_, i) => ({ stream: 'pub', data: `r${r}-${String(i).padStart(3, '0')}` }));
    const res = await post(gw, events);
    const body = await res.json();
    // Answered only after the commit: the rows are visible to another session now.
    return { status: res.status, body, visible: await rowsOf(`r${r}-`) };
  }));
  for (const [r, x] of results.entries()) {
    assertEq(x.status, 201, `request ${r} status`);
    assertEq(x.body, { accepted: 100 }, `request ${r} body`);
    assertEq(x.visible, 100, `request ${r}: all its rows committed when the answer arrived`);
  }
  await sequenced();
  // The leader vacuums the outbox itself every 2,000 moved rows (a queue's
  // dead rows would otherwise slow every batch until autovacuum comes by).
  await waitFor(async () => (await vacuums()) > vacuumsBefore, 15000, 'the leader vacuumed the outbox');
  await waitFor(() => sub.events.length >= 2000, 20000, `2000 events (have ${sub.events.length})`);
  assertEq(sub.events.length, 2000, 'no duplicates');
  const { rows } = await sql.query(`SELECT position::text AS id, data FROM sse.events WHERE stream = 'pub' ORDER BY position`);
  assertEq(sub.events.map((e) => [e.id, e.data]), rows.map((x) => [x.id, x.data]), 'delivered in position order');
  const pos = new Map(rows.map((x) => [x.data, Number(x.id)]));
  for (let r = 0; r < 20; r++) {
    const p = Array.from({ length: 100 }, (_, i) => pos.get(`r${r}-${String(i).padStart(3, '0')}`));
    assert(p.every((v, i) => i === 0 || v === p[i - 1] + 1), `request ${r}: consecutive positions in array order`);
  }
  const m = await (await fetch(gw.base + '/metrics')).text();
  assert(/sse_gateway_publish_requests_total\{result="ok"\} 20/.test(m), 'publish_requests_total{result="ok"} counts 20');
});

test('bad bodies: 400 with the field, nothing published; 413 over 1 MiB; 405; forms and single objects work', async () => {
  const gw = await startGateway(db.url);
  const bad = await post(gw, [{ stream: 'pub2', data: 'bad-ok-1' }, { stream: 'no spaces', data: 'bad-x' }, { stream: 'pub2', data: 'bad-ok-2' }]);
  assertEq(bad.status, 400, 'one bad event');
  assert((await bad.json()).error.includes('events[1].stream'), 'the error names the field');
  assertEq(await rowsOf('bad-'), 0, 'nothing of that request was published');
  for (const [body, what] of [['{', 'broken JSON'], [[], 'empty array'], [{ stream: 'a', data: 'x', event: 'gateway:shutdown' }, 'reserved type'], [{ stream: 'a' }, 'no data']]) {
    assertEq((await post(gw, body)).status, 400, what);
  }
  // A 413 goes out on the headers, before the body, and the socket closes:
  // send the headers alone, as a client with Expect: 100-continue does.
  const tooLarge = await new Promise((resolve) => {
    const s = net.connect(gw.port, '127.0.0.1');
    let got = '';
    s.on('connect', () => s.write('POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048577\r\n\r\n'));
    s.on('data', (d) => { got += d; if (got.includes('\r\n\r\n')) { s.destroy(); resolve(Number(got.split(' ')[1])); } });
    s.on('error', () => resolve(0));
  });
  assertEq(tooLarge, 413, 'over 1 MiB');
  assertEq((await fetch(gw.base + '/publish')).status, 405, 'GET /publish');
  const form = await post(gw, 'stream=pub2&data=from+a+form&event=note', 'application/x-www-form-urlencoded');
  assertEq(form.status, 201, 'form');
  const one = await post(gw, { stream: 'pub2', data: { total: 3 } });
  assertEq(one.status, 201, 'single object');
  const { rows } = await sql.query(`SELECT event, data FROM sse.outbox WHERE stream = 'pub2' UNION ALL SELECT event, data FROM sse.events WHERE stream = 'pub2'`);
  assertEq(rows.map((r) => [r.event, r.data]).sort(), [['note', 'from a form'], [null, '{"total":3}']].sort(), 'stored as sent');
});

test('kill -9 right after a 201 loses nothing acknowledged', async () => {
  const gw = await startGateway(db.url);
  const acked = [];
  let n = 0;
  const burst = Array.from({ length: 8 }, async () => {
    for (;;) {
      const tag = `k${n++}-`;
      let res;
      try { res = await post(gw, Array.from({ length: 10 }, (_, i) => ({ stream: 'pub3', data: `${tag}${i}` }))); } catch { return; }
      if (res.status !== 201) return;
      acked.push(tag);
      if (acked.length === 40) gw.proc.kill('SIGKILL');
    }
  });
  await Promise.all(burst);
  assert(acked.length >= 40, `at least 40 acknowledged (${acked.length})`);
  for (const tag of acked) assertEq(await rowsOf(tag), 10, `acknowledged ${tag} is there, whole`);
  for (let i = 0; i < n; i++) {
    const c = await rowsOf(`k${i}-`);
    assert(c === 0 || c === 10, `k${i}: all or nothing (${c})`);
  }
  console.log(`  ${acked.length} acknowledged before the kill, all committed; no half-written request`);
});

test('a drain flushes pending publishes: every request gets 201 or 503, all-or-nothing', async () => {
  const gw = await startGateway(db.url);
  const statuses = [];
  const reqs = Array.from({ length: 40 }, (_, r) => post(gw, Array.from({ length: 50 }, (_, i) => ({ stream: 'pub4', data: `d${r}-${i}` })))
    .then((res) => statuses.push([r, res.status]), () => statuses.push([r, 0])));
  await waitFor(() => statuses.length >= 1, 10000, 'first answer');
  gw.proc.kill('SIGTERM');
  await Promise.all(reqs);
  const { code } = await gw.exited;
  assertEq(code, 0, 'exit 0');
  let ok = 0;
  for (const [r, status] of statuses) {
    const c = await rowsOf(`d${r}-`);
    if (status === 201) { ok++; assertEq(c, 50, `d${r}: acknowledged and committed`); } else {
      assert(status === 503 || status === 0, `d${r}: 201 or 503 (got ${status})`);
      assert(c === 0 || c === 50, `d${r}: all or nothing (${c})`);
    }
  }
  console.log(`  ${ok} of 40 requests committed around the drain`);
});

await run();
