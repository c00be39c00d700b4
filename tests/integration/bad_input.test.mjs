// Bad input: each gets its status and a one-line log, nothing is
// lost, and the process keeps serving: raw garbage, oversized headers and
// request lines, bad encodings and names, bad cursors, slowloris clients and
// thousands of rapid connect/disconnect cycles.
import net from 'node:net';
import {
  assert, assertEq, esClient, httpGet, rawSse, run, sleep, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const db = await startPostgres();
// A parked SSE socket learns that its client left only when it next writes
// (a parked socket learns its client left only at a write): a short heartbeat makes the churn test's reaping quick.
const gw = await startGateway(db.url, ['--heartbeat', '1s']);
const sql = await sqlClient(db.url);
const stats = async () => (await fetch(gw.base + '/stats')).json();

// Sends raw bytes, returns the status line's code (0 if the socket closed without one).
function rawRequest(bytes) {
  return new Promise((resolve) => {
    const sock = net.connect(gw.port, '127.0.0.1');
    let buf = '';
    const done = () => { sock.destroy(); const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf); resolve(m ? Number(m[1]) : 0); };
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d) => { buf += d.toString('latin1'); if (buf.includes('\r\n\r\n')) done(); });
    sock.on('error', done);
    sock.on('close', done);
    setTimeout(done, 10000).unref();
  });
}

// The gateway still serves: /healthz answers and a subscriber gets a fresh event.
async function stillServing(tag) {
  assertEq((await httpGet(gw.base, '/healthz')).status, 200, `${tag}: /healthz`);
  const c = esClient(`${gw.base}/events?stream=alive`);
  await waitFor(() => c.opens === 1, 5000, `${tag}: subscriber opens`);
  await waitFor(async () => (await stats()).streams.some((s) => s.stream === 'alive'), 5000, `${tag}: registered`);
  const data = `${tag}-${Date.now()}`;
  await sql.query('SELECT sse.publish($1, $2)', ['alive', data]);
  await waitFor(() => c.events.some((e) => e.data === data), 10000, `${tag}: event delivered`);
  c.close();
}

