// Listener reconnect: terminating the LISTEN backend while events
// are published; delivery resumes by itself and nothing durable is lost.
import { assert, assertEq, esClient, run, sqlClient, startGateway, startPostgres, test, waitFor, sleep } from './lib/harness.mjs';

const db = await startPostgres();
const gw = await startGateway(db.url);

test('pg_terminate_backend of the LISTEN connection loses nothing durable', async () => {
  const sub = esClient(`${gw.base}/events?stream=lr`);
  await waitFor(async () => (await (await fetch(gw.base + '/stats')).json()).registered === 1, 5000, 'registered');
  const sql = await sqlClient(db.url);
  let i = 0;
  for (; i < 20; i++) await sql.query('SELECT sse.publish($1, $2)', ['lr', `e${i}`]);
  const { rows } = await sql.query(
    "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'sse-gateway-listener'");
  assertEq(rows.length, 1, 'found the LISTEN backend');
  for (; i < 60; i++) { await sql.query('SELECT sse.publish($1, $2)', ['lr', `e${i}`]); await sleep(5); }
  await waitFor(() => sub.events.length >= i, 15000, `all ${i} events (have ${sub.events.length})`);
  assertEq(sub.events.map((e) => e.data), Array.from({ length: i }, (_, k) => `e${k}`), 'every event once, in order');
  const m = await (await fetch(gw.base + '/metrics')).text();
  assert(/sse_gateway_listener_reconnects_total [1-9]/.test(m), 'a reconnect was counted');
  await waitFor(async () => /sse_gateway_listener_connected 1/.test(await (await fetch(gw.base + '/metrics')).text()), 10000, 'listener connected again');
  // Ephemeral delivery works again after the reconnect (the channel was re-LISTENed).
  await sql.query(`NOTIFY "lr", 'after'`);
  await waitFor(() => sub.events.some((e) => e.data === 'after' && !e.id), 5000, 'ephemeral after reconnect');
});

await run();
