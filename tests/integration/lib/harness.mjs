// Integration harness: a private PostgreSQL cluster per test file, real
// sse-gateway processes, real sockets and clients, condition waits with
// timeouts (never sleep-and-hope), and a tiny runner that ends with
// "N passed, N failed" and a non-zero exit on failure.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import pg from 'pg';
import { EventSource } from 'eventsource';

export const BIN = process.env.SSE_GATEWAY_BIN || path.resolve('build/sse-gateway');
const PG_BIN = fs.readdirSync('/usr/lib/postgresql').sort().map((v) => `/usr/lib/postgresql/${v}/bin`).pop();
const cleanups = [];

export function onCleanup(fn) { cleanups.push(fn); }
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { last = await cond(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ': ' + last.message : ''}`);
    await sleep(20);
  }
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const asPostgres = (cmd, args) => execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' });

// A private cluster on a free port, removed at exit.
export async function startPostgres() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-it-pg-'));
  fs.chmodSync(dir, 0o755);
  execFileSync('chown', ['postgres:', dir]);
  const data = path.join(dir, 'data');
  asPostgres(`${PG_BIN}/initdb`, ['-D', data, '--auth=trust', '--username=postgres', '-E', 'UTF8']);
  const port = await freePort();
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c full_page_writes=off -c max_connections=300`;
  const db = {
    dir, port,
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    start() { asPostgres(`${PG_BIN}/pg_ctl`, ['-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '60', '-o', opts, 'start']); },
    stop(mode = 'fast') { try { asPostgres(`${PG_BIN}/pg_ctl`, ['-D', data, '-m', mode, '-w', 'stop']); } catch { /* already down */ } },
  };
  db.start();
  onCleanup(() => { db.stop('immediate'); fs.rmSync(dir, { recursive: true, force: true }); });
  return db;
}

export async function sqlClient(url) {
  const c = new pg.Client({ connectionString: url, application_name: 'sse-it' });
  await c.connect();
  onCleanup(() => c.end().catch(() => {}));
  return c;
}

export async function httpGet(base, p, headers = {}) {
  const r = await fetch(base + p, { headers });
  return { status: r.status, headers: r.headers, body: await r.text() };
}

// A real sse-gateway process on a free port; its log is printed if a test fails.
// With caFile (and --tls-cert/--tls-key in args) it serves HTTPS: base is
// https:// and readiness is asked over TLS, trusting that CA.
export async function startGateway(dbUrl, args = [], { port, env, caFile } = {}) {
  port = port || await freePort();
  const logPath = path.join(os.tmpdir(), `sse-it-gw-${process.pid}-${port}-${Date.now()}.log`);
  const log = fs.openSync(logPath, 'w');
  const proc = spawn(BIN, ['--listen', `127.0.0.1:${port}`, '--database-url', dbUrl,
    '--health-check', '1s', ...args], { stdio: ['ignore', log, log], env: { ...process.env, ...env } });
  const gw = {
    port, proc, logPath,
    base: `${caFile ? 'https' : 'http'}://127.0.0.1:${port}`,
    exited: new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal }))),
    log: () => fs.readFileSync(logPath, 'utf8'),
    async stop(signal = 'SIGTERM') { if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal); return gw.exited; },
  };
  gateways.push(gw);
  onCleanup(async () => { if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGKILL'); await gw.exited; } });
  const ready = caFile ? () => httpsGet(gw.base + '/readyz', caFile) : () => httpGet(gw.base, '/readyz');
  await waitFor(async () => (await ready()).status === 200, 20000, `gateway on ${port} ready`);
  return gw;
}
const gateways = [];

// Resident memory of a process in KiB, from /proc.
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

// One sample of a Prometheus metric (labels included in the name), or undefined.
export async function metric(base, name) {
  const text = await (await fetch(base + '/metrics')).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ')) return Number(line.slice(name.length + 1));
  }
  return undefined;
}

// Bytes the kernel holds unsent on the TCP socket from localPort to
// remotePort (the tx_queue column of /proc/net/tcp): how far a peer that
// stopped reading has fallen behind.
export function unsentBytes(localPort, remotePort) {
  const hex = (p) => p.toString(16).toUpperCase().padStart(4, '0');
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    if (f[1].endsWith(':' + hex(localPort)) && f[2].endsWith(':' + hex(remotePort)))
      return parseInt(f[4].split(':')[0], 16);
  }
  return -1;
}

