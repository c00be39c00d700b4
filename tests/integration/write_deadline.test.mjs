// --write-deadline counts time in which a socket's client took no byte: a
// slow but steady reader of a large replay is never cut by it (bytes
// written directly or taken from the kernel's send queue count as
// progress); one that stops reading is cut, counted once, logged once.
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import {
  BIN, assert, assertEq, metric, run, sqlClient, startGateway, startPostgres, sleep, test, waitFor,
} from './lib/harness.mjs';

const db = await startPostgres();
execFileSync(BIN, ['migrate', '--database-url', db.url], { stdio: 'pipe' });
const sql = await sqlClient(db.url);
const sequenced = () => waitFor(async () => (await sql.query('SELECT count(*)::int AS n FROM sse.outbox')).rows[0].n === 0, 60000, 'sequencing');

async function publishMany(stream, n, size) {
  for (let k = 0; k < n; k += 10000) {
    await sql.query(`SELECT sse.publish($1, lpad(i::text, $2, 'x')) FROM generate_series($3::int, $4::int) i`,
      [stream, size, k + 1, Math.min(k + 10000, n)]);
  }
  await sequenced();
}

// A raw subscriber that counts what it reads and notices its socket's end.
function rawReader(port, target) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const c = { bytes: 0, ended: false, sock };
    sock.on('connect', () => { sock.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`); resolve(c); });
    sock.on('error', (e) => { reject(e); c.ended = true; });
    sock.on('close', () => { c.ended = true; });
    sock.on('data', (d) => { c.bytes += d.length; });
    c.pause = () => sock.pause();
    c.resume = () => sock.resume();
  });
}

// A client's kernel opens its receive window in steps of a segment or more,
// and a segment on loopback is 64 KiB: a reader of about 64 KiB a second
// shows progress every couple of seconds here (on a network, with 1.5 KB
// segments, a reader of 1 KiB a second does), well inside 5 s.
test('--write-deadline cuts only a socket that takes nothing: a slow steady reader of a 40 MB replay is not cut', async () => {
  const gw = await startGateway(db.url, ['--write-deadline', '5s']);
  await publishMany('steady', 40000, 1000);
  const slow = await rawReader(gw.port, '/events?stream=steady&lastEventId=0');
  // About 64 KiB a second: one socket read, then a pause of a second.
  slow.pause();
  const started = Date.now();
  while (Date.now() - started < 12000 && !slow.ended) {
    slow.resume();
    await new Promise((r) => slow.sock.once('data', r));
    slow.pause();
    await sleep(1000);
  }
  const rate = slow.bytes / ((Date.now() - started) / 1000) / 1024;
  console.log(`  read ${(slow.bytes / 1024).toFixed(0)} KiB in ${((Date.now() - started) / 1000).toFixed(1)} s (${rate.toFixed(0)} KiB/s)`);
  assert(!slow.ended, 'the steady reader is still connected after 12 s with a 5 s write deadline');
  assertEq(await metric(gw.base, 'sse_gateway_slow_consumer_disconnects_total'), 0, 'nobody was cut');
  // One that stops reading altogether is cut after the deadline; it sees the
  // end once it reads what its socket still holds.
  const stopped = Date.now();
  await waitFor(async () => (await metric(gw.base, 'sse_gateway_slow_consumer_disconnects_total')) === 1, 15000, 'the stopped reader is cut');
  console.log(`  cut ${((Date.now() - stopped) / 1000).toFixed(1)} s after it stopped reading`);
  slow.resume();
  await waitFor(() => slow.ended, 15000, 'the cut client sees its socket end');
  assert(gw.log().includes('write deadline'), 'one log line says why');
  await gw.stop();
});

await run();
