// The scenarios of bench/run (docs/BENCHMARKS.md describes each). A scenario
// has variants; a variant maps each peer it runs ('gateway', 'nchan') to a
// function that runs it once and returns its figures; `rows` name the
// figures shown, with the target's direction and bound.
'use strict';
const host = require('./host');
const { sleep, until, cpuSeconds, pssKiB, Gateway, Nchan, Loadgen, publish, NCHAN_PORT, GW_PORT } = require('./peers');

const { log } = host;

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const scenarios = {};

// ---------------------------------------------------------------- S1

async function idleConnections(makeServer, total, instances) {
  const server = makeServer();
  await server.start();
  try {
    await sleep(1000);
    const base = pssKiB(server.pids());
    // One load generator per server instance (or per Nchan worker), so no
    // process holds more than the 20,000 files allowed here.
    const ports = server.kind === 'gateway' ? server.ports() : Array(instances).fill(NCHAN_PORT);
    const each = Math.ceil(total / ports.length);
    const gens = ports.map((port, i) => new Loadgen(port, server.path(), {
      conns: Math.min(each, total - i * each), streams: 100, sources: 16, timeout: 600,
    }));
    const t0 = Date.now();
    const res = await Promise.all(gens.map((g) => g.connected(300000)));
    const connectS = (Date.now() - t0) / 1000;
    await sleep(3000); // let the servers' lazy allocations settle
    const after = pssKiB(server.pids());
    const reps = await Promise.all(gens.map((g) => g.report()));
    const open = reps.reduce((a, r) => a + r.connected, 0);
    for (const g of gens) await g.quit();
    return {
      // Per connection actually held: a server that refused some would
      // otherwise look smaller than it is.
      kib_per_conn: (after - base) / Math.max(1, open),
      pss_mib: after / 1024,
      failed: res.reduce((a, r) => a + r.failed, 0) + reps.reduce((a, r) => a + r.http_errors, 0) + (total - open),
      connect_s: connectS,
    };
  } finally {
    await server.stop();
  }
}

scenarios.s1 = {
  title: 'S1 idle connections held',
  variants: [
    { name: '10k', gateway: () => idleConnections(() => new Gateway(1), 10000, 1), nchan: () => idleConnections(() => new Nchan(1), 10000, 1) },
    { name: '19k', gateway: () => idleConnections(() => new Gateway(1), 19000, 1), nchan: () => idleConnections(() => new Nchan(1), 19000, 1) },
    { name: '50k/3', gateway: () => idleConnections(() => new Gateway(3), 50000, 3), nchan: () => idleConnections(() => new Nchan(3), 50000, 3) },
  ],
  rows: [
    { key: 'kib_per_conn', label: 'memory per connection (KiB, PSS)', target: { ratio_max: 0.6 } },
    { key: 'failed', label: 'failed connects', target: { max: 0 } },
    { key: 'connect_s', label: 'time to connect all (s)' },
  ],
};

// ---------------------------------------------------------------- S2-S7

// Subscribers connect, the server's CPU clock is read, the publisher runs,
// the load generator reports when every subscriber has every event.
async function delivery(server, { conns, streams, rounds, rate, shuffle, clients, pubMode, timeoutS = 120 }) {
  await server.start();
  try {
    const gen = new Loadgen(server.ports()[0], server.path(), { conns, streams, expect: rounds, timeout: timeoutS, sources: 16 });
    const c = await gen.connected(300000);
    if (c.failed) throw new Error(`${c.failed} connects failed`);
    await sleep(500);
    const cpu0 = cpuSeconds(server.pids());
    const pub = await publish(server, { streams, rounds, rate, shuffle, clients, mode: pubMode, timeoutS });
    let rep;
    try {
      rep = await gen.complete(timeoutS * 1000);
    } catch (e) {
      rep = await gen.quit();
      log(`${server.kind}: not every event arrived: lost ${rep && rep.lost}`);
    }
    const cpu = cpuSeconds(server.pids()) - cpu0;
    await gen.quit();
    return { pub, rep, cpu };
  } finally {
    await server.stop();
  }
}

