// Slow consumers: a subscriber that stops reading is closed, over
// --max-queued-bytes or after --write-deadline without a byte accepted; a
// normal subscriber on the same stream gets everything meanwhile; memory stays
// bounded; the closed client resumes from its last id without loss.
import {
  assert, assertEq, esClient, metric, rawSse, rssKiB, run, sqlClient, startGateway, startPostgres,
  sleep, test, waitFor,
} from './lib/harness.mjs';

const db = await startPostgres();
const sql = await sqlClient(db.url);
const sequenced = () => waitFor(async () => (await sql.query('SELECT count(*)::int AS n FROM sse.outbox')).rows[0].n === 0, 20000, 'sequencing');

// Publishes n events of about size bytes on stream, data "<k> xxxx…", one
// transaction of perTx events after another; returns the data strings in order.
// With follow, waits before each transaction until the reading client
// follow() says it is at most one transaction behind: the publisher keeps to
// a pace that client can follow, however slow the build under test is.
async function publish(stream, n, size, perTx = 50, follow = null) {
  const pad = 'x'.repeat(size);
  const datas = [];
  for (let k = 0; k < n; k += perTx) {
    if (follow) {
      const until = Date.now() + 30000;
      while (follow() < k - perTx) {
        if (Date.now() > until) throw new Error(`the reading client stalled at ${follow()} of ${k}`);
        await sleep(1);
      }
    }
    const batch = [];
    for (let j = k; j < Math.min(k + perTx, n); j++) batch.push(`${j} ${pad}`);
    await sql.query('SELECT sse.publish($1, d) FROM unnest($2::text[]) WITH ORDINALITY AS t(d, i) ORDER BY i', [stream, batch]);
    datas.push(...batch);
  }
  return datas;
}

// Reads the rest of what a paused raw client has buffered, until the socket ends.
async function drainToEnd(c, what) {
  c.resume();
  await waitFor(() => c.ended, 30000, what);
  return c.records.filter((r) => r.id !== undefined);
}

test('over --max-queued-bytes: the stalled client is closed, the others are not held up, memory stays bounded, the client resumes', async () => {
  // Under AddressSanitizer freed memory waits in a quarantine: switch it off
  // so that the resident size measures what the gateway holds.
  const asan = `${process.env.ASAN_OPTIONS || ''}:quarantine_size_mb=0`.replace(/^:/, '');
  const gw = await startGateway(db.url, ['--max-queued-bytes', '64KiB', '--window-events', '16'], { env: { ASAN_OPTIONS: asan } });
  const slow = await rawSse(gw.port, '/events?stream=slow');
  await waitFor(() => slow.records.length >= 1, 5000, 'preamble');
  slow.pause();
  const normal = await rawSse(gw.port, '/events?stream=slow');
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).registered === 2, 5000, 'both registered');
  const rssBefore = rssKiB(gw.proc.pid);

  // 16 MiB in all, 16 KiB per transaction, never more than two transactions
  // ahead of the reading client (32 KiB, under the limit); the stalled one
  // falls behind by the whole stream.
  const n = 16000, size = 1024;
  const events = () => normal.records.filter((r) => r.id !== undefined);
  let maxQueued = 0, k = 0;
  const datas = await publish('slow', n, size, 16, () => {
    if (k++ % 50 === 0) fetch(gw.base + '/stats').then((r) => r.json()).then((st) => { maxQueued = Math.max(maxQueued, st.queued_bytes); }, () => {});
    return events().length;
  });
  await sequenced();
  await waitFor(() => events().length >= n, 60000, `normal client gets all ${n} (has ${events().length}, ended ${normal.ended}, records ${normal.records.length}, body ${normal.body.length})`);
  assertEq(events().map((e) => e.data), datas, 'normal client: every event once, in order');
  assert(!normal.ended, 'the reading client was never closed');
  assertEq(await metric(gw.base, 'sse_gateway_slow_consumer_disconnects_total'), 1, 'exactly one slow consumer closed');
  const grownKiB = rssKiB(gw.proc.pid) - rssBefore;
  console.log(`  queued bytes peaked at ${maxQueued >> 10} KiB and RSS grew by ${grownKiB} KiB while ${(n * size) >> 10} KiB went to a client that stopped reading`);
  // Sampled: queues are mostly empty, since parked sockets are written at
  // once and only the stalled one ever holds bytes, up to the limit.
  assert(maxQueued <= 256 * 1024, `queued bytes stay bounded by the limits (peak ${maxQueued})`);
  // Sanitizer allocators keep freed memory around, so RSS gets a loose bound.
  assert(grownKiB < (n * size) / 1024, `RSS growth ${grownKiB} KiB must stay below the ${(n * size) >> 10} KiB published`);

  const got = await drainToEnd(slow, 'the slow client is closed');
  console.log(`  the stalled client had ${got.length} of ${n} events in its socket buffers when it was closed`);
  assert(got.length < n, `the slow client was cut before the end (got ${got.length})`);
  const lastId = got.length ? got[got.length - 1].id : '0';
  const again = esClient(`${gw.base}/events?stream=slow`, { lastEventId: lastId });
  await waitFor(() => got.length + again.events.length >= n, 30000, 'the slow client resumes to the end');
  assertEq([...got.map((r) => r.data), ...again.events.map((e) => e.data)], datas, 'slow client: every event exactly once, in order, across the reconnect');
});

test('--write-deadline: a socket that accepts nothing is closed even under the byte limit', async () => {
  const gw = await startGateway(db.url, ['--max-queued-bytes', '256MiB', '--write-deadline', '2s']);
  const stuck = await rawSse(gw.port, '/events?stream=stuck');
  await waitFor(() => stuck.records.length >= 1, 5000, 'preamble');
  stuck.pause();
  const normal = esClient(`${gw.base}/events?stream=stuck`);
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).registered === 2, 5000, 'both registered');

  // Enough to fill the loopback socket buffers, far below 256 MiB.
  const n = 600, size = 60 * 1024;
  const datas = await publish('stuck', n, size);
  await sequenced();
  await waitFor(() => normal.events.length >= n, 60000, `normal client gets all ${n}`);
  assertEq(normal.events.map((e) => e.data), datas, 'normal client: every event once, in order');
  await waitFor(async () => (await metric(gw.base, 'sse_gateway_slow_consumer_disconnects_total')) >= 1, 15000, 'write deadline closes the stuck socket');
  assert(gw.log().includes('write deadline'), 'one log line says why');

  const got = await drainToEnd(stuck, 'the stuck client sees the end');
  const lastId = got.length ? got[got.length - 1].id : '0';
  const again = esClient(`${gw.base}/events?stream=stuck`, { lastEventId: lastId });
  await waitFor(() => got.length + again.events.length >= n, 30000, 'the stuck client resumes to the end');
  assertEq([...got.map((r) => r.data), ...again.events.map((e) => e.data)], datas, 'stuck client: every event exactly once, in order');
  assertEq((await fetch(gw.base + '/healthz')).status, 200, 'still serving');
});

await run();
