// The machine side of bench/run: where the binaries come from (this tree's
// build, or a bundle made by bench/bundle), how the cores are split between
// server, database and clients, the benchmark's own PostgreSQL cluster, every
// process started (so each can be stopped by PID, whatever happens), and the
// provenance of each: executable, libraries and cores.
'use strict';
const { spawnSync, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const log = (...a) => console.error('bench:', ...a);

// ---------------------------------------------------------------- binaries

// A bundle is a folder holding bundle.json next to bench/: bench/run inside
// it runs from the bundle alone (its launcher sets BENCH_BUNDLE and the
// library path).
const BUNDLE = process.env.BENCH_BUNDLE
  ? path.resolve(process.env.BENCH_BUNDLE)
  : fs.existsSync(path.join(ROOT, 'bundle.json')) ? ROOT : '';
const manifest = BUNDLE ? JSON.parse(fs.readFileSync(path.join(BUNDLE, 'bundle.json'), 'utf8')) : null;
const RUN = process.env.BENCH_RUN ? path.resolve(process.env.BENCH_RUN)
  : BUNDLE ? path.join(BUNDLE, 'results') : path.join(ROOT, 'bench', '.run');

function newestPgBin() {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => a - b) : [];
  return versions.length ? path.join(base, versions.at(-1), 'bin') : '';
}

const inBundle = (key) => path.join(BUNDLE, manifest.paths[key]);
const tools = BUNDLE ? {
  gateway: inBundle('gateway'), loadgen: inBundle('loadgen'), publish: inBundle('publish'), probe: inBundle('probe'),
  taskset: inBundle('taskset'), pgBin: inBundle('pgBin'), nginx: inBundle('nginx'), nchanModule: inBundle('nchanModule'),
} : {
  // BENCH_GATEWAY: another build to measure (an older commit's, for a before/after).
  gateway: process.env.BENCH_GATEWAY ? path.resolve(process.env.BENCH_GATEWAY) : path.join(ROOT, 'build-bench', 'sse-gateway'),
  loadgen: path.join(ROOT, 'build-bench', 'bench', 'sse-bench-loadgen'),
  publish: path.join(ROOT, 'build-bench', 'bench', 'sse-bench-publish'),
  probe: path.join(ROOT, 'build-bench', 'bench', 'sse-bench-probe'),
  taskset: 'taskset', pgBin: newestPgBin(), nginx: 'nginx',
  nchanModule: '/usr/lib/nginx/modules/ngx_nchan_module.so',
};
tools.psql = path.join(tools.pgBin, 'psql');