test('garbage, oversized and malformed requests get 4xx and the gateway keeps serving', async () => {
  const garbage = Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 7919 + 13) % 256));
  const g = await rawRequest(Buffer.concat([garbage, Buffer.from('\r\n\r\n')]));
  assert(g === 0 || (g >= 400 && g < 500), `raw garbage: got ${g}`);
  const bigHeader = await rawRequest(`GET /events?stream=a HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`);
  assert(bigHeader >= 400 && bigHeader < 500, `100 KB header: got ${bigHeader}`);
  const longLine = await rawRequest(`GET /events?stream=${'a'.repeat(10 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert(longLine >= 400 && longLine < 500, `10 KB request line: got ${longLine}`);
  console.log(`  garbage → ${g || 'closed'}, 100 KB header → ${bigHeader}, 10 KB request line → ${longLine}`);

  const cases = [
    ['/events?stream=%zz', 400, 'invalid percent-encoding'],
    ['/events?stream=a%00b', 400, '%00 in a stream name'],
    ['/events?stream=a%20b', 400, 'space in a stream name'],
    ['/events?stream=' + 'a'.repeat(201), 400, 'a 201-byte stream name'],
    ['/events?stream=', 400, 'an empty stream name'],
    ['/events', 400, 'no stream'],
    ['/events?' + Array.from({ length: 33 }, (_, i) => `stream=s${i}`).join('&'), 400, 'too many streams'],
    ['/events?stream=a&lastEventId=abc', 400, 'lastEventId=abc'],
    ['/events?stream=a&lastEventId=-1', 400, 'negative lastEventId'],
    ['/nope', 404, 'unknown path'],
  ];
  for (const [p, status, what] of cases) {
    const r = await httpGet(gw.base, p);
    assertEq(r.status, status, what);
    assert(/^\{"error":".+"\}$/.test(r.body), `${what}: a JSON error body (got ${r.body})`);
  }
  const post = await fetch(gw.base + '/events?stream=a', { method: 'DELETE' });
  assertEq(post.status, 405, 'DELETE /events');
  assert(gw.log().includes('rejected a subscription'), 'rejections are logged');
  await stillServing('after bad requests');
});

test('a malformed Last-Event-ID header is ignored as if absent', async () => {
  const c = await rawSse(gw.port, '/events?stream=hdr', { 'Last-Event-ID': 'not-a-number' });
  assertEq(c.status, 200, 'status');
  await waitFor(async () => (await stats()).streams.some((s) => s.stream === 'hdr'), 5000, 'registered live');
  await sql.query(`SELECT sse.publish('hdr', 'live')`);
  await waitFor(() => c.records.some((r) => r.data === 'live'), 5000, 'live event');
  assertEq(c.records.filter((r) => r.id !== undefined).length, 1, 'no replay: only the live event');
  c.close();
});

test('slowloris clients (a byte a second) hold nobody else up', async () => {
  const request = 'GET /events?stream=slowloris HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'z'.repeat(100);
  const socks = [];
  for (let i = 0; i < 50; i++) {
    const s = net.connect(gw.port, '127.0.0.1');
    s.on('error', () => {});
    socks.push(s);
  }
  let sent = 0;
  const trickle = setInterval(() => { for (const s of socks) s.write(request[sent % request.length]); sent++; }, 1000);
  try {
    await sleep(1500); // the slow clients are mid-request
    await stillServing('with 50 slowloris clients');
  } finally {
    clearInterval(trickle);
    for (const s of socks) s.destroy();
  }
});

// The request's headers share the per-connection buffer (--connection-memory,
// 4 KiB by default, about half for headers): a browser's usual headers with a
// JWT cookie fit, an oversized cookie jar gets 431 (and a log line from the
// HTTP library), and a larger buffer admits it.
test('request headers: a 1.5 KB cookie fits, 3 KB gets 431 unless --connection-memory is raised', async () => {
  const withCookie = (port, n) =>
    new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      let buf = '';
      const done = () => { sock.destroy(); const m = /^HTTP\/1\.1 (\d{3})/.exec(buf); resolve(m ? Number(m[1]) : 0); };
      sock.on('connect', () => sock.write(`GET /events?stream=cookie HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0\r\nAccept: text/event-stream\r\n` +
        `Cookie: big=${'c'.repeat(n)}\r\n\r\n`));
      sock.on('data', (d) => { buf += d.toString('latin1'); if (buf.includes('\r\n\r\n')) done(); });
      sock.on('error', done);
      sock.on('close', done);
      setTimeout(done, 10000).unref();
    });
  assertEq(await withCookie(gw.port, 1500), 200, '1.5 KB cookie with the default buffer');
  assertEq(await withCookie(gw.port, 3000), 431, '3 KB cookie with the default buffer');
  const roomy = await startGateway(db.url, ['--connection-memory', '16KiB']);
  try {
    assertEq(await withCookie(roomy.port, 3000), 200, '3 KB cookie with --connection-memory 16KiB');
  } finally {
    await roomy.stop();
  }
  await stillServing('after large headers');
});

test('thousands of rapid connect/disconnect cycles leak nothing', async () => {
  const cycles = 3000, parallel = 50;
  let done = 0, next = 0;
  await new Promise((resolve) => {
    const one = () => {
      if (next >= cycles) { if (done === cycles) resolve(); return; }
      const i = next++;
      const s = net.connect(gw.port, '127.0.0.1');
      s.on('connect', () => {
        // Half leave at once, half after the response has started.
        s.write(`GET /events?stream=churn${i % 10} HTTP/1.1\r\nHost: x\r\n\r\n`);
        if (i % 2 === 0) s.destroy();
      });
      s.on('data', () => s.destroy());
      s.on('error', () => {});
      s.on('close', () => { done++; one(); });
    };
    for (let k = 0; k < parallel; k++) one();
  });
  await waitFor(async () => (await stats()).connections === 0, 20000, 'every churned connection released');
  await stillServing('after churn');
  assert(gw.proc.exitCode === null, 'the gateway is still running');
});

await run();