scenarios.s2 = {
  title: 'S2 burst: 10k subscribers on one stream, 200 events back to back',
  run: async (server) => {
    const { rep, cpu } = await delivery(server, { conns: 10000, streams: 1, rounds: 200 });
    const span = (rep.last_rx_us - rep.first_rx_us) / 1e6;
    return { per_cpu_s: rep.distinct / cpu, per_s: rep.distinct / span, p50_ms: rep.p50_us / 1000, p99_ms: rep.p99_us / 1000,
      cpu_s: cpu, lost: rep.lost + rep.dup };
  },
  rows: [
    { key: 'per_cpu_s', label: 'deliveries per server CPU-second', target: { ratio_min: 2 } },
    { key: 'per_s', label: 'deliveries per second' },
    { key: 'p50_ms', label: 'latency p50 (ms)' },
    { key: 'p99_ms', label: 'latency p99 (ms)', target: { ratio_max: 1 } },
    { key: 'cpu_s', label: 'server CPU (s)' },
    { key: 'lost', label: 'lost + duplicated', target: { max: 0 } },
  ],
};

scenarios.s3 = {
  title: 'S3 one event to 10k idle subscribers (5 events, 1 s apart)',
  run: async (server) => {
    const { rep } = await delivery(server, { conns: 10000, streams: 1, rounds: 5, rate: 1 });
    return { last_ms: median(rep.seq_max_us) / 1000, p50_ms: median(rep.seq_p50_us) / 1000, lost: rep.lost + rep.dup };
  },
  rows: [
    { key: 'last_ms', label: 'publish to last receipt (ms)', target: { ratio_max: 0.5 } },
    { key: 'p50_ms', label: 'publish to median receipt (ms)' },
    { key: 'lost', label: 'lost + duplicated', target: { max: 0 } },
  ],
};

scenarios.s4 = {
  title: 'S4 many streams: 19k subscribers, 10 per stream, 9,500 publishes to random streams at 1,000/s',
  run: async (server) => {
    const { rep, cpu, pub } = await delivery(server, { conns: 19000, streams: 1900, rounds: 5, rate: 1000, shuffle: true });
    return { cpu_us: (cpu / pub.events) * 1e6, p50_ms: rep.p50_us / 1000, p99_ms: rep.p99_us / 1000, lost: rep.lost + rep.dup };
  },
  rows: [
    { key: 'cpu_us', label: 'server CPU per publish (µs)', target: { ratio_max: 1 } },
    { key: 'p50_ms', label: 'latency p50 (ms)' },
    { key: 'p99_ms', label: 'latency p99 (ms)' },
    { key: 'lost', label: 'lost + duplicated', target: { max: 0 } },
  ],
};

