// Rolling restart (drain): two instances behind a loopback round-robin TCP
// proxy, 50 eventsource clients on 5 streams, a publisher at ~50 events/s
// throughout. Drain A (its clients get gateway:shutdown, /readyz is 503 during
// the drain, new subscriptions get 200 + gateway:shutdown, leadership moves,
// exit 0 within --drain-timeout), restart it, then the same for B. At the end
// every client has every event of its stream exactly once, in order.
import net from 'node:net';
import {
  assert, assertEq, esClient, freePort, httpGet, rawSse, run, sleep, sqlClient, startGateway, startPostgres,
  test, unsentBytes, waitFor,
} from './lib/harness.mjs';

const ARGS = ['--drain-spread', '1s', '--drain-timeout', '8s', '--write-deadline', '3s', '--max-queued-bytes', '256MiB'];
const DRAIN_TIMEOUT_MS = 8000;
const db = await startPostgres();
const stats = async (gw) => (await fetch(gw.base + '/stats')).json();

// Round robin over upstream ports, skipping one that refuses the connection.
async function startProxy(upstreams) {
  const port = await freePort();
  let turn = 0;
  const open = new Map(upstreams.map((u) => [u, 0]));
  const server = net.createServer((client) => {
    client.pause();
    client.on('error', () => {});
    const tryUpstream = (attempt) => {
      if (attempt >= upstreams.length) { client.destroy(); return; }
      const up = upstreams[turn++ % upstreams.length];
      const conn = net.connect(up, '127.0.0.1');
      conn.once('error', () => tryUpstream(attempt + 1));
      conn.once('connect', () => {
        conn.removeAllListeners('error');
        conn.on('error', () => client.destroy());
        open.set(up, open.get(up) + 1);
        conn.once('close', () => { open.set(up, open.get(up) - 1); client.destroy(); });
        client.once('close', () => conn.destroy());
        client.pipe(conn);
        conn.pipe(client);
        client.resume();
      });
    };
    tryUpstream(0);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { port, open, close: () => server.close() };
}

test('rolling restart of two instances behind a proxy loses and repeats nothing', async () => {
  let a = await startGateway(db.url, ARGS);
  let b = await startGateway(db.url, ARGS);
  const proxy = await startProxy([a.port, b.port]);
  const clients = Array.from({ length: 50 }, (_, i) => {
    const c = esClient(`http://127.0.0.1:${proxy.port}/events?stream=rr${i % 5}`, { types: ['gateway:shutdown'] });
    c.stream = `rr${i % 5}`;
    return c;
  });
  await waitFor(async () => (await stats(a)).registered + (await stats(b)).registered === 50, 10000, '50 subscribers registered');

  const pub = await sqlClient(db.url);
  let published = 0, publishing = true;
  const publisher = (async () => {
    while (publishing) {
      await pub.query('SELECT sse.publish($1, $2)', [`rr${published % 5}`, `m${published}`]);
      published++;
      await sleep(20); // ~50 events/s
    }
  })();
  await waitFor(() => published >= 50, 10000, 'publishing under way');

  const bulk = await sqlClient(db.url);
  async function drainAndRestart(gw, other) {
    // A subscriber that stopped reading, with its socket full, keeps the drain
    // going until --write-deadline, so /readyz can be watched during it.
    const stuck = await rawSse(gw.port, '/events?stream=stuck');
    await waitFor(() => stuck.records.length >= 1, 5000, 'stuck preamble');
    stuck.pause();
    await bulk.query(`SELECT sse.publish('stuck', repeat('x', 60000)) FROM generate_series(1, 400)`);
    await waitFor(() => unsentBytes(gw.port, stuck.localPort()) > 0, 20000, 'the stuck socket is full');
    const wasLeader = (await stats(gw)).leader;
    const sentinelsBefore = clients.reduce((n, c) => n + c.events.filter((e) => e.type === 'gateway:shutdown').length, 0);
    const onIt = proxy.open.get(gw.port);

    const t0 = Date.now();
    gw.proc.kill('SIGTERM');
    await waitFor(async () => (await httpGet(gw.base, '/readyz')).status === 503, 3000, '/readyz 503 during the drain');
    const late = await rawSse(gw.port, '/events?stream=rr0');
    assertEq(late.status, 200, 'a subscription during the drain gets 200');
    await waitFor(() => late.ended, 5000, 'the late subscription is closed');
    const sentinel = late.records.find((r) => r.event === 'gateway:shutdown');
    assert(sentinel && sentinel.id === undefined && sentinel.retry >= 0 && sentinel.retry < 1000,
      `late subscriber: gateway:shutdown without id, retry in [0, 1000) (got ${JSON.stringify(sentinel)})`);
    if (wasLeader) {
      await waitFor(async () => (await stats(other)).leader, 3000, 'the other instance takes the lead');
      console.log(`  leadership moved ${Date.now() - t0} ms after SIGTERM`);
    }
    const { code } = await gw.exited;
    const took = Date.now() - t0;
    console.log(`  drained ${onIt} proxied clients in ${took} ms`);
    assertEq(code, 0, 'exit status');
    assert(took < DRAIN_TIMEOUT_MS + 1000, `exit within --drain-timeout (${took} ms)`);
    const sentinels = clients.reduce((n, c) => n + c.events.filter((e) => e.type === 'gateway:shutdown').length, 0);
    assert(sentinels - sentinelsBefore >= onIt, `each of the ${onIt} clients on it got gateway:shutdown (${sentinels - sentinelsBefore})`);
    stuck.close();
    return startGateway(db.url, ARGS, { port: gw.port });
  }

  a = await drainAndRestart(a, b);
  await waitFor(async () => (await stats(a)).registered + (await stats(b)).registered === 50, 20000, 'all 50 back after draining A');
  b = await drainAndRestart(b, a);
  await waitFor(async () => (await stats(a)).registered + (await stats(b)).registered === 50, 20000, 'all 50 back after draining B');
  await waitFor(() => published >= 50 + 200, 30000, 'some more publishing after both restarts');
  publishing = false;
  await publisher;

  await waitFor(async () => (await pub.query('SELECT count(*)::int AS n FROM sse.outbox')).rows[0].n === 0, 20000, 'sequencing');
  const truth = {};
  for (let s = 0; s < 5; s++) {
    const r = await pub.query('SELECT position::text AS id, data FROM sse.events WHERE stream = $1 ORDER BY position', [`rr${s}`]);
    truth[`rr${s}`] = r.rows;
  }
  await waitFor(() => clients.every((c) => c.events.filter((e) => e.type === 'message').length >= truth[c.stream].length),
    30000, 'every client caught up');
  let delivered = 0;
  for (const c of clients) {
    const got = c.events.filter((e) => e.type === 'message').map((e) => ({ id: e.id, data: e.data }));
    assertEq(got, truth[c.stream], `${c.stream}: every event exactly once, in order`);
    delivered += got.length;
  }
  console.log(`  ${published} events published, ${delivered} delivered to 50 clients, 0 missing, 0 repeated`);
  proxy.close();
});

await run();
