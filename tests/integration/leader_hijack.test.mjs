// A silent leader hijack: any login can take the leader's advisory lock, and
// then nothing is sequenced or delivered while /readyz still says 200. Every
// instance must notice within about its check interval plus 10 s, log an
// error naming the holder (pid, user, application), export
// sse_gateway_sequencer_stalled = 1, and `sse-gateway status` must show it;
// when the holder lets go a gateway takes over, delivery resumes and the
// gauge returns to 0. The same for a gateway leader that stops sequencing
// (SIGSTOP) while events wait.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import pg from 'pg';
import {
  BIN, assert, assertEq, esClient, httpGet, metric, onCleanup, run, sleep, sqlClient, startGateway, startPostgres, test,
  waitFor,
} from './lib/harness.mjs';

const KEY = '6004712034128654481'; // the gateway's leader lock
const GAUGE = 'sse_gateway_sequencer_stalled';
const DETECT_MS = 500 + 10000 + 5000; // the check interval, the 10 s, and slack for a loaded machine

const db = await startPostgres();
const sql = await sqlClient(db.url);
await sql.query('CREATE ROLE mallory LOGIN');
const stats = async (gw) => (await fetch(gw.base + '/stats')).json();
const gauge = async (gw) => (await metric(gw.base, GAUGE)) ?? null;
const status = () => execFileSync(BIN, ['status', '--database-url', db.url], { encoding: 'utf8' });

// True once every thread of process pid is stopped (state T in /proc).
const stopped = (pid) => fs.readdirSync(`/proc/${pid}/task`).every((t) =>
  /^[Tt]$/.test(fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').split(') ').pop()[0]));

// Waits until cond holds or ms pass; true if it held.
async function within(ms, cond) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await cond()) return true; await sleep(100); }
  return !!(await cond());
}

