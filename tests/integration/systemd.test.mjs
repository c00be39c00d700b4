// The service manager's notifications (systemd's Type=notify) with a fake
// NOTIFY_SOCKET: a unix datagram socket this test binds (through python3,
// since node has no unix datagram sockets). READY=1 once the gateway
// serves, WATCHDOG=1 about every 500 ms with WATCHDOG_USEC=1000000,
// RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 at SIGTERM; an
// abstract socket ('@name') works too.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import {
  assert, assertEq, freePort, httpGet, onCleanup, run, startPostgres, test, waitFor,
} from './lib/harness.mjs';

// Binds a datagram socket at addr (a path, or '@name' for an abstract
// one) and records every message with the time it arrived.
async function notifySocket(addr) {
  const script = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
a = sys.argv[1]
s.bind('\\0' + a[1:] if a.startswith('@') else a)
print('bound', flush=True)
while True:
    print(s.recv(4096).decode().replace('\\n', '|'), flush=True)
`;
  const proc = spawn('python3', ['-c', script, addr], { stdio: ['ignore', 'pipe', 'inherit'] });
  onCleanup(() => proc.kill('SIGKILL'));
  const sock = { messages: [], bound: false };
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    if (line === 'bound') sock.bound = true;
    else sock.messages.push({ at: Date.now(), lines: line.split('|') });
  });
  await waitFor(() => sock.bound, 5000, `the socket ${addr} bound`);
  sock.with = (key) => sock.messages.filter((m) => m.lines.includes(key));
  return sock;
}

// A gateway started with the given NOTIFY_SOCKET (and watchdog); not waited for.
async function startNotified(db, addr, env = {}) {
  const port = await freePort();
  const logPath = path.join(dir, `gw-${port}.log`);
  const log = fs.openSync(logPath, 'w');
  const proc = spawn(process.env.SSE_GATEWAY_BIN || 'build/sse-gateway',
    ['--listen', `127.0.0.1:${port}`, '--database-url', db.url, '--drain-timeout', '3s'],
    { stdio: ['ignore', log, log], env: { ...process.env, NOTIFY_SOCKET: addr, WATCHDOG_USEC: '', WATCHDOG_PID: '', ...env } });
  onCleanup(() => proc.kill('SIGKILL'));
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve({ code })));
  return { port, proc, exited, log: () => fs.readFileSync(logPath, 'utf8') };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-it-notify-'));
onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
const db = await startPostgres();
const sock = await notifySocket(path.join(dir, 'notify'));
const gw = await startNotified(db, path.join(dir, 'notify'), { WATCHDOG_USEC: '1000000' });

test('READY=1 once the gateway serves, and only then', async () => {
  await waitFor(() => sock.with('READY=1').length === 1, 20000, 'READY=1');
  // At READY the HTTP daemon answers at once: no retry here.
  assertEq((await httpGet(`http://127.0.0.1:${gw.port}`, '/healthz')).status, 200, '/healthz right after READY=1');
  assert(/serving on/.test(gw.log()), 'the log said it serves before READY=1');
  const ready = sock.with('READY=1')[0];
  assert(ready.lines.some((l) => l.startsWith('STATUS=serving on 127.0.0.1:')), `a STATUS line: ${ready.lines}`);
  assertEq(sock.messages.filter((m) => !m.lines.includes('WATCHDOG=1'))[0], ready, 'READY=1 came first');
});

test('WATCHDOG=1 about every 500 ms with WATCHDOG_USEC=1000000', async () => {
  const from = sock.with('WATCHDOG=1').length;
  await waitFor(() => sock.with('WATCHDOG=1').length >= from + 6, 8000, '6 more pings');
  const at = sock.with('WATCHDOG=1').slice(from).map((m) => m.at);
  const gaps = at.slice(1).map((t, i) => t - at[i]).sort((a, b) => a - b);
  const median = gaps[Math.floor(gaps.length / 2)];
  console.log(`  gaps between pings (ms): ${gaps.join(' ')}`);
  assert(median >= 400 && median <= 650, `median gap ${median} ms, about 500`);
  assert(gaps[gaps.length - 1] < 1000, `no gap reached WATCHDOG_USEC: ${gaps}`);
});

test('SIGHUP: RELOADING=1, then READY=1 again', async () => {
  gw.proc.kill('SIGHUP');
  await waitFor(() => sock.with('READY=1').length === 2, 5000, 'READY=1 after the reload');
  const reloading = sock.with('RELOADING=1');
  assertEq(reloading.length, 1, 'one RELOADING=1');
  assert(reloading[0].lines.some((l) => /^MONOTONIC_USEC=\d+$/.test(l)), `with MONOTONIC_USEC: ${reloading[0].lines}`);
  assert(sock.messages.indexOf(reloading[0]) < sock.messages.indexOf(sock.with('READY=1')[1]), 'in that order');
});

test('STOPPING=1 at SIGTERM, then a clean exit', async () => {
  gw.proc.kill('SIGTERM');
  await waitFor(() => sock.with('STOPPING=1').length === 1, 5000, 'STOPPING=1');
  assertEq((await gw.exited).code, 0, 'exit status');
  assertEq(sock.with('STOPPING=1').length, 1, 'one STOPPING=1');
  assertEq(sock.with('READY=1').length, 2, 'no READY=1 after it');
});

test('an abstract socket (@name) gets the same notifications', async () => {
  const name = `@sse-it-notify-${process.pid}`;
  const abstract = await notifySocket(name);
  const other = await startNotified(db, name);
  await waitFor(() => abstract.with('READY=1').length === 1, 20000, 'READY=1 on the abstract socket');
  other.proc.kill('SIGTERM');
  await waitFor(() => abstract.with('STOPPING=1').length === 1, 5000, 'STOPPING=1 on the abstract socket');
  assertEq((await other.exited).code, 0, 'exit status');
  assertEq(abstract.with('WATCHDOG=1').length, 0, 'no pings without WATCHDOG_USEC');
});

await run();