// Parses SSE text into records {id, event, data, comment}; returns the unparsed rest.
export function parseSse(text, out) {
  const blocks = text.split(/\r\n\r\n|\n\n|\r\r/);
  const rest = blocks.pop();
  for (const block of blocks) {
    const rec = { id: undefined, event: undefined, data: [], comments: [], retry: undefined };
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line.startsWith(':')) { rec.comments.push(line.slice(1).trim()); continue; }
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id') rec.id = value;
      else if (field === 'event') rec.event = value;
      else if (field === 'data') rec.data.push(value);
      else if (field === 'retry') rec.retry = Number(value);
    }
    out.push({ ...rec, data: rec.data.length ? rec.data.join('\n') : undefined, raw: block });
  }
  return rest;
}

// A raw HTTP/1.1 SSE client: exact bytes, headers, chunked decoding, EOF.
// With { ca } it speaks TLS trusting that CA (PEM), and c.peerCertificate
// is the certificate the server showed.
export function rawSse(port, target, headers = {}, { ca } = {}) {
  return new Promise((resolve, reject) => {
    const sock = ca ? tls.connect({ port, host: '127.0.0.1', ca }) : net.connect(port, '127.0.0.1');
    const c = { status: 0, headers: {}, records: [], body: '', ended: false, sock, chunkedDone: false };
    let buf = Buffer.alloc(0), headDone = false, text = '';
    const hdrs = Object.entries({ Host: `127.0.0.1:${port}`, Accept: 'text/event-stream', ...headers })
      .map(([k, v]) => `${k}: ${v}\r\n`).join('');
    sock.on(ca ? 'secureConnect' : 'connect', () => {
      if (ca) c.peerCertificate = sock.getPeerCertificate();
      sock.write(`GET ${target} HTTP/1.1\r\n${hdrs}\r\n`);
    });
    sock.on('error', (e) => { if (!headDone) reject(e); c.ended = true; });
    sock.on('close', () => { c.ended = true; });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!headDone) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        c.status = Number(lines[0].split(' ')[1]);
        for (const l of lines.slice(1)) { const i = l.indexOf(':'); c.headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
        buf = buf.subarray(end + 4);
        headDone = true;
        resolve(c);
      }
      if (c.headers['transfer-encoding'] !== 'chunked') {
        c.body += buf.toString('utf8'); text += buf.toString('utf8'); buf = Buffer.alloc(0);
      } else {
        for (;;) {
          const eol = buf.indexOf('\r\n');
          if (eol < 0) break;
          const size = parseInt(buf.subarray(0, eol).toString('latin1'), 16);
          if (size === 0) { c.chunkedDone = true; buf = Buffer.alloc(0); break; }
          if (buf.length < eol + 2 + size + 2) break;
          const chunk = buf.subarray(eol + 2, eol + 2 + size).toString('utf8');
          c.body += chunk; text += chunk;
          buf = buf.subarray(eol + 2 + size + 2);
        }
      }
      text = parseSse(text, c.records);
    });
    c.close = () => sock.destroy();
    c.pause = () => sock.pause();
    c.resume = () => sock.resume();
    c.localPort = () => sock.localPort;
    onCleanup(() => sock.destroy());
  });
}

// An npm `eventsource` client that records every event (typed ones too) and reconnects by itself.
export function esClient(url, { lastEventId, types = [] } = {}) {
  const c = { events: [], errors: 0, opens: 0 };
  const fetchWithHeader = (input, init) => fetch(input, {
    ...init,
    headers: { ...(init?.headers || {}), ...(lastEventId !== undefined && !init?.headers?.['Last-Event-ID'] ? { 'Last-Event-ID': String(lastEventId) } : {}) },
  });
  const es = new EventSource(url, { fetch: fetchWithHeader });
  const record = (e) => c.events.push({ id: e.lastEventId, type: e.type, data: e.data });
  es.onmessage = record;
  for (const t of types) es.addEventListener(t, record);
  es.onerror = () => { c.errors++; };
  es.onopen = () => { c.opens++; };
  c.es = es;
  c.close = () => es.close();
  onCleanup(() => es.close());
  return c;
}