// The foreign session takes the lock before any gateway starts.
const intruder = new pg.Client({ connectionString: db.url.replace('postgres@', 'mallory@'), application_name: 'intruder' });
await intruder.connect();
onCleanup(() => intruder.end().catch(() => {}));
await intruder.query(`SELECT pg_advisory_lock(${KEY})`);
const intruderPid = (await intruder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;

const a = await startGateway(db.url);
const b = await startGateway(db.url);
const sub = esClient(`${a.base}/events?stream=h`);
await waitFor(async () => (await stats(a)).registered === 1, 5000, 'the subscriber registered');

test('a foreign session holding the leader lock is named, exported and shown; delivery resumes after it', async () => {
  assert(!(await stats(a)).leader && !(await stats(b)).leader, 'no gateway leads');
  assertEq((await httpGet(a.base, '/readyz')).status, 200, 'readiness does not show it');
  const started = Date.now();
  for (let i = 0; i < 3; i++) await sql.query('SELECT sse.publish($1, $2)', ['h', `e${i}`]);
  const named = (gw) => gw.log().split('\n').filter((l) => / error /.test(l) && l.includes(`pid ${intruderPid}`) &&
    l.includes('user "mallory"') && l.includes('application "intruder"'));
  const seen = await within(DETECT_MS, async () => (await gauge(a)) === 1 && (await gauge(b)) === 1 &&
    named(a).length > 0 && named(b).length > 0);
  const took = Date.now() - started;
  console.log(`  after ${took} ms: gauge ${await gauge(a)} and ${await gauge(b)}, error lines naming the holder ` +
    `${named(a).length} and ${named(b).length}, events delivered ${sub.events.length} of 3`);
  assert(seen, `both instances report the foreign holder within ${DETECT_MS} ms`);
  console.log(`  ${named(a)[0].slice(0, 240)}`);
  await sleep(1500); // three more checks: still one line each (once a minute)
  assertEq([named(a).length, named(b).length], [1, 1], 'one error line per instance');
  const shown = status();
  assert(/STALLED: held by a session that is not a gateway/.test(shown) && shown.includes('\tmallory\tintruder\t'),
    `status shows it:\n${shown}`);
  assertEq(sub.events.length, 0, 'nothing delivered meanwhile');

  await intruder.query(`SELECT pg_advisory_unlock(${KEY})`);
  await waitFor(async () => (await stats(a)).leader || (await stats(b)).leader, 5000, 'a gateway leads');
  await waitFor(() => sub.events.length === 3, 5000, 'the waiting events delivered');
  assertEq(sub.events.map((e) => e.data), ['e0', 'e1', 'e2'], 'in order');
  await waitFor(async () => (await gauge(a)) === 0 && (await gauge(b)) === 0, 5000, 'the gauge back to 0 on both');
  assert(/\tok\n/.test(status()), 'status says ok');
});

test('a gateway leader that stops sequencing is named by the others after 10 s', async () => {
  const [leader, other] = (await stats(a)).leader ? [a, b] : [b, a];
  const watcher = other === a ? sub : esClient(`${other.base}/events?stream=h`);
  const before = watcher.events.length;
  await waitFor(async () => (await stats(other)).registered >= 1, 5000, 'a subscriber on the follower');
  const holder = (await sql.query(
    "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objid::int8 = ($1::int8 & 4294967295)", [KEY])).rows[0].pid;
  leader.proc.kill('SIGSTOP');
  onCleanup(() => leader.proc.kill('SIGCONT'));
  // kill() only queues the stop: on a loaded machine a thread runs on until
  // it is scheduled again, long enough for a batch or two.
  await waitFor(() => stopped(leader.proc.pid), 5000, 'every thread of the leader stopped');
  // A batch the leader sent just before it stopped still runs in its backend
  // and may take the first event: publish again until one stays waiting
  // (a stopped client sends nothing more, so the second one does).
  let started, published = 0;
  const waiting = async () => Number((await sql.query('SELECT count(*) AS n FROM sse.outbox')).rows[0].n);
  do {
    started = Date.now();
    await sql.query('SELECT sse.publish($1, $2)', ['h', `frozen ${++published}`]);
  } while ((await waiting()) === 0 && published < 3);
  assertEq(await waiting(), 1, 'an event waits in the outbox while the leader is stopped');
  const named = () => other.log().split('\n').filter((l) => / error /.test(l) && l.includes('nothing sequenced for') &&
    l.includes(`pid ${holder}`) && l.includes('application "sse-gateway-sequencer"'));
  const seen = await within(DETECT_MS, async () => (await gauge(other)) === 1 && named().length > 0);
  console.log(`  after ${Date.now() - started} ms: gauge ${await gauge(other)}, error lines ${named().length} ` +
    `(${published} publish${published > 1 ? 'es: the stopped leader\'s last batch took the first' : ''})`);
  if (!seen) { // what the database and the follower looked like, for the message
    const state = (await sql.query('SELECT head, leader_sleeping, (SELECT count(*) FROM sse.outbox) AS outbox FROM sse.state')).rows[0];
    const sessions = (await sql.query("SELECT pid, application_name AS app, state, wait_event AS wait, left(query, 60) AS q FROM pg_stat_activity WHERE datname IS NOT NULL")).rows;
    console.log(`  state ${JSON.stringify(state)}; follower ${JSON.stringify(await stats(other))}\n  sessions ${JSON.stringify(sessions)}`);
  }
  assert(seen, `the follower reports the stalled leader within ${DETECT_MS} ms`);
  assert(Date.now() - started >= 10000 - 600, 'not before 10 s');
  // status goes by the waiting event's own age; the instance counts from its
  // last look that found the outbox empty, up to one check earlier.
  await waitFor(() => /STALLED: nothing sequenced for over 10 s/.test(status()), 3000, 'status shows it');
  leader.proc.kill('SIGCONT');
  await waitFor(() => watcher.events.length === before + published, 10000, 'the events delivered once the leader runs');
  await waitFor(async () => (await gauge(other)) === 0, 5000, 'the gauge back to 0');
});

await run();
