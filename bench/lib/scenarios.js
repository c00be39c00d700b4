// The scenarios of bench/run (docs/BENCHMARKS.md describes each). A scenario
// has variants; a variant maps each peer it runs ('gateway', 'nchan', or
// 'postgres' for the ceiling) to a function that runs it once and returns its
// figures; `rows` name the figures shown, with the target's direction and
// bound; `table` says which table shows them.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const host = require('./host');
const { db, sleep, until, cpuSeconds, pssKiB, Gateway, Nchan, Loadgen, publish, Probe, NCHAN_PORT, GW_PORT } = require('./peers');

const { RUN, tools, psql, log } = host;
const CEILING_S = Number(process.env.BENCH_CEILING_S || 10);

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const percentile = (xs, p) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))] : NaN;
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

// S3 and S7 publish durably through sse.publish; their ephemeral twins S3e
// and S7e publish the same events through sse.notify: the same fan-out with
// no outbox and no sequencing, so the fan-out is measured apart from the
// database. Nchan runs the same load in both.
const oneToMany = (ephemeral) => async (server) => {
  const { rep } = await delivery(server, { conns: 10000, streams: 1, rounds: 5, rate: 1,
    pubMode: ephemeral ? server.ephemeralArgs() : undefined });
  return { last_ms: median(rep.seq_max_us) / 1000, p50_ms: median(rep.seq_p50_us) / 1000, lost: rep.lost + rep.dup };
};
const oneToManyRows = (ratio) => [
  { key: 'last_ms', label: 'publish to last receipt (ms)', target: { ratio_max: ratio } },
  { key: 'p50_ms', label: 'publish to median receipt (ms)', target: ratio === 1 ? { ratio_max: 1 } : undefined },
  { key: 'lost', label: 'lost + duplicated', target: { max: 0 } },
];

