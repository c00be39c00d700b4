// --log-format json: every line the gateway writes to stderr, from start to
// exit, parses as a JSON object with ts, level, module, instance and msg,
// also when a request puts newlines and quotes into what gets logged (a
// JSON key with a newline in a publish body) and at debug level.
import fs from 'node:fs';
import {
  assert, assertEq, rawSse, run, sqlClient, startGateway, startPostgres, test, waitFor,
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
