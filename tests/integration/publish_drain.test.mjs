// Every publish request in flight at SIGTERM gets an answer: many keep-alive
// publishers post in a loop, the gateway is told to stop mid-flight, and
// every request whose bytes had gone out before the signal must get 201 or
// 503 (not a reset, not silence), every 201's events must be committed, and
// no request is half-written. Three rounds, each on a fresh gateway.
import http from 'node:http';
import {
  assert, assertEq, run, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const CLIENTS = 48, EVENTS = 10, ROUNDS = 3;
const db = await startPostgres();
const sql = await sqlClient(db.url);
const now = () => process.hrtime.bigint();

// One request: when its last byte was handed to the kernel, and its answer.
function post(agent, port, tag) {
  return new Promise((resolve) => {
    const body = JSON.stringify(Array.from({ length: EVENTS }, (_, i) => ({ stream: 'drain', data: `${tag}-${i}` })));
    const r = { tag, sentAt: null, status: 0, error: null };
    const req = http.request({
      host: '127.0.0.1', port, path: '/publish', method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      res.resume();
      res.on('end', () => { r.status = res.statusCode; resolve(r); });
      res.on('error', (e) => { r.error = e.code || String(e); resolve(r); });
    });
    req.on('finish', () => { r.sentAt = now(); });
    req.on('error', (e) => { r.error = e.code || String(e); resolve(r); });
    req.end(body);
  });
}

async function round(n) {
  const gw = await startGateway(db.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const results = [];
  let killedAt = null, serial = 0;
  const client = async (c) => {
    for (;;) {
      const r = await post(agent, gw.port, `r${n}c${c}n${serial++}`);
      results.push(r);
      if (r.status !== 201) return; // 503 or an error: the gateway is going
    }
  };
  const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
  await waitFor(() => results.filter((r) => r.status === 201).length >= 200, 20000, 'publishing under way');
  killedAt = now();
  gw.proc.kill('SIGTERM');
  await Promise.all(clients);
  const { code } = await gw.exited;
  agent.destroy();
  assertEq(code, 0, 'exit 0');

  const inFlight = results.filter((r) => r.sentAt !== null && r.sentAt < killedAt);
  const unanswered = inFlight.filter((r) => r.status !== 201 && r.status !== 503);
  const counts = {};
  for (const r of results) counts[r.status || r.error] = (counts[r.status || r.error] || 0) + 1;
  console.log(`  round ${n}: ${inFlight.length} requests sent before the signal; all outcomes ${JSON.stringify(counts)}`);
  assertEq(unanswered.map((r) => `${r.tag}: ${r.error || r.status}`), [], 'every request sent before the signal got 201 or 503');

  const stored = new Map((await sql.query(
    `SELECT split_part(data, '-', 1) AS tag, count(*)::int AS n FROM
       (SELECT data FROM sse.outbox UNION ALL SELECT data FROM sse.events) t
     WHERE data LIKE $1 GROUP BY 1`, [`r${n}c%`])).rows.map((r) => [r.tag, r.n]));
  for (const r of results) {
    const got = stored.get(r.tag) || 0;
    if (r.status === 201) assertEq(got, EVENTS, `${r.tag}: answered 201, all its events committed`);
    else assert(got === 0 || got === EVENTS, `${r.tag}: all or nothing (${got})`);
  }
}

test(`${ROUNDS} rounds of ${CLIENTS} publishers and a SIGTERM mid-flight: every request answered`, async () => {
  for (let n = 0; n < ROUNDS; n++) await round(n);
});

await run();
