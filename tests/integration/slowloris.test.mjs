// Slowloris: sockets that trickle their request headers a byte at a time and
// never finish them. With --max-connections 50 and --request-timeout 2s, 200
// of them (more than the daemon's connection limit, so the rest wait in the
// kernel's backlog, unseen) must not keep /healthz waiting more than 3 s
// after the last one connected, and each is closed within about the timeout
// of connecting, however steadily it trickles.
import net from 'node:net';
import {
  assert, onCleanup, run, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const TIMEOUT_MS = 2000;
const db = await startPostgres();
const gw = await startGateway(db.url, ['--max-connections', '50', '--request-timeout', '2s']);

// A socket that sends a request line and then one header byte every 250 ms.
function trickler() {
  return new Promise((resolve) => {
    const t = { connectedAt: 0, closedAt: 0 };
    const sock = net.connect(gw.port, '127.0.0.1');
    onCleanup(() => sock.destroy());
    const head = 'GET /events?stream=slow HTTP/1.1\r\nHost: x\r\nX-Slow: ';
    let timer;
    sock.on('connect', () => {
      t.connectedAt = Date.now();
      let sent = 0;
      timer = setInterval(() => { if (!sock.destroyed) sock.write(sent < head.length ? head[sent++] : 'z'); }, 250);
      resolve(t);
    });
    sock.on('error', () => {});
    sock.on('close', () => { clearInterval(timer); t.closedAt = Date.now(); });
    t.sock = sock;
  });
}

// First, while the daemon has never been full.
test('a socket trickling alone keeps the full timeout, one that finishes its headers is served', async () => {
  const t = await trickler();
  const ok = await fetch(gw.base + '/healthz');
  assert(ok.status === 200, 'a normal request meanwhile');
  await waitFor(() => t.closedAt, 3 * TIMEOUT_MS, 'the trickler closed');
  const life = t.closedAt - t.connectedAt;
  console.log(`  a lone trickler closed after ${life} ms`);
  assert(life >= TIMEOUT_MS - 100 && life <= TIMEOUT_MS + 1000, `about the timeout: ${life} ms`);
});

test('200 trickling sockets: /healthz answers within 3 s of the last connecting, each is closed in time', async () => {
  const socks = await Promise.all(Array.from({ length: 200 }, trickler));
  const lastConnected = Math.max(...socks.map((t) => t.connectedAt));
  const started = Date.now();
  const r = await fetch(gw.base + '/healthz', { signal: AbortSignal.timeout(15000) });
  const answeredAfter = Date.now() - lastConnected;
  assert(r.status === 200, `/healthz: ${r.status}`);
  console.log(`  /healthz answered ${answeredAfter} ms after the last trickler connected (asked ${started - lastConnected} ms after)`);
  assert(answeredAfter <= 3000, `/healthz within 3 s of the last connecting: ${answeredAfter} ms`);

  await waitFor(() => socks.every((t) => t.closedAt), 3 * TIMEOUT_MS, 'every trickler closed');
  const lives = socks.map((t) => t.closedAt - t.connectedAt).sort((a, b) => a - b);
  console.log(`  tricklers closed after ${lives[0]}..${lives[lives.length - 1]} ms (median ${lives[100]})`);
  assert(lives[lives.length - 1] <= TIMEOUT_MS + 1000, `each closed within about the timeout: the last after ${lives[lives.length - 1]} ms`);
  assert(/closed \d+ sockets without complete request headers/.test(gw.log()), 'the sweeps are logged');
});

await run();
