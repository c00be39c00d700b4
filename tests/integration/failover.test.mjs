// Leader failover: kill -9 the leader while publishing; the other instance
// takes over and every committed event is delivered; the killed instance,
// restarted, catches up too.
import { assert, assertEq, esClient, run, sqlClient, startGateway, startPostgres, test, waitFor } from './lib/harness.mjs';

const db = await startPostgres();
const stats = async (gw) => (await fetch(gw.base + '/stats')).json();

test('kill -9 of the leader: the survivor leads and nothing committed is lost', async () => {
  const a = await startGateway(db.url);
  const b = await startGateway(db.url);
  await waitFor(async () => (await stats(a)).leader !== (await stats(b)).leader, 10000, 'exactly one leader');
  const [leader, survivor] = (await stats(a)).leader ? [a, b] : [b, a];
  const sub = esClient(`${survivor.base}/events?stream=fo`);
  await waitFor(async () => (await stats(survivor)).registered === 1, 5000, 'registered');

  const sql = await sqlClient(db.url);
  let i = 0, killed = false;
  const started = Date.now();
  while (Date.now() - started < 3000) {
    await sql.query('SELECT sse.publish($1, $2)', ['fo', `e${i++}`]);
    if (!killed && i === 50) { leader.proc.kill('SIGKILL'); killed = true; }
  }
  const tookOver = Date.now();
  await waitFor(async () => (await stats(survivor)).leader, 5000, 'the survivor becomes leader');
  console.log(`  leadership passed within ${Date.now() - tookOver} ms of the end of publishing`);
  await waitFor(() => sub.events.length >= i, 10000, `all ${i} events (have ${sub.events.length})`);
  assertEq(sub.events.map((e) => e.data), Array.from({ length: i }, (_, k) => `e${k}`), 'every committed event, in order');

  const again = await startGateway(db.url, [], { port: leader.port });
  const late = esClient(`${again.base}/events?stream=fo&lastEventId=0`);
  await waitFor(() => late.events.length >= i, 10000, 'restarted instance catches up');
  assertEq(late.events.map((e) => e.id), sub.events.map((e) => e.id), 'same ids on the restarted instance');
  assert(!(await stats(again)).leader, 'the restarted instance does not steal leadership');
});

await run();