// From a tree: the packages and an optimised build. From a bundle: nothing
// to install or build, only a check that every part is there.
function prepare() {
  if (BUNDLE) {
    const missing = Object.values(tools).filter((f) => !fs.existsSync(f));
    if (missing.length) throw new Error(`the bundle lacks ${missing.join(' ')}`);
    log(`bundle ${BUNDLE}: source ${manifest.source}, built ${manifest.built}`);
    return;
  }
  const need = ['nginx', 'libnginx-mod-nchan'].filter(
    (p) => spawnSync('dpkg-query', ['-W', '-f=${Status}', p]).stdout?.toString().includes('ok installed') !== true
  );
  if (need.length) {
    log('installing', need.join(' '));
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...need], { stdio: 'inherit', env });
    if (r.status !== 0) throw new Error('apt-get install failed');
  }
  const r = spawnSync(path.join(ROOT, 'scripts', 'setup.sh'), ['build-bench', '-DCMAKE_BUILD_TYPE=RelWithDebInfo'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('build failed');
  if (!tools.pgBin) throw new Error('no PostgreSQL server in /usr/lib/postgresql');
}

// Which source the binaries were built from.
function source() {
  if (BUNDLE) return { bundle: BUNDLE, ...manifest, files: undefined, paths: undefined };
  const git = (...a) => spawnSync('git', ['-C', ROOT, ...a], { encoding: 'utf8' }).stdout?.trim() || '';
  return { tree: ROOT, commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain', '--untracked-files=no') !== '' };
}

// ---------------------------------------------------------------- cores

// Cores this process may use, from its affinity mask ("0-3,8" → [0,1,2,3,8]).
function parseCpuList(list) {
  const ids = [];
  for (const part of list.split(',').filter(Boolean)) {
    const [a, b = a] = part.split('-').map(Number);
    for (let i = a; i <= b; i++) ids.push(i);
  }
  return ids;
}
const allowedCpus = () => parseCpuList(/^Cpus_allowed_list:\s*(\S+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);

// BENCH_PIN=1 splits the cores three ways. 16 or more: server (the gateway
// or nginx + Nchan) 4, PostgreSQL 4, clients (load generator, publishers,
// this harness) 8, the rest idle, as in the many-core runs the targets were
// set on. 4 to 15: a quarter, a quarter, the rest. 3: one each. 2: server and
// PostgreSQL share the first, clients the second. BENCH_CORES_SERVER, _DB and
// _CLIENT (lists such as 0-3) override the split. The gateway gets one HTTP
// thread, and nginx one worker, per server core. Unpinned, everything shares
// every core and both servers use one thread or worker per core.
function corePlan() {
  const ids = allowedCpus();
  const want = /^(1|yes|true|on)$/i.test(process.env.BENCH_PIN || '');
  const env = ['SERVER', 'DB', 'CLIENT'].map((k) => process.env[`BENCH_CORES_${k}`]);
  if (!want) return { pinned: false, allowed: ids, threads: ids.length };
  let server, db, client;
  if (env.every(Boolean)) {
    [server, db, client] = env.map(parseCpuList);
  } else if (env.some(Boolean)) {
    throw new Error('BENCH_CORES_SERVER, BENCH_CORES_DB and BENCH_CORES_CLIENT go together');
  } else if (ids.length >= 16) {
    [server, db, client] = [ids.slice(0, 4), ids.slice(4, 8), ids.slice(8, 16)];
  } else if (ids.length >= 4) {
    const q = ids.length >> 2;
    [server, db, client] = [ids.slice(0, q), ids.slice(q, 2 * q), ids.slice(2 * q)];
  } else if (ids.length === 3) {
    [server, db, client] = [[ids[0]], [ids[1]], [ids[2]]];
  } else if (ids.length === 2) {
    [server, db, client] = [[ids[0]], [ids[0]], [ids[1]]];
  } else {
    log('one core: nothing to pin');
    return { pinned: false, allowed: ids, threads: 1 };
  }
  return { pinned: true, allowed: ids, server, db, client, threads: server.length };
}
const cores = corePlan();
const cpuList = (ids) => ids.join(',');

function describeCores() {
  if (!cores.pinned)
    return `${cores.allowed.length} cores, not pinned (BENCH_PIN=1 pins): every process on every core, ` +
      `gateway threads and nginx workers one per core`;
  const s = cores.threads > 1 ? 's' : '';
  return `${cores.allowed.length} cores, pinned: gateway or nginx + Nchan on ${cpuList(cores.server)} ` +
    `(${cores.threads} gateway HTTP thread${s}, ${cores.threads} nginx worker${s}), PostgreSQL on ${cpuList(cores.db)}, ` +
    `load generator, publishers and this harness on ${cpuList(cores.client)}`;
}

// [command, args] for a process of a role ('server', 'db', 'client'), under
// taskset when pinned (taskset execs the command: the PID stays the same).
function pinned(role, cmd, args) {
  return cores.pinned ? [tools.taskset, ['-c', cpuList(cores[role]), cmd, ...args]] : [cmd, args];
}

// The harness itself runs with the clients.
function pinSelf() {
  if (!cores.pinned) return;
  const r = spawnSync(tools.taskset, ['-a', '-p', '-c', cpuList(cores.client), String(process.pid)], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`could not pin this harness with ${tools.taskset}`);
}

// ---------------------------------------------------------------- processes

// Every process started, by PID, so that any way out (the end, an error, the
// time limit, a signal) stops them all.
const tracked = new Map(); // pid → label
const track = (pid, label) => pid && tracked.set(pid, label);
const untrack = (pid) => tracked.delete(pid);
const alive = (pid) => fs.existsSync(`/proc/${pid}`) && !/^\S+ \S+ Z/.test(readOr(`/proc/${pid}/stat`, ''));
function readOr(file, fallback) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}
function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// Synchronous on purpose: it runs from signal handlers and the time limit,
// where nothing else may start in between.
function stopEverything() {
  const pids = [...tracked.keys()];
  for (const pid of pids) for (const child of childrenOf(pid)) if (!tracked.has(child)) pids.push(child);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
  }
  for (let i = 0; i < 30 && pids.some(alive); i++) sleepSync(100);
  for (const pid of pids.filter(alive)) {
    log(`killing ${tracked.get(pid) || 'process'} ${pid}`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  tracked.clear();
  stopDatabase();
}

function childrenOf(ppid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = readOr(`/proc/${d}/stat`, '');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[1]) === ppid) out.push(Number(d));
  }
  return out;
}

