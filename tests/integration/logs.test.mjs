// --log-format json: every line the gateway writes to stderr, from start to
// exit, parses as a JSON object with ts, level, module, instance and msg,
// also when a request puts newlines and quotes into what gets logged (a
// JSON key with a newline in a publish body) and at debug level. Access
// records: a subscription that receives an event and closes yields one
// record naming its stream and bytes, and no warning; a publish one with
// its status, events and ms; under a flood every record is either written
// or counted in sse_gateway_access_log_dropped_total.
import fs from 'node:fs';
import {
  assert, assertEq, metric, rawSse, run, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const db = await startPostgres();
const gw = await startGateway(db.url, ['--log-format', 'json', '--log-level', 'debug', '--heartbeat', '1s']);
const sql = await sqlClient(db.url);

// Every line of the log so far, parsed; throws naming the first bad line.
function records() {
  const text = gw.log();
  assert(text.endsWith('\n'), 'the log ends with a whole line');
  return text.slice(0, -1).split('\n').map((line, i) => {
    let r;
    try { r = JSON.parse(line); } catch (e) { throw new Error(`line ${i + 1} is not JSON: ${line}`); }
    assert(r && typeof r === 'object' && !Array.isArray(r), `line ${i + 1} is an object`);
    for (const k of ['ts', 'level', 'module', 'instance', 'msg']) assert(typeof r[k] === 'string', `line ${i + 1} has ${k}`);
    assert(['debug', 'info', 'warn', 'error'].includes(r.level), `line ${i + 1}: level ${r.level}`);
    assert(!Number.isNaN(Date.parse(r.ts)) && r.ts.endsWith('Z'), `line ${i + 1}: ts ${r.ts}`);
    return r;
  });
}

test('start-up records are JSON', async () => {
  const rs = records();
  assert(rs.some((r) => r.msg.startsWith('serving on')), 'the serving record');
  assert(rs.some((r) => r.instance.includes(':') && r.instance === rs.at(-1).instance), 'an instance id');
});

test('a JSON key with a newline and quotes stays inside one record', async () => {
  const before = records().length;
  const r = await fetch(gw.base + '/publish', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: '{"stream":"s","data":"x","evil\\n{\\"level\\":\\"error\\",\\"msg\\":\\"forged\\"}":1}',
  });
  assertEq(r.status, 400, 'rejected');
  await waitFor(() => records().length > before, 5000, 'the rejection record');
  const rs = records();
  assert(!rs.some((x) => x.msg === 'forged'), 'no forged record');
  const rec = rs.find((x) => x.msg.startsWith('rejected a publish: evil'));
  assert(rec && rec.msg.includes('level'), `the key is in one record: ${JSON.stringify(rec)}`);
});

test('a subscription that receives and closes: one access record, no warning', async () => {
  const c = await rawSse(gw.port, '/events?stream=logs:acc&lastEventId=0');
  assertEq(c.status, 200, 'subscribed');
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).streams.some((x) => x.stream === 'logs:acc'), 10000, 'registered');
  await sql.query(`SELECT sse.publish('logs:acc', 'for the record')`);
  await waitFor(() => c.records.some((r) => r.data === 'for the record'), 10000, 'the event');
  const received = Buffer.byteLength(c.body);
  c.close();
  const ended = () => records().filter((r) => r.msg === 'subscription ended' && r.streams?.includes('logs:acc'));
  await waitFor(() => ended().length > 0, 10000, 'the access record');
  const rs = records();
  const recs = ended();
  assertEq(recs.length, 1, 'one record');
  const rec = recs[0];
  assertEq(rec.level, 'info', 'at info');
  assertEq(rec.module, 'http', 'module');
  assertEq(rec.streams, ['logs:acc'], 'its streams');
  assertEq(rec.cursor, 0, 'its cursor');
  assertEq(rec.events, 1, 'one event');
  assert(rec.bytes >= received && rec.bytes <= received + 64, `bytes ${rec.bytes}, received ${received}`);
  assert(rec.duration_ms > 0 && rec.duration_ms < 30000, `duration ${rec.duration_ms}`);
  assertEq(rec.reason, 'client_closed', 'reason');
  assert(/^127\.0\.0\.1:\d+$/.test(rec.remote), `remote ${rec.remote}`);
  const warnings = rs.filter((r) => (r.level === 'warn' || r.level === 'error') && !r.msg.startsWith('no --jwt-secret'));
  assertEq(warnings, [], 'no warning');
  for (const r of rs.filter((x) => x.msg.startsWith('libmicrohttpd:'))) assertEq(r.level, 'debug', `a client close: ${r.msg}`);
});

test('a publish: one access record with status, events and ms', async () => {
  const r = await fetch(gw.base + '/publish', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify([{ stream: 'logs:p', data: 'a' }, { stream: 'logs:p', data: 'b' }]),
  });
  assertEq(r.status, 201, 'published');
  await waitFor(() => records().some((x) => x.msg === 'publish' && x.status === 201), 5000, 'the record');
  const rec = records().find((x) => x.msg === 'publish' && x.status === 201);
  assertEq(rec.events, 2, 'events');
  assert(Number.isInteger(rec.ms) && rec.ms >= 0, `ms ${rec.ms}`);
});

test('a flood of publishes: each record written or counted as dropped', async () => {
  const count = () => records().filter((x) => x.msg === 'publish').length;
  const before = count(), droppedBefore = await metric(gw.base, 'sse_gateway_access_log_dropped_total');
  let sent = 0;
  // Bursts of bad publishes (400, no database) until some records are dropped; at most 6.
  for (let burst = 0; burst < 6; burst++) {
    const answers = await Promise.all(Array.from({ length: 1200 }, () => fetch(gw.base + '/publish', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"stream":"bad name"}',
    }).then((x) => x.status, () => 0)));
    sent += answers.length;
    assert(answers.every((x) => x === 400), 'every one answered 400');
    if (await metric(gw.base, 'sse_gateway_access_log_dropped_total') > droppedBefore) break;
  }
  const dropped = await metric(gw.base, 'sse_gateway_access_log_dropped_total') - droppedBefore;
  await waitFor(() => count() - before + dropped === sent, 10000, `records + dropped = ${sent} (records ${count() - before}, dropped ${dropped})`);
  assert(dropped > 0, 'some records were dropped');
  console.log(`  ${sent} publishes: ${count() - before} records, ${dropped} dropped`);
});

test('subscribe, receive, close, reload and stop: still one JSON object a line', async () => {
  const c = await rawSse(gw.port, '/events?stream=logs:1');
  assertEq(c.status, 200, 'subscribed');
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).registered === 1, 10000, 'registered');
  await sql.query(`SELECT sse.publish('logs:1', 'hello')`);
  await waitFor(() => c.records.some((r) => r.data === 'hello'), 10000, 'the event');
  c.close();
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).registered === 0, 10000, 'gone');
  gw.proc.kill('SIGHUP');
  await waitFor(() => records().some((r) => r.msg.startsWith('reload')), 5000, 'the reload record');
  const { code } = await gw.stop('SIGTERM');
  assertEq(code, 0, 'clean exit');
  const rs = records();
  assert(rs.at(-1).msg === 'stopped', 'the last record');
  assert(fs.statSync(gw.logPath).size > 0, 'a log');
});

await run();
