// A child process of listen_storm.test.mjs: opens SSE subscriptions, each to
// several new streams, over raw sockets to 127.0.0.1, keeps them open and
// reading, and closes them when the parent says so. Run with fork():
//   argv[2]: JSON {port, prefix, first, connections, perConnection, inFlight, spreadMs}
// The connections open evenly over spreadMs, at most inFlight awaiting their 200.
// Stream names are `${prefix}${n}` for n from first * perConnection on.
// Messages to the parent: {opened, failed} once every subscription got its
// 200 (or failed), {closed} after 'close'. It exits when the parent goes.
import net from 'node:net';

const { port, prefix, first, connections, perConnection, inFlight, spreadMs } = JSON.parse(process.argv[2]);
const started = Date.now();
const sockets = [];
let next = 0, opened = 0, failed = 0, active = 0;

function target(c) {
  const streams = [];
  for (let k = 0; k < perConnection; k++) streams.push(`stream=${prefix}${(first + c) * perConnection + k}`);
  return `/events?${streams.join('&')}`;
}

function open(c) {
  active++;
  const sock = net.connect(port, '127.0.0.1');
  sockets.push(sock);
  let head = '', settled = false;
  const settle = (ok) => {
    if (settled) return;
    settled = true;
    active--;
    if (ok) opened++; else failed++;
    pump();
  };
  sock.setTimeout(30000, () => { sock.destroy(); settle(false); });
  sock.on('connect', () => sock.write(`GET ${target(c)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`));
  sock.on('data', (d) => {
    if (settled) return; // keep reading, so the gateway never sees a slow consumer
    head += d.toString('latin1');
    if (head.includes('\r\n')) settle(head.startsWith('HTTP/1.1 200'));
  });
  sock.on('error', () => settle(false));
  sock.on('close', () => settle(false));
}

function pump() {
  const due = Math.min(connections, Math.ceil(((Date.now() - started + 1) / spreadMs) * connections));
  while (active < inFlight && next < due) open(next++);
  if (next < connections && !pump.timer) pump.timer = setTimeout(() => { pump.timer = null; pump(); }, 10);
  if (opened + failed === connections && !pump.reported) {
    pump.reported = true;
    process.send({ opened, failed });
  }
}

process.on('message', (m) => {
  if (m === 'close') {
    for (const s of sockets) s.destroy();
    process.send({ closed: sockets.length });
  }
});
process.on('disconnect', () => process.exit(0));
pump();