// ---------------------------------------------------------------- PostgreSQL

// The benchmark's own cluster, so its settings, its cores and its state are
// the benchmark's: data, socket and log under RUN/pg (or /var/tmp when the
// database's user cannot reach RUN), 127.0.0.1:${SSE_PG_PORT:-54329},
// PostgreSQL's defaults (fsync and synchronous_commit on). If the project's
// cluster (scripts/pg.sh) holds that port, it is stopped for the run and
// started again at the end.
const PG_PORT = Number(process.env.SSE_PG_PORT || 54329);
const pg = { root: '', data: '', started: false, restartProject: false };

// The user PostgreSQL runs as: root is refused by the server.
function pgUser() {
  if (process.getuid() !== 0) return { name: os.userInfo().username };
  const passwd = readOr('/etc/passwd', '').split('\n').map((l) => l.split(':'));
  const pick = (name) => passwd.find((f) => f[0] === name);
  const want = process.env.BENCH_PG_USER;
  const entry = want ? pick(want) : pick('postgres') || pick('nobody');
  if (!entry) throw new Error(`no user ${want || 'postgres or nobody'} to run PostgreSQL as (BENCH_PG_USER)`);
  return { name: entry[0], uid: Number(entry[2]), gid: Number(entry[3]) };
}

// Whether every folder above dir lets others through (the database's user
// owns only the folders made for it).
function reachable(dir) {
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    if (!fs.existsSync(d)) continue;
    if (!(fs.statSync(d).mode & 0o001)) return false;
    if (d === path.dirname(d)) return true;
  }
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

function asPg(user, cmd, args, opts = {}) {
  const ids = user.uid !== undefined ? { uid: user.uid, gid: user.gid } : {};
  return spawnSync(cmd, args, { encoding: 'utf8', ...ids, ...opts });
}

// Starts the cluster (pinned to the database cores) and returns the URL of
// the freshly created database sse_bench.
async function startDatabase() {
  const user = pgUser();
  pg.user = user;
  pg.root = path.join(RUN, 'pg');
  if (process.getuid() === 0 && !reachable(pg.root)) {
    pg.root = `/var/tmp/sse-bench-${crypto.createHash('md5').update(RUN).digest('hex').slice(0, 12)}`;
    log(`${RUN} is not reachable by ${user.name}; the database lives in ${pg.root}`);
  }
  pg.data = path.join(pg.root, 'data');
  const sock = path.join(pg.root, 'run');
  for (const d of [pg.root, sock]) {
    fs.mkdirSync(d, { recursive: true });
    if (user.uid !== undefined) fs.chownSync(d, user.uid, user.gid);
  }
  const ctl = path.join(tools.pgBin, 'pg_ctl');
  if (asPg(user, ctl, ['-D', pg.data, 'status']).status === 0) asPg(user, ctl, ['-D', pg.data, '-m', 'fast', '-w', 'stop']);
  if (await portOpen(PG_PORT)) {
    const script = path.join(ROOT, 'scripts', 'pg.sh');
    const env = { ...process.env, SSE_PG_PORT: String(PG_PORT) };
    if (BUNDLE || !fs.existsSync(script) || spawnSync(script, ['status'], { env, stdio: 'ignore' }).status !== 0)
      throw new Error(`127.0.0.1:${PG_PORT} is in use: set SSE_PG_PORT to a free port`);
    log(`stopping the project's cluster on ${PG_PORT} for the run (scripts/pg.sh); it is started again at the end`);
    if (spawnSync(script, ['stop'], { env, stdio: 'inherit' }).status !== 0) throw new Error('scripts/pg.sh stop failed');
    pg.restartProject = true;
  }
  // A cluster left by a run as another user is of no use: start afresh.
  if (fs.existsSync(pg.data) && user.uid !== undefined && fs.statSync(pg.data).uid !== user.uid) fs.rmSync(pg.data, { recursive: true, force: true });
  if (!fs.existsSync(path.join(pg.data, 'PG_VERSION'))) {
    log('initdb', pg.data);
    const r = asPg(user, path.join(tools.pgBin, 'initdb'), ['-D', pg.data, '--auth=trust', '--username=postgres', '-E', 'UTF8', '--locale=C']);
    if (r.status !== 0) throw new Error(`initdb failed: ${r.stderr}`);
  }
  const [cmd, args] = pinned('db', ctl, ['-D', pg.data, '-l', path.join(pg.root, 'postgresql.log'), '-w', '-t', '60',
    '-o', `-p ${PG_PORT} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${sock}`, 'start']);
  pg.started = true;
  // The port lies in the ephemeral range: a client socket elsewhere on the
  // machine may hold it, closed and in TIME_WAIT for up to a minute.
  for (let attempt = 1; ; attempt++) {
    const r = asPg(user, cmd, args);
    if (r.status === 0) break;
    const busy = /Address already in use/.test(readOr(path.join(pg.root, 'postgresql.log'), '').slice(-2000));
    if (!busy || attempt === 40) throw new Error(`PostgreSQL did not start (see ${pg.root}/postgresql.log)`);
    if (attempt === 1) log(`127.0.0.1:${PG_PORT} is held by another socket for now (TIME_WAIT?); trying for up to 80 s`);
    sleepSync(2000);
  }
  const base = `postgresql://postgres@127.0.0.1:${PG_PORT}/postgres`;
  psql(base, 'DROP DATABASE IF EXISTS sse_bench WITH (FORCE)');
  psql(base, 'CREATE DATABASE sse_bench');
  const pm = Number(readOr(path.join(pg.data, 'postmaster.pid'), '0').split('\n')[0]);
  record('postgres', [pm, ...childrenOf(pm)]);
  return base.replace(/\/[^/]*$/, '/sse_bench');
}

