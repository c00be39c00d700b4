// The Dockerfile's HEALTHCHECK against a real gateway, run as written (no
// Docker engine here): on a serving gateway's admin listener it succeeds
// within its timeout; on a stopped gateway, or an endpoint answering 503, it
// fails. (deploy/monitoring/ is checked by monitoring.test.mjs.)
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { assert, assertEq, freePort, onCleanup, run, startGateway, startPostgres, test } from './lib/harness.mjs';

// The HEALTHCHECK instruction with its continuation lines joined.
const dockerfile = fs.readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8').replace(/\\\n/g, ' ');
const line = dockerfile.split('\n').find((l) => l.startsWith('HEALTHCHECK '));
assert(line, 'the Dockerfile has a HEALTHCHECK');
const argv = JSON.parse(line.slice(line.indexOf(' CMD ') + 5));
const timeoutS = Number(/--timeout=(\d+)s/.exec(line)[1]);

function healthcheck(adminListen) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    execFile(argv[0], argv.slice(1), { env: { SSE_GATEWAY_ADMIN_LISTEN: adminListen }, timeout: 10000 },
      (err) => resolve({ code: err ? (err.code ?? 'killed') : 0, ms: Date.now() - t0 }));
  });
}

const db = await startPostgres();

test('the HEALTHCHECK passes on a serving gateway and fails when it is gone', async () => {
  const admin = await freePort();
  const gw = await startGateway(db.url, ['--admin-listen', `127.0.0.1:${admin}`]);
  const ok = await healthcheck(`0.0.0.0:${admin}`);
  assertEq(ok.code, 0, 'healthy while serving');
  assert(ok.ms < timeoutS * 1000, `within its --timeout (${ok.ms} ms)`);
  await gw.stop();
  const gone = await healthcheck(`0.0.0.0:${admin}`);
  assert(gone.code !== 0, `unhealthy once stopped (status ${gone.code})`);
  console.log(`  HEALTHCHECK: ${ok.ms} ms when healthy, status ${gone.code} when stopped`);
});

test('the HEALTHCHECK fails on an answer other than 200', async () => {
  const port = await freePort();
  const server = http.createServer((req, res) => { res.writeHead(503); res.end('{"error":"not ready"}'); });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  onCleanup(() => server.close());
  const r = await healthcheck(`127.0.0.1:${port}`);
  assert(r.code !== 0, `a 503 is unhealthy (status ${r.code})`);
});

await run();