// The runner: sequential tests, cleanup at exit, a summary line.
const tests = [];
export function test(name, fn) { tests.push({ name, fn }); }
export function assert(cond, msg) { if (!cond) throw new Error('assertion failed: ' + msg); }
export function assertEq(a, b, msg) {
  const sa = JSON.stringify(a), sb = JSON.stringify(b);
  if (sa !== sb) throw new Error(`assertion failed: ${msg}\n  got:      ${sa.slice(0, 800)}\n  expected: ${sb.slice(0, 800)}`);
}

async function runCleanups() {
  while (cleanups.length) { try { await cleanups.pop()(); } catch { /* best effort */ } }
}

export async function run() {
  let passed = 0, failed = 0;
  const hardLimit = setTimeout(() => abort('test file exceeded its time limit'), 170000);
  for (const t of tests) {
    const started = Date.now();
    try {
      await t.fn();
      passed++;
      console.log(`ok - ${t.name} (${Date.now() - started} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAILED - ${t.name}: ${e.stack || e}`);
      for (const gw of gateways) console.log(`--- gateway ${gw.port} log (tail) ---\n${gw.log().split('\n').slice(-40).join('\n')}`);
    }
  }
  await runCleanups();
  clearTimeout(hardLimit);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
process.on('SIGINT', async () => { await runCleanups(); process.exit(130); });
// A test file that dies (an error event nobody handles, a time limit) still
// stops its PostgreSQL, gateways and browsers: nothing outlives it.
async function abort(why) {
  console.log(`FAILED - ${why}`);
  const forced = setTimeout(() => process.exit(1), 10000);
  await runCleanups();
  clearTimeout(forced);
  process.exit(1);
}
process.on('uncaughtException', (e) => abort(`uncaught: ${e.stack || e}`));
process.on('unhandledRejection', (e) => abort(`unhandled rejection: ${e?.stack || e}`));

// --- TLS edge helpers (edge_*.test.mjs) ---

// A throwaway certificate authority and a server certificate for 127.0.0.1
// and localhost, made with openssl in a fresh folder removed at exit. Returns
// the paths {dir, ca, cert, key, bundle}; bundle is cert then key in one PEM.
export function makeTestCa() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-it-tls-'));
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = (name) => path.join(dir, name);
  const ssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2',
    '-subj', '/CN=sse-gateway test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ssl('req', '-new', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(f('server.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' +
    'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('server.crt'), '-days', '2', '-extfile', f('server.ext'));
  fs.writeFileSync(f('server.pem'), fs.readFileSync(f('server.crt'), 'utf8') + fs.readFileSync(f('server.key'), 'utf8'));
  fs.chmodSync(dir, 0o755);
  return { dir, ca: f('ca.pem'), cert: f('server.crt'), key: f('server.key'), bundle: f('server.pem') };
}

// A shipped config file with only some lines changed: each rule is
// [regex (global), replacement (string or function), expected match count].
// A rule matching another number of times throws, so a config that drifts
// from what the test expects fails the test instead of being tested halfway.
export function rewriteConfig(text, rules) {
  for (const [re, replacement, count] of rules) {
    const n = (text.match(re) || []).length;
    if (n !== count) throw new Error(`config rewrite: ${re} matched ${n} times, expected ${count}`);
    text = text.replace(re, replacement);
  }
  return text;
}

// Debian's headless Chromium for playwright-core; with caFile, the browser
// trusts that CA through a private NSS database (its HOME is a fresh folder),
// the same trust path as a CA installed on a desktop. Closed at exit.
export async function launchChromium({ caFile } = {}) {
  const { chromium } = await import('playwright-core');
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-it-home-'));
  onCleanup(() => fs.rmSync(home, { recursive: true, force: true }));
  if (caFile) {
    const nssdb = `sql:${path.join(home, '.pki', 'nssdb')}`;
    fs.mkdirSync(path.join(home, '.pki', 'nssdb'), { recursive: true });
    execFileSync('certutil', ['-N', '-d', nssdb, '--empty-password'], { stdio: 'pipe' });
    execFileSync('certutil', ['-A', '-d', nssdb, '-n', 'sse-gateway-test-ca', '-t', 'C,,', '-i', caFile], { stdio: 'pipe' });
  }
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    env: { ...process.env, HOME: home },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  onCleanup(() => browser.close());
  return browser;
}

// GET over HTTPS trusting caFile (HTTP/1.1): {status, body}, or throws.
export function httpsGet(url, caFile) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: fs.readFileSync(caFile), timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
