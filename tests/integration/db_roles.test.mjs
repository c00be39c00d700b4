// Database roles and migrations: an application role granted sse_publisher
// publishes and reads the head but touches no table of schema sse; a login
// that is only a member of sse_gateway runs `serve --no-migrate` and delivers
// (its leader skips the owner-only VACUUM quietly); against an up-to-date
// schema a start takes no lock that publishers wait behind, and a migration
// that must wait for a lock gives up after --lock-timeout and retries.
import { execFileSync, spawn } from 'node:child_process';
import {
  BIN, assert, assertEq, esClient, run, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const db = await startPostgres();
const admin = await sqlClient(db.url);
const urlAs = (role) => db.url.replace('postgres@', `${role}@`);
execFileSync(BIN, ['migrate', '--database-url', db.url], { stdio: 'pipe' });
await admin.query('CREATE ROLE app LOGIN; GRANT sse_publisher TO app');
await admin.query('CREATE ROLE gw LOGIN; GRANT sse_gateway TO gw');

// The SQLSTATE of a statement run as role, or 'ok'.
async function outcome(client, sql) {
  try { await client.query(sql); return 'ok'; } catch (e) { return e.code; }
}

test('sse_publisher publishes and reads the head, and reaches no table', async () => {
  const app = await sqlClient(urlAs('app'));
  assertEq(await outcome(app, "SELECT sse.publish('roles', 'by app')"), 'ok', 'sse.publish');
  assertEq(await outcome(app, "SELECT sse.publish_many(ARRAY['roles'], ARRAY['many'], ARRAY[NULL])"), 'ok', 'sse.publish_many');
  assertEq(await outcome(app, "SELECT sse.notify('roles', 'now')"), 'ok', 'sse.notify');
  assertEq(await outcome(app, 'SELECT sse.head()'), 'ok', 'sse.head');
  for (const t of ['outbox', 'events', 'state', 'gateways', 'schema_version']) {
    assertEq(await outcome(app, `SELECT * FROM sse.${t}`), '42501', `select from sse.${t}`);
  }
  assertEq(await outcome(app, "INSERT INTO sse.outbox (stream, data) VALUES ('roles', 'x')"), '42501', 'insert into outbox');
  assertEq(await outcome(app, "INSERT INTO sse.events (position, stream, data, published_at) VALUES (999, 'roles', 'x', now())"), '42501', 'insert into events');
  assertEq(await outcome(app, 'SELECT sse._sequence(10)'), '42501', 'sequencing');
  assertEq(await outcome(app, 'CREATE TABLE sse.mine (x int)'), '42501', 'DDL in schema sse');
  // The constraints hold for the owner too: no sentinel-looking event can be stored.
  assertEq(await outcome(admin, "INSERT INTO sse.outbox (stream, event, data) VALUES ('roles', 'gateway:shutdown', '{}')"), '23514', 'a gateway: type in the outbox');
  assertEq(await outcome(admin, "INSERT INTO sse.events (position, stream, event, data, published_at) VALUES (999999, 'roles', 'gateway:gap', '{}', now())"), '23514', 'a gateway: type in events');
  assertEq(await outcome(admin, "INSERT INTO sse.outbox (stream, data) VALUES ('bad stream', 'x')"), '23514', 'an invalid stream name');
});

test('a login that is only a member of sse_gateway serves with --no-migrate and delivers', async () => {
  const gw = await startGateway(urlAs('gw'), ['--no-migrate']);
  const app = await sqlClient(urlAs('app'));
  const head = Number((await app.query('SELECT sse.head() AS h')).rows[0].h);
  const sub = esClient(`${gw.base}/events?stream=served&lastEventId=${head}`);
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).leader, 10000, 'the gw role took the leader role');
  // Enough rows for the leader's vacuum threshold (2,000): it must skip it quietly.
  await app.query("SELECT sse.publish('served', 'e' || i) FROM generate_series(1, 2100) i");
  await waitFor(() => sub.events.length === 2100, 20000, 'all 2,100 events delivered');
  const ids = sub.events.map((e) => Number(e.id));
  assert(ids.every((id, i) => i === 0 || id === ids[i - 1] + 1), 'consecutive positions');
  assertEq(sub.events[2099].data, 'e2100', 'last event');
  const log = gw.log();
  assert(!/^WARNING|^ERROR|permission denied/m.test(log), `no raw server lines or permission errors in the log:\n${log}`);
  assert(!/ warn \[sequencer\]/.test(log), `no sequencer warnings:\n${log}`);
  sub.close();
  await gw.stop();
});

test('an up-to-date schema: a start takes no lock that publishers wait behind', async () => {
  const holder = await sqlClient(urlAs('app'));
  await holder.query("BEGIN; SELECT sse.publish('locks', 'held open')");
  const started = Date.now();
  const gw = await startGateway(db.url, ['--lock-timeout', '300ms']);
  const app = await sqlClient(urlAs('app'));
  const t0 = Date.now();
  await app.query("SELECT sse.publish('locks', 'concurrent')");
  assert(Date.now() - t0 < 1000, `a publish while a gateway started took ${Date.now() - t0} ms`);
  assert(/schema sse is up to date/.test(gw.log()), 'no migration ran');
  assert(Date.now() - started < 15000, 'the gateway started');
  await holder.query('COMMIT');
  await gw.stop();
});

test('a migration that must wait for a lock retries after --lock-timeout; publishers wait at most that', async () => {
  await admin.query("UPDATE sse.schema_version SET digest = 'an older file'");
  const holder = await sqlClient(urlAs('app'));
  await holder.query("BEGIN; SELECT sse.publish('locks', 'held open again')");
  const out = [];
  const proc = spawn(BIN, ['migrate', '--database-url', db.url, '--lock-timeout', '400ms']);
  proc.stderr.on('data', (d) => out.push(d.toString()));
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  await waitFor(() => /retrying the migration/.test(out.join('')), 10000, 'a lock timeout and a retry');
  // Publishers keep going while the migration retries: each waits at most about the lock timeout.
  const app = await sqlClient(urlAs('app'));
  let worst = 0;
  for (let i = 0; i < 10; i++) {
    const t0 = Date.now();
    await app.query("SELECT sse.publish('locks', 'during the migration')");
    worst = Math.max(worst, Date.now() - t0);
  }
  assert(worst < 1200, `the slowest publish during the migration took ${worst} ms (lock timeout 400 ms)`);
  await holder.query('COMMIT');
  assertEq(await exited, 0, `migrate exits 0 once the lock is free: ${out.join('')}`);
  const { rows } = await admin.query('SELECT digest IS NOT NULL AND digest <> $1 AS fresh FROM sse.schema_version', ['an older file']);
  assertEq(rows[0].fresh, true, 'the new digest is recorded');
});

test('status prints names with control characters escaped, one line per row', async () => {
  await admin.query("INSERT INTO sse.gateways (id, host, pid, started_at, last_seen) VALUES (E'evil\\u001b[2J\\nfake row', 'h', 1, now(), now())");
  const text = execFileSync(BIN, ['status', '--database-url', db.url]).toString();
  assert(!text.includes('\u001b'), 'no escape character reaches the terminal');
  const line = text.split('\n').find((l) => l.startsWith('evil'));
  assert(line && line.includes('\\x1b[2J\\nfake row'), `the row is one escaped line: ${JSON.stringify(line)}`);
  await admin.query("DELETE FROM sse.gateways WHERE host = 'h'");
});

await run();
