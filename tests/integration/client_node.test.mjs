// The client in Node (share:false) and what it relies on from the gateway:
// the parser against crafted bytes (line ends, BOM, comments, multi-line
// data, retry:, ids that outlive their event); the stream: line in every
// event frame (live, replayed, ephemeral); /sse-gateway.js with its ETag;
// and a Node subscriber that gets every event and resumes after the gateway
// restarts.
import fs from 'node:fs';
import http from 'node:http';
import { subscribe } from '../../clients/js/sse-gateway.js';
import { assert, assertEq, onCleanup, rawSse, run, sleep, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const CLIENT = new URL('../../clients/js/sse-gateway.js', import.meta.url);

test('the parser: line ends, BOM, comments, multi-line data, retry, ids', async () => {
  // Two responses, each cut into awkward chunks (a \r\n split between two
  // writes, a multi-byte character split); the second must come after the
  // retry: given by the first and carry its last id.
  const seen = [];
  const server = http.createServer(async (req, res) => {
    seen.push({ at: Date.now(), lastEventId: req.headers['last-event-id'], auth: req.headers.authorization, url: req.url });
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    const chunks = seen.length === 1
      ? ['\uFEFFretry: 150\r', '\n: a comment\r\n\r\nid: 1\r\nevent: ', 'typed\r\nstream: s1\r\ndata: one\r\n\r',
        '\nid: 2\rdata: two\rdata:  lines\r\rdata:no space\n\n', 'id: 3\nstream: s2\ndata: caf\u00e9 ',
        'x\ndata\ndata:\n\nunknown: field\nevent: ephemeral\ndata: no id\n\n', 'id: 9\ndata: incomplete, then EOF']
      : ['id: 4\nstream: s1\ndata: after the reconnect\n\n'];
    for (const c of chunks) {
      const b = Buffer.from(c);
      // The multi-byte é goes out in two writes.
      const cut = b.indexOf(0xa9) > 0 ? b.indexOf(0xa9) : b.length;
      res.write(b.subarray(0, cut));
      await sleep(15);
      if (cut < b.length) { res.write(b.subarray(cut)); await sleep(15); }
    }
    if (seen.length === 1) res.end(); // a break: the client comes back after retry: 150
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => { server.closeAllConnections(); server.close(); });
  const got = [];
  const sub = subscribe({ url: `http://127.0.0.1:${server.address().port}/events`, streams: ['s1', 's2'], share: false,
    token: 'tok', onEvent: (e) => got.push(e) });
  onCleanup(() => sub.close());
  await waitFor(() => got.length === 6, 5000, 'six events');
  sub.close();
  assertEq(got, [
    { id: '1', stream: 's1', type: 'typed', data: 'one' },
    { id: '2', stream: null, type: 'message', data: 'two\n lines' },
    { id: null, stream: null, type: 'message', data: 'no space' },
    { id: '3', stream: 's2', type: 'message', data: 'café x\n\n' },
    { id: null, stream: null, type: 'ephemeral', data: 'no id' },
    { id: '4', stream: 's1', type: 'message', data: 'after the reconnect' },
  ], 'events as the format defines them; an incomplete one at EOF is dropped');
  assertEq(seen.map((s) => [s.lastEventId, s.auth, s.url]), [
    [undefined, 'Bearer tok', '/events?stream=s1&stream=s2'],
    ['3', 'Bearer tok', '/events?stream=s1&stream=s2'],
  ], 'the reconnect sends the last id in a header, the token in Authorization');
  const gap = seen[1].at - seen[0].at;
  assert(gap >= 140 && gap < 1500, `reconnected after retry: 150 (${gap} ms)`);
});

const db = await startPostgres();
const sql = await sqlClient(db.url);
let gw = await startGateway(db.url, ['--drain-spread', '200ms']);

test('every event frame has one stream: line before its data: live, replayed, ephemeral', async () => {
  await sql.query("SELECT sse.publish('f1', 'replayed'), sse.publish('f2', e'two\\nlines', 'typed')");
  await waitFor(async () => (await sql.query('SELECT count(*)::int AS n FROM sse.outbox')).rows[0].n === 0, 5000, 'sequenced');
  const c = await rawSse(gw.port, '/events?stream=f1&stream=f2&lastEventId=0');
  await waitFor(() => c.records.length >= 3, 5000, 'the replay');
  await sql.query("SELECT sse.publish('f1', 'live')");
  // Ephemeral messages skip the sequencer: send them once the live event is in.
  await waitFor(() => c.records.filter((r) => r.data !== undefined).length === 3, 5000, 'the live event');
  await sql.query("NOTIFY \"f2\", 'raw notify'");
  await sql.query("SELECT sse.notify('f1', 'notified', 'presence')");
  await waitFor(() => c.records.filter((r) => r.data !== undefined).length === 5, 5000, 'five events');
  c.close();
  const events = c.records.filter((r) => r.data !== undefined);
  assertEq(events.map((r) => r.data), ['replayed', 'two\nlines', 'live', 'raw notify', 'notified'], 'the events');
  for (const r of events) {
    const lines = r.raw.split('\n');
    const streams = lines.filter((l) => l.startsWith('stream: '));
    assertEq(streams.length, 1, `one stream line: ${JSON.stringify(r.raw)}`);
    assert(lines.indexOf(streams[0]) < lines.findIndex((l) => l.startsWith('data: ')), `before the data: ${JSON.stringify(r.raw)}`);
  }
  assertEq(events.map((r) => r.raw.match(/^stream: (.*)$/m)[1]), ['f1', 'f2', 'f1', 'f2', 'f1'], 'the right stream');
  assert(c.records.every((r) => r.data !== undefined || !/^stream:/m.test(r.raw)), 'no stream line outside events');
});

test('/sse-gateway.js: the repository file, an ETag, a cache lifetime, 304', async () => {
  const r = await fetch(gw.base + '/sse-gateway.js');
  assertEq(r.status, 200, 'served without --demo');
  assertEq(await r.text(), fs.readFileSync(CLIENT, 'utf8'), 'the same bytes as clients/js/sse-gateway.js');
  assert(/^text\/javascript/.test(r.headers.get('content-type')), 'a JavaScript type');
  const etag = r.headers.get('etag');
  assert(/^"[0-9a-f]{16}"$/.test(etag), `a strong ETag: ${etag}`);
  assert(Number(/max-age=(\d+)/.exec(r.headers.get('cache-control'))?.[1]) > 0, 'a positive max-age');
  const again = await fetch(gw.base + '/sse-gateway.js', { headers: { 'If-None-Match': etag } });
  assertEq([again.status, await again.text(), again.headers.get('etag')], [304, '', etag], '304 on a matching If-None-Match');
  const other = await fetch(gw.base + '/sse-gateway.js', { headers: { 'If-None-Match': '"0000000000000000"' } });
  assertEq(other.status, 200, '200 on another tag');
  assertEq((await fetch(gw.base + '/sse-gateway.js', { method: 'POST' })).status, 405, 'GET only');
});

test('Node, share:false: every event, typed or not, and a resume after the gateway restarts', async () => {
  const { rows: [{ h: start }] } = await sql.query('SELECT sse.head() AS h');
  const got = [], statuses = [];
  const sub = subscribe({ url: gw.base + '/events', streams: ['n1', 'n2'], lastEventId: start,
    onEvent: (e) => got.push(e), onStatus: (s) => statuses.push(s) });
  onCleanup(() => sub.close());
  const expected = [];
  const publish = async (i) => {
    const stream = i % 2 ? 'n2' : 'n1', type = i % 3 ? null : 'order-updated', data = `n${i}\nline 2`;
    const { rows: [{ p }] } = await sql.query('SELECT sse.publish($1, $2, $3) AS p', [stream, data, type]);
    expected.push({ stream, type: type || 'message', data });
  };
  for (let i = 0; i < 20; i++) await publish(i);
  await waitFor(() => got.length === 20, 5000, 'twenty events');

  // A rolling restart: drain (gateway:shutdown), publish while nobody serves,
  // start again on the same port; the client resumes from its last id.
  await gw.stop('SIGTERM');
  for (let i = 20; i < 30; i++) await publish(i);
  gw = await startGateway(db.url, [], { port: gw.port });
  for (let i = 30; i < 40; i++) await publish(i);
  await waitFor(() => got.length >= 40, 15000, 'forty events');
  await sleep(200);
  sub.close();
  assertEq(got.map(({ stream, type, data }) => ({ stream, type, data })), expected, 'every event once, in order');
  const ids = got.map((e) => Number(e.id));
  assert(ids.every((id, i) => i === 0 || id > ids[i - 1]), 'ids increase');
  assert(statuses.includes('reconnecting') && statuses.at(-1) === 'closed', `statuses: ${statuses}`);
  console.log(`# Node: 40 events, 10 published while no gateway ran; lost 0, repeated 0; statuses ${statuses.join(' > ')}`);
});

await run();