function stopDatabase() {
  if (pg.started) {
    pg.started = false;
    asPg(pg.user, path.join(tools.pgBin, 'pg_ctl'), ['-D', pg.data, '-m', 'fast', '-w', '-t', '30', 'stop']);
  }
  if (pg.restartProject) {
    pg.restartProject = false;
    spawnSync(path.join(ROOT, 'scripts', 'pg.sh'), ['start'], { env: { ...process.env, SSE_PG_PORT: String(PG_PORT) }, stdio: 'inherit' });
  }
}

// One statement through psql; returns its rows as arrays of fields.
function psql(url, sql) {
  const out = execFileSync(tools.psql, ['-X', '-qAt', '-F', '\t', '-v', 'ON_ERROR_STOP=1', url, '-c', sql],
    { encoding: 'utf8', env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' } });
  return out.split('\n').filter(Boolean).map((l) => l.split('\t'));
}

// ---------------------------------------------------------------- provenance

// Per process (once per label and executable): the executable and its
// SHA-256, the libraries it has mapped (and, from a bundle, any mapped from
// outside it), the cores it may run on, its threads and user.
const provenance = [];
const hashes = new Map();
function sha256(file) {
  if (!hashes.has(file)) {
    try {
      hashes.set(file, crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
    } catch {
      hashes.set(file, '');
    }
  }
  return hashes.get(file);
}
function record(label, pids) {
  for (const pid of pids) {
    let exe;
    try {
      exe = fs.readlinkSync(`/proc/${pid}/exe`);
    } catch {
      continue;
    }
    if (provenance.some((p) => p.label === label && p.exe === exe)) continue;
    const libs = new Set();
    for (const l of readOr(`/proc/${pid}/maps`, '').split('\n')) {
      const m = / (\/\S*\.so(?:\.[\w.]+)?)$/.exec(l);
      if (m) libs.add(m[1]);
    }
    const status = readOr(`/proc/${pid}/status`, '');
    const field = (k) => (new RegExp(`^${k}:\\s*(\\S+)`, 'm').exec(status) || [])[1];
    const entry = { label, pid, exe, sha256: sha256(exe), cpus: field('Cpus_allowed_list'), threads: Number(field('Threads')),
      uid: Number(field('Uid')), libs: [...libs].sort() };
    if (BUNDLE) entry.outside_bundle = entry.libs.filter((l) => !l.startsWith(BUNDLE + '/'));
    provenance.push(entry);
  }
}

// One line per process kind, for the printed report.
function provenanceLines() {
  return provenance.map((p) => {
    const libs = BUNDLE ? `; from outside the bundle: ${p.outside_bundle.map((l) => path.basename(l)).join(' ') || 'nothing'}`
      : `; ${p.libs.length} libraries`;
    const exe = p.exe.startsWith(ROOT + '/') ? path.relative(ROOT, p.exe) : p.exe;
    return `${p.label}: ${exe} (sha256 ${p.sha256.slice(0, 12)}) uid ${p.uid}, cores ${p.cpus}, ${p.threads} threads${libs}`;
  });
}

module.exports = {
  ROOT, RUN, BUNDLE, tools, prepare, source, cores, describeCores, pinned, pinSelf,
  track, untrack, stopEverything, childrenOf, readOr, startDatabase, stopDatabase, psql, record, provenance, provenanceLines, log,
};