scenarios.s3 = {
  title: 'S3 one event to 10k idle subscribers (5 events, 1 s apart)',
  run: oneToMany(false),
  rows: oneToManyRows(0.5),
};
scenarios.s3e = {
  title: 'S3e S3 published ephemerally (sse.notify: no outbox, no sequencing)',
  run: oneToMany(true),
  rows: oneToManyRows(1),
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

const lightLoad = (ephemeral) => async (server) => {
  const { rep } = await delivery(server, { conns: 1000, streams: 1, rounds: 10, rate: 1,
    pubMode: ephemeral ? server.ephemeralArgs() : undefined });
  return { p50_ms: rep.p50_us / 1000, p99_ms: rep.p99_us / 1000, max_ms: rep.max_us / 1000, lost: rep.lost + rep.dup };
};

scenarios.s7 = {
  title: 'S7 light load: 1 event/s to 1k subscribers for 10 s',
  run: lightLoad(false),
  rows: [
    { key: 'p50_ms', label: 'publish to receipt p50 (ms)', target: { max: 5 } },
    { key: 'p99_ms', label: 'p99 (ms)' },
    { key: 'max_ms', label: 'max (ms)' },
    { key: 'lost', label: 'lost + duplicated', target: { max: 0 } },
  ],
};
scenarios.s7e = {
  title: 'S7e S7 published ephemerally (sse.notify: no outbox, no sequencing)',
  run: lightLoad(true),
  rows: [
    { key: 'p50_ms', label: 'publish to receipt p50 (ms)', target: { ratio_max: 1 } },
    { key: 'p99_ms', label: 'p99 (ms)' },
    { key: 'max_ms', label: 'max (ms)' },
    { key: 'lost', label: 'lost + duplicated', target: { max: 0 } },
  ],
};

// ---------------------------------------------------------------- ceiling

// PostgreSQL's own ceiling for the publishing side, with no gateway running:
// 16 sessions insert into sse.outbox for BENCH_CEILING_S seconds each, one
// row per transaction, then 16 rows per transaction (one statement), then
// through sse.publish() as S6 SQL does. The outbox's commit trigger runs, with
// the leader marked awake as under load (so no NOTIFY per commit).
async function ceiling() {
  const r = spawnSync(tools.gateway, ['migrate', '--database-url', db.url, '--log-level', 'warn'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('sse-gateway migrate failed');
  psql(db.url, 'UPDATE sse.state SET leader_sleeping = false');
  const out = {};
  try {
    for (const [key, mode, batch] of [['outbox_1', 'outbox', 1], ['outbox_16', 'outbox', 16], ['publish_1', 'sql', 1]]) {
      psql(db.url, 'TRUNCATE sse.outbox');
      psql(db.url, 'VACUUM ANALYZE sse.outbox');
      const pub = await publish(null, { mode: ['--mode', mode, '--conninfo', db.url], clients: 16, streams: 16,
        rounds: 100000000, batch, durationS: CEILING_S, timeoutS: CEILING_S + 60 });
      if (pub.errors) throw new Error(`${pub.errors} errors in ${key}`);
      out[key] = pub.events_per_s;
    }
  } finally {
    psql(db.url, 'TRUNCATE sse.outbox');
    psql(db.url, 'UPDATE sse.state SET leader_sleeping = true');
  }
  return out;
}

scenarios.ceiling = {
  title: `PostgreSQL ceiling: 16 sessions, no gateway running, ${CEILING_S} s each`,
  table: 'ceiling',
  variants: [{ name: '', postgres: ceiling }],
  rows: [
    { key: 'outbox_1', label: 'INSERT INTO sse.outbox, 1 row per transaction' },
    { key: 'outbox_16', label: 'INSERT INTO sse.outbox, 16 rows per transaction (one statement)' },
    { key: 'publish_1', label: 'SELECT sse.publish(), 1 event per transaction' },
  ],
};

// ---------------------------------------------------------------- breakdown

// Where a durable event's milliseconds go (docs/BENCHMARKS.md). From outside
// the gateway, per event: the publish call (its data), the row's insert
// (published_at) and the leader's sequencing transaction start
// (sequenced_at) from sse.events, the publisher's acknowledgement (its log),
// the NOTIFYs of the publisher's commit (the leader's wake, "sse#wake") and
// of the sequencing commit ("sse#events") as an outside listener gets them,
// and the first, mean and last receipt over the subscribers. From inside,
// the gateway's debug lines per batch (db/sequencer.c, dispatch/dispatcher.c):
// when the sequencer's wait ended, its batch started and came back
// committed; when the listener posted the dispatcher's WAKE, the dispatcher
// handled it, started its read, got the first row and started the writes.
// A stage is left out for an event that did not take it (no wake: the
// leader was busy; no WAKE: the read followed another).
const STAGES = [
  ['call', 'publish call → row inserted (published_at)', (e) => e.published - e.sent],
  ['commit', 'row inserted → commit, seen as the leader\'s wake', (e) => e.wake - e.published],
  ['wake', 'wake → sequencing transaction starts (sequenced_at)', (e) => e.sequenced - e.wake],
  ['ack', '(beside these: row inserted → commit acknowledged to the publisher)', (e) => e.ack - e.published],
  ['seq', 'sequencing starts → its NOTIFY reaches a listener', (e) => e.notify - e.sequenced],
  ['read', 'NOTIFY → first receipt (listener, read, dispatch, write, socket)', (e) => e.first - e.notify],
  ['fanout', 'first → last receipt (fan-out)', (e) => e.last - e.first],
  ['to_first', 'total: publish call → first receipt', (e) => e.first - e.sent],
  ['to_mean', 'total: publish call → mean receipt', (e) => e.mean - e.sent],
  ['to_last', 'total: publish call → last receipt', (e) => e.last - e.sent],
  // Inside the gateway (its debug lines); NaN where the event did not take the stage.
  ['in_woke', 'inside: row inserted → sequencer woken', (e) => (e.s?.woke_us ? e.s.woke_us - e.published : NaN)],
  ['in_start', 'inside: sequencer woken → batch sent', (e) => (e.s?.woke_us ? e.s.start_us - e.s.woke_us : NaN)],
  ['in_idle', 'inside: row inserted → batch sent, leader busy (no wake)', (e) => (e.s && !e.s.woke_us ? e.s.start_us - e.published : NaN)],
  ['in_batch', 'inside: batch sent → committed (the sequencing round trip)', (e) => (e.s ? e.s.done_us - e.s.start_us : NaN)],
  ['in_notify', 'inside: batch committed → WAKE (or hand-over) posted to the dispatcher', (e) => (e.s && e.d?.wake_us ? e.d.wake_us - e.s.done_us : NaN)],
  ['in_queue', 'inside: WAKE (or hand-over) posted → handled by the dispatcher', (e) => (e.d?.wake_us ? e.d.handled_us - e.d.wake_us : NaN)],
  ['in_toread', 'inside: WAKE handled → read sent', (e) => (e.d?.handled_us && e.d.read_us ? e.d.read_us - e.d.handled_us : NaN)],
  ['in_read', 'inside: read sent → first row (the read round trip)', (e) => (e.d?.read_us ? e.d.rows_us - e.d.read_us : NaN)],
  ['in_encode', 'inside: first row → writes started (encode, window, fan-out)', (e) => (e.d ? e.d.written_us - e.d.rows_us : NaN)],
  ['in_socket', 'inside: writes started → first receipt (write, loopback, client)', (e) => (e.d ? e.first - e.d.written_us : NaN)],
];

const readLines = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')) : []);

// The gateway's debug lines of one kind, as objects of their integer fields.
function batchLines(file, message) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(` ${message} `) || l.endsWith(` ${message}`))
    .map((l) => Object.fromEntries([...l.matchAll(/ ([a-z_]+)=(-?\d+)/g)].map(([, k, v]) => [k, Number(v)])));
}

// Joins the sources by (stream, sequence number) and position; returns the
// stages' p50 and p99 in ms and how many events took each path.
function stages(rows, notes, acks, receipts, seqs, disps) {
  const ack = new Map(acks.map(([stream, seq, , us]) => [`${stream} ${seq}`, Number(us)]));
  const rx = new Map(receipts.map(([stream, seq, , , first, last, mean]) => [`${stream} ${seq}`,
    { first: Number(first), last: Number(last), mean: Number(mean) }]));
  const heads = notes.filter((n) => n.channel === 'sse#events').map((n) => ({ us: n.us, head: Number(n.payload) }));
  const wakes = notes.filter((n) => n.channel === 'sse#wake').map((n) => n.us).sort((a, b) => a - b);
  seqs.sort((a, b) => a.head - b.head);
  disps.sort((a, b) => a.last - b.last);
  const events = [];
  let h = 0, si = 0, di = 0;
  for (const [position, stream, data, published, sequenced] of rows) {
    const [seq, sent] = data.split(' ');
    const key = `${stream} ${seq}`;
    const pos = Number(position);
    while (h < heads.length && heads[h].head < pos) h++;
    while (si < seqs.length && seqs[si].head < pos) si++;
    while (di < disps.length && disps[di].last < pos) di++;
    const e = { sent: Number(sent), published: Number(published), sequenced: Number(sequenced), ack: ack.get(key),
      notify: h < heads.length ? heads[h].us : undefined, ...rx.get(key),
      s: si < seqs.length && seqs[si].head - seqs[si].events < pos ? seqs[si] : undefined,
      d: di < disps.length && disps[di].first <= pos ? disps[di] : undefined };
    // The wake this event's commit sent, if the leader was asleep: the first
    // one after the insert, before its sequencing started.
    const w = wakes.find((us) => us >= e.published && us <= e.sequenced);
    e.wake = w;
    events.push(e);
  }
  const out = { events: events.length, woken: events.filter((e) => e.wake !== undefined).length,
    received: events.filter((e) => e.first !== undefined).length,
    timed: events.filter((e) => e.s && e.d).length, handed: events.filter((e) => e.d && !e.d.read_us).length };
  for (const [key, , f] of STAGES) {
    const xs = events.map(f).filter((x) => Number.isFinite(x)).map((us) => us / 1000);
    out[`${key}_p50`] = percentile(xs, 0.5);
    out[`${key}_p99`] = percentile(xs, 0.99);
  }
  return out;
}

async function breakdown({ name, conns, streams, rounds, rate, shuffle }) {
  const server = new Gateway(1, { logLevel: 'debug' });
  const tag = path.join(RUN, `breakdown-${name}`);
  for (const f of [`${tag}-receipts.txt`, `${tag}-publish.txt`]) fs.rmSync(f, { force: true });
  await server.start();
  let gen, probe;
  try {
    const [[head0]] = psql(db.url, 'SELECT head FROM sse.state');
    probe = new Probe(['sse#events', 'sse#wake'], 600);
    await probe.listening();
    gen = new Loadgen(server.ports()[0], server.path(), { conns, streams, expect: rounds, timeout: 300, sources: 16,
      eventsOut: `${tag}-receipts.txt` });
    const c = await gen.connected(300000);
    if (c.failed) throw new Error(`${c.failed} connects failed`);
    await sleep(500);
    await publish(server, { streams, rounds, rate, shuffle, log: `${tag}-publish.txt`, timeoutS: 180 });
    try {
      await gen.complete(120000);
    } catch {
      log('breakdown: not every event arrived');
    }
    const rep = await gen.quit(); // writes the receipts
    gen = null;
    const notes = await probe.stop();
    probe = null;
    const rows = psql(db.url, 'SELECT position, stream, data, (extract(epoch FROM published_at) * 1e6)::bigint, ' +
      `(extract(epoch FROM sequenced_at) * 1e6)::bigint FROM sse.events WHERE position > ${Number(head0)} ORDER BY position`);
    const logFile = `${tag}-gateway.log`; // kept for a look at the runs
    fs.copyFileSync(server.logFile(server.ports()[0]), logFile);
    const out = stages(rows, notes, readLines(`${tag}-publish.txt`), readLines(`${tag}-receipts.txt`),
      batchLines(logFile, 'batch sequenced'), batchLines(logFile, 'events dispatched'));
    out.lost = rep ? rep.lost + rep.dup : NaN;
    return out;
  } finally {
    if (gen) await gen.quit();
    if (probe) await probe.stop();
    await server.stop();
  }
}

scenarios.breakdown = {
  title: 'Durable path breakdown (gateway only, measured from outside it)',
  table: 'breakdown',
  variants: [
    { name: 'S7', gateway: () => breakdown({ name: 'S7', conns: 1000, streams: 1, rounds: 10, rate: 1 }) },
    { name: 'S4', gateway: () => breakdown({ name: 'S4', conns: 19000, streams: 1900, rounds: 5, rate: 1000, shuffle: true }) },
  ],
  rows: [
    ...STAGES.flatMap(([key, label]) => [{ key: `${key}_p50`, label, stat: 'p50' }, { key: `${key}_p99`, label, stat: 'p99' }]),
    { key: 'events', label: 'events sequenced' },
    { key: 'woken', label: 'of which woke a sleeping leader' },
    { key: 'received', label: 'of which reached a subscriber' },
    { key: 'timed', label: 'of which the gateway\'s debug lines timed' },
    { key: 'handed', label: 'of which the leader handed over (no read)' },
    { key: 'lost', label: 'lost + duplicated', target: { max: 0 } },
  ],
};

// Scenarios without variants run one: the gateway against Nchan.
for (const sc of Object.values(scenarios))
  if (!sc.variants) sc.variants = [{ name: '', gateway: () => sc.run(new Gateway(1)), nchan: () => sc.run(new Nchan()) }];

module.exports = { scenarios, median, STAGES };
