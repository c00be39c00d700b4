// The processes a scenario drives: the two servers under test (the gateway
// and nginx + Nchan), the load generator, the publisher and the probe (an
// outside LISTENer). Each is started pinned to its role's cores, tracked by
// PID and recorded for provenance.
'use strict';
const { spawn, spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');
const readline = require('readline');
const host = require('./host');

const { RUN, tools, cores, pinned, track, untrack, record, childrenOf, readOr, log } = host;
const GW_PORT = 18180; // instances use 18180, 18181, 18182; admin on +100
const NCHAN_PORT = 18280;
const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100; // USER_HZ on every Linux the harness runs on
  }
})();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const db = { url: '' };

// ---------------------------------------------------------------- process figures

function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readOr(`/proc/${pid}/stat`, '');
    if (!stat) continue;
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]); // utime, stime
  }
  return ticks / TICKS;
}

function pssKiB(pids) {
  let kib = 0;
  for (const pid of pids) {
    const m = /^Pss:\s+(\d+) kB/m.exec(readOr(`/proc/${pid}/smaps_rollup`, ''));
    if (m) kib += Number(m[1]);
  }
  return kib;
}

function httpGet(port, urlPath, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
  });
}

async function until(what, cond, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// A child on its role's cores, tracked until it exits.
function start(role, label, cmd, args, opts) {
  const p = spawn(...pinned(role, cmd, args), opts);
  track(p.pid, label);
  p.exited = new Promise((r) => p.on('exit', (code, sig) => {
    untrack(p.pid);
    r(code ?? sig);
  }));
  return p;
}

// ---------------------------------------------------------------- servers

class Gateway {
  // opts.logLevel: 'debug' makes the gateway log its per-batch times (the breakdown).
  constructor(instances = 1, opts = {}) {
    this.instances = instances;
    this.logLevel = opts.logLevel || 'warn';
    this.procs = [];
    this.kind = 'gateway';
  }
  logFile(port) {
    return path.join(RUN, `gateway-${port}.log`);
  }
  ports() {
    return [...Array(this.instances).keys()].map((i) => GW_PORT + i);
  }
  async start() {
    for (const port of this.ports()) {
      const out = fs.openSync(this.logFile(port), 'w');
      // Pinned, one HTTP thread per server core, as nginx gets one worker each;
      // unpinned, the gateway's default (one per core).
      const p = start('server', 'gateway', tools.gateway, ['serve', '--listen', `127.0.0.1:${port}`,
        '--admin-listen', `127.0.0.1:${port + 100}`, '--database-url', db.url, '--log-level', this.logLevel,
        '--drain-timeout', '5s', '--drain-spread', '1s', '--max-connections', '19800',
        ...(cores.pinned ? ['--threads', String(cores.threads)] : [])],
      { stdio: ['ignore', out, out] });
      fs.closeSync(out);
      this.procs.push(p);
      await until(`gateway on ${port}`, async () => (await httpGet(port + 100, '/readyz')).status === 200, 30000);
      record('gateway', [p.pid]);
    }
  }
  pids() {
    return this.procs.map((p) => p.pid);
  }
  path() {
    return '/events?stream=s%d';
  }
  async metrics() {
    const sums = {};
    for (const port of this.ports()) {
      const { body } = await httpGet(port + 100, '/metrics');
      for (const line of body.split('\n')) {
        const m = /^(sse_gateway_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
        if (m) sums[m[1]] = (sums[m[1]] || 0) + Number(m[2]);
      }
    }
    return sums;
  }
  publishArgs() {
    return ['--mode', 'sql', '--conninfo', db.url];
  }
  // The same fan-out without the durable path: sse.notify, no sequencing.
  ephemeralArgs() {
    return ['--mode', 'notify', '--conninfo', db.url];
  }
  async stop() {
    for (const p of this.procs) p.kill('SIGTERM');
    for (const p of this.procs) {
      const t = setTimeout(() => p.kill('SIGKILL'), 15000);
      const code = await p.exited;
      clearTimeout(t);
      if (code !== 0) log(`gateway ${p.pid} exited with ${code}`);
    }
    this.procs = [];
  }
}

// nginx started as root runs its workers as this user and group.
function nginxUser() {
  if (process.getuid() !== 0) return '';
  const passwd = readOr('/etc/passwd', '').split('\n').map((l) => l.split(':'));
  const nobody = passwd.find((f) => f[0] === 'nobody');
  if (!nobody) throw new Error('nginx runs its workers as nobody, and there is no such user');
  const group = readOr('/etc/group', '').split('\n').map((l) => l.split(':')).find((f) => f[2] === nobody[3]);
  return `user nobody ${group ? group[0] : nobody[3]};`;
}

// Debian's nginx with the Nchan module creates its client body folder at the
// path compiled in, whatever the configuration says: it needs the parent.
function nginxCompiledPaths() {
  const r = spawnSync(tools.nginx, ['-V'], { encoding: 'utf8' });
  const m = /--http-client-body-temp-path=(\S+)/.exec(`${r.stdout}${r.stderr}`);
  const parent = m && path.dirname(m[1]);
  if (parent && !fs.existsSync(parent) && process.getuid() === 0) {
    log(`creating ${parent}, which nginx needs`);
    fs.mkdirSync(parent, { recursive: true });
  }
}

class Nchan {
  constructor(workers = cores.threads) {
    this.workers = workers;
    this.kind = 'nchan';
  }
  ports() {
    return [NCHAN_PORT];
  }
  async start() {
    const dir = path.join(RUN, 'nginx');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const conf = fs.readFileSync(path.join(__dirname, '..', 'nginx-nchan.conf.in'), 'utf8')
      .replaceAll('@MODULE@', tools.nchanModule)
      .replaceAll('@USER@', nginxUser())
      .replaceAll('@WORKERS@', String(this.workers))
      .replaceAll('@DIR@', dir)
      .replaceAll('@PORTS@', `    listen 127.0.0.1:${NCHAN_PORT} reuseport backlog=4096;`);
    this.conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(this.conf, conf);
    nginxCompiledPaths();
    const r = spawnSync(...pinned('server', tools.nginx, ['-c', this.conf, '-p', dir + '/', '-e', path.join(dir, 'nginx-error.log')]),
      { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('nginx did not start');
    const pidFile = path.join(dir, 'nginx.pid');
    await until('nginx pid file', () => fs.existsSync(pidFile), 10000);
    this.master = Number(fs.readFileSync(pidFile, 'utf8'));
    track(this.master, 'nginx');
    await until('nginx workers', () => childrenOf(this.master).length >= this.workers, 10000);
    await until('nginx answering', async () => (await httpGet(NCHAN_PORT, '/')).status === 404, 10000);
    record('nginx', this.pids());
  }
  pids() {
    return [this.master, ...childrenOf(this.master)];
  }
  path() {
    return '/sub/s%d';
  }
  async metrics() {
    return {};
  }
  publishArgs() {
    return ['--mode', 'nchan', '--port', String(NCHAN_PORT)];
  }
  ephemeralArgs() {
    return this.publishArgs(); // Nchan has no durable path to leave out
  }
  async stop() {
    const pids = this.pids();
    try {
      process.kill(this.master, 'SIGTERM');
    } catch {}
    await until('nginx exit', () => pids.every((p) => !fs.existsSync(`/proc/${p}`)), 15000);
    untrack(this.master);
  }
}

// ---------------------------------------------------------------- clients

// A load generator process: its stdout lines are progress and one JSON report.
class Loadgen {
  constructor(port, urlPath, opts) {
    const args = ['--port', String(port), '--path', urlPath, '--conns', String(opts.conns),
      '--streams', String(opts.streams || 1), '--expect', String(opts.expect || 0),
      '--timeout', String(opts.timeout || 120)];
    if (opts.sources) args.push('--sources', String(opts.sources));
    if (opts.streamBase) args.push('--stream-base', String(opts.streamBase));
    if (opts.inflight) args.push('--inflight', String(opts.inflight));
    if (opts.eventsOut) args.push('--events-out', opts.eventsOut);
    this.proc = start('client', 'loadgen', tools.loadgen, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = [];
    this.waiters = [];
    this.exited = this.proc.exited;
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      this.lines.push(line);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  // Resolves with the first line (after `from`) that matches, or throws.
  async line(re, timeoutMs, from = 0) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.slice(from).find((l) => re.test(l));
      if (hit) return hit;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`loadgen: no line matching ${re} (last: ${this.lines.slice(-2).join(' | ')})`);
      await Promise.race([new Promise((r) => this.waiters.push(r)), sleep(Math.min(left, 500)), this.exited]);
      if (this.proc.exitCode !== null && !this.lines.slice(from).some((l) => re.test(l)))
        throw new Error(`loadgen exited (${this.proc.exitCode}) before ${re}`);
    }
  }
  send(cmd) {
    this.proc.stdin.write(cmd + '\n');
  }
  // The next `connected` line: one after the first connect, one per reconnect.
  async connected(timeoutMs = 120000) {
    const from = this.connectedSeen || 0;
    const l = await this.line(/^connected /, timeoutMs, from);
    this.connectedSeen = this.lines.indexOf(l, from) + 1;
    if (!this.recorded) record('loadgen', [this.proc.pid]);
    this.recorded = true;
    const [, ok, failed, ms] = /connected (\d+) failed (\d+) ms (\d+)/.exec(l);
    return { ok: +ok, failed: +failed, ms: +ms };
  }
  async report(timeoutMs = 5000) {
    const from = this.lines.length;
    this.send('report');
    return JSON.parse(await this.line(/^\{/, timeoutMs, from));
  }
  async complete(timeoutMs) {
    await this.line(/^complete$/, timeoutMs);
    return JSON.parse(await this.line(/^\{/, 5000, this.lines.indexOf('complete')));
  }
  async quit() {
    const from = this.lines.length;
    if (this.proc.exitCode === null) this.send('quit');
    let rep = null;
    try {
      rep = JSON.parse(await this.line(/^\{/, 10000, from));
    } catch {}
    await Promise.race([this.exited, sleep(10000)]);
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    return rep;
  }
}

// Runs the publisher to its end; resolves with its JSON report.
function publish(server, opts) {
  const args = [...(opts.mode || server.publishArgs()), '--clients', String(opts.clients || 1),
    '--streams', String(opts.streams || 1), '--rounds', String(opts.rounds || 1)];
  if (opts.rate) args.push('--rate', String(opts.rate));
  if (opts.shuffle) args.push('--shuffle');
  if (opts.batch) args.push('--batch', String(opts.batch));
  if (opts.firstSeq) args.push('--first-seq', String(opts.firstSeq));
  if (opts.durationS) args.push('--duration', String(opts.durationS));
  if (opts.log) args.push('--log', opts.log);
  return new Promise((resolve, reject) => {
    const p = start('client', 'publish', tools.publish, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    const t = setTimeout(() => p.kill('SIGKILL'), (opts.timeoutS || 120) * 1000);
    setTimeout(() => p.exitCode === null && record('publish', [p.pid]), 200);
    p.on('exit', (code) => {
      clearTimeout(t);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) return reject(new Error(`publisher exited ${code} without a report`));
      const rep = JSON.parse(line);
      rep.exit = code;
      resolve(rep);
    });
  });
}

// The outside LISTENer: when each NOTIFY on the given channels reached a
// listener. stop() resolves with [{ us, channel, payload }] in arrival order.
class Probe {
  constructor(channels, timeoutS) {
    const args = ['--conninfo', db.url, '--timeout', String(timeoutS)];
    for (const c of channels) args.push('--channel', c);
    this.proc = start('client', 'probe', tools.probe, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.out = '';
    this.proc.stdout.on('data', (c) => (this.out += c));
  }
  async listening() {
    await until('the probe to listen', () => this.out.startsWith('listening\n') || this.proc.exitCode !== null, 10000);
    if (this.proc.exitCode !== null) throw new Error(`probe exited (${this.proc.exitCode})`);
    record('probe', [this.proc.pid]);
  }
  async stop() {
    if (this.proc.exitCode === null) this.proc.stdin.end('quit\n');
    await Promise.race([this.proc.exited, sleep(5000)]);
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    return this.out.split('\n').slice(1).filter(Boolean).map((l) => {
      const [us, channel, ...payload] = l.split(' ');
      return { us: Number(us), channel, payload: payload.join(' ') };
    });
  }
}

module.exports = { db, GW_PORT, NCHAN_PORT, sleep, until, cpuSeconds, pssKiB, Gateway, Nchan, Loadgen, publish, Probe };