scenarios.s5 = {
  title: 'S5 reconnect storm: 10k clients on 100 streams drop, 100 events per stream pass, all reconnect',
  run: async (server) => {
    await server.start();
    try {
      const conns = 10000, streams = 100;
      const gen = new Loadgen(server.ports()[0], server.path(), { conns, streams, expect: 200, timeout: 300, sources: 16 });
      const c = await gen.connected(300000);
      if (c.failed) throw new Error(`${c.failed} connects failed`);
      await publish(server, { streams, rounds: 100, clients: 4 });
      await until('first 100 events everywhere', async () => (await gen.report()).distinct >= conns * 100, 60000);
      gen.send('drop');
      await gen.line(/^dropped /, 10000);
      // A server learns of a dropped socket only when it next writes to it
      // (parked sockets are not polled), so no waiting for it to notice.
      const m0 = await server.metrics();
      await publish(server, { streams, rounds: 100, clients: 4, firstSeq: 101 });
      await sleep(1000); // every event committed and fanned out before anyone is back
      const cpu0 = cpuSeconds(server.pids());
      const from = gen.lines.length;
      gen.send('reconnect');
      await gen.line(/^complete$/, 60000);
      const rep = JSON.parse(await gen.line(/^\{/, 5000, from));
      const cpu = cpuSeconds(server.pids()) - cpu0;
      const m1 = await server.metrics();
      await gen.quit();
      const d = (k) => (m1[k] || 0) - (m0[k] || 0);
      const mem = d('sse_gateway_replayed_events_total{source="memory"}');
      const dbs = d('sse_gateway_replayed_events_total{source="database"}');
      return { catchup_ms: rep.catchup_ms, memory_pct: server.kind === 'gateway' ? (100 * mem) / Math.max(1, mem + dbs) : NaN,
        queries: server.kind === 'gateway' ? d('sse_gateway_replay_queries_total') : NaN, cpu_s: cpu, lost: rep.lost + rep.dup };
    } finally {
      await server.stop();
    }
  },
  rows: [
    { key: 'catchup_ms', label: 'reconnect to all caught up (ms)', target: { max: 1000 } },
    { key: 'memory_pct', label: 'replayed from memory (%)', target: { min: 90 } },
    { key: 'queries', label: 'database queries for replays' },
    { key: 'cpu_s', label: 'server CPU for the storm (s)' },
    { key: 'lost', label: 'lost + duplicated', target: { max: 0 } },
  ],
};

async function throughput(server, pubMode) {
  const { pub, rep } = await delivery(server, { conns: 16, streams: 16, rounds: 2000, clients: 16, pubMode, timeoutS: 180 });
  return { committed_per_s: pub.events_per_s, delivered_per_s: rep.distinct / ((rep.last_rx_us - pub.first_send_us) / 1e6),
    p99_ms: rep.p99_us / 1000, lost: rep.lost + rep.dup + pub.errors };
}

scenarios.s6 = {
  title: 'S6 publish throughput: 16 publishers, one event per transaction or request, 32,000 events, 16 subscribers',
  variants: [
    { name: 'SQL', gateway: () => throughput(new Gateway(1)), nchan: () => throughput(new Nchan()) },
    { name: 'HTTP', gateway: () => throughput(new Gateway(1), ['--mode', 'http', '--port', String(GW_PORT)]), nchan: () => throughput(new Nchan()) },
  ],
  rows: [
    { key: 'committed_per_s', label: 'events/s acknowledged', target: { min_by_variant: { SQL: 10000, HTTP: 30000 } } },
    { key: 'delivered_per_s', label: 'events/s delivered' },
    { key: 'p99_ms', label: 'latency p99 (ms)' },
    { key: 'lost', label: 'lost + duplicated + errors', target: { max: 0 } },
  ],
};

scenarios.s7 = {
  title: 'S7 light load: 1 event/s to 1k subscribers for 10 s',
  run: async (server) => {
    const { rep } = await delivery(server, { conns: 1000, streams: 1, rounds: 10, rate: 1 });
    return { p50_ms: rep.p50_us / 1000, p99_ms: rep.p99_us / 1000, max_ms: rep.max_us / 1000, lost: rep.lost + rep.dup };
  },
  rows: [
    { key: 'p50_ms', label: 'publish to receipt p50 (ms)', target: { max: 5 } },
    { key: 'p99_ms', label: 'p99 (ms)' },
    { key: 'max_ms', label: 'max (ms)' },
    { key: 'lost', label: 'lost + duplicated', target: { max: 0 } },
  ],
};

// Scenarios without variants run one: the gateway against Nchan.
for (const sc of Object.values(scenarios))
  if (!sc.variants) sc.variants = [{ name: '', gateway: () => sc.run(new Gateway(1)), nchan: () => sc.run(new Nchan()) }];

module.exports = { scenarios, median };
