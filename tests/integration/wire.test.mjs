// The wire format with exact bytes: headers, first bytes, data
// line splitting, event types, ids, heartbeats, ephemeral messages, error
// statuses, health endpoints, and the shutdown sentinel before EOF.
import { BIN, assert, assertEq, httpGet, rawSse, run, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const db = await startPostgres();
const gw = await startGateway(db.url, ['--heartbeat', '1s']);
const sql = await sqlClient(db.url);

test('headers and first bytes', async () => {
  const c = await rawSse(gw.port, '/events?stream=w1');
  assertEq(c.status, 200, 'status');
  assert(c.headers['content-type'].startsWith('text/event-stream'), 'content type');
  assertEq(c.headers['cache-control'], 'no-cache', 'cache-control');
  assertEq(c.headers['x-accel-buffering'], 'no', 'x-accel-buffering');
  await waitFor(() => c.body.length > 0, 5000, 'first bytes');
  assert(/^retry: \d+\n:[^\n]*\n\n/.test(c.body), `first bytes are retry + comment: ${JSON.stringify(c.body)}`);
  c.close();
});

test('multi-line data, event types and ids', async () => {
  const c = await rawSse(gw.port, '/events?stream=w2');
  await waitFor(async () => (await httpGet(gw.base, '/stats')).body.includes('"w2"'), 5000, 'registration');
  await sql.query("SELECT sse.publish('w2', E'a\\nb\\r\\nc\\rd', 'kind')");
  await sql.query("SELECT sse.publish('w2', 'plain')");
  await waitFor(() => c.records.filter((r) => r.id).length === 2, 5000, 'two events');
  const [first, second] = c.records.filter((r) => r.id);
  assert(first.raw.includes('event: kind\ndata: a\ndata: b\ndata: c\ndata: d'), `split on \\n, \\r\\n, \\r: ${JSON.stringify(first.raw)}`);
  assertEq(first.event, 'kind', 'event type');
  assertEq(second.event, undefined, 'no event line without a type');
  assertEq(Number(second.id), Number(first.id) + 1, 'positions are consecutive');
  const { rows } = await sql.query('SELECT sse.head() AS head');
  assertEq(Number(rows[0].head), Number(second.id), 'id is the position');
  c.close();
});

test('heartbeat comment on an idle connection', async () => {
  const c = await rawSse(gw.port, '/events?stream=w3');
  await waitFor(() => /\n: hb\n\n/.test(c.body), 5000, 'a heartbeat');
  c.close();
});

test('ephemeral NOTIFY and sse.notify arrive without an id', async () => {
  const c = await rawSse(gw.port, '/events?stream=w4');
  await waitFor(async () => (await httpGet(gw.base, '/stats')).body.includes('"w4"'), 5000, 'registration');
  await sql.query(`NOTIFY "w4", 'raw payload'`);
  await sql.query("SELECT sse.notify('w4', 'typed', 'presence')");
  await waitFor(() => c.records.filter((r) => r.data).length >= 2, 5000, 'two ephemeral messages');
  const msgs = c.records.filter((r) => r.data);
  assertEq(msgs.map((r) => [r.id, r.event, r.data]), [[undefined, undefined, 'raw payload'], [undefined, 'presence', 'typed']], 'ephemeral messages');
  c.close();
});

test('bad requests get 400 JSON and the process keeps serving', async () => {
  for (const q of ['/events?stream=bad%20name', '/events?stream=a%00b', '/events?stream=a&lastEventId=abc',
    '/events', '/events?stream=%zz', '/events?stream=' + 'x'.repeat(201)]) {
    const r = await httpGet(gw.base, q);
    assertEq(r.status, 400, `status for ${q}`);
    assert(JSON.parse(r.body).error.length > 0, `error body for ${q}`);
  }
  assertEq((await httpGet(gw.base, '/nope')).status, 404, 'unknown path');
  assertEq((await fetch(gw.base + '/events?stream=a', { method: 'DELETE' })).status, 405, 'wrong method');
  // A malformed Last-Event-ID header is ignored as if absent.
  const c = await rawSse(gw.port, '/events?stream=w5', { 'Last-Event-ID': 'garbage' });
  assertEq(c.status, 200, 'malformed header ignored');
  c.close();
  assertEq((await httpGet(gw.base, '/healthz')).status, 200, 'healthz');
});

test('a bad flag exits 2 with one line naming it', async () => {
  const { spawnSync } = await import('node:child_process');
  for (const args of [['--bogus-flag'], ['--heartbeat', '5x']]) {
    const r = spawnSync(BIN, args, { encoding: 'utf8' });
    assertEq(r.status, 2, `exit status for ${args.join(' ')}`);
    assert(r.stderr.trim().split('\n').length === 1 && r.stderr.includes(args[0]), `one line naming ${args[0]}: ${r.stderr}`);
  }
});

test('health, readiness, metrics and stats', async () => {
  assertEq((await httpGet(gw.base, '/readyz')).status, 200, 'readyz');
  const m = await httpGet(gw.base, '/metrics');
  for (const name of ['sse_gateway_connections ', 'sse_gateway_deliveries_total', 'sse_gateway_events_received_total{kind="durable"}', 'sse_gateway_delivery_latency_seconds_bucket'])
    assert(m.body.includes(name), `metrics has ${name}`);
  const s = JSON.parse((await httpGet(gw.base, '/stats')).body);
  assert(typeof s.instance === 'string' && 'connections' in s && 'leader' in s, 'stats fields');
});

test('SIGTERM: gateway:shutdown without an id before EOF, exit 0', async () => {
  const c = await rawSse(gw.port, '/events?stream=w6');
  await waitFor(() => c.body.length > 0, 5000, 'first bytes');
  const exited = gw.stop('SIGTERM');
  await waitFor(() => c.ended || c.chunkedDone, 10000, 'end of stream');
  const last = c.records[c.records.length - 1];
  assertEq(last.event, 'gateway:shutdown', 'last record is the shutdown sentinel');
  assertEq(last.id, undefined, 'no id line in the sentinel');
  assert(last.retry >= 0, 'a retry line comes with it');
  assertEq(JSON.parse(last.data), { reason: 'drain' }, 'sentinel data');
  const { code } = await exited;
  assertEq(code, 0, 'exit status');
});

await run();
