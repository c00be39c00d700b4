// The shipped nginx config (deploy/nginx/nginx.conf), changed only in its
// addresses, ports and paths, in front of two real gateways: TLS with a
// throwaway CA that headless Chromium trusts, ten pages of one origin whose
// EventSources share one HTTP/2 connection and all receive every event, then
// a drain of one gateway under load with nothing lost or repeated.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assert, freePort, httpsGet, launchChromium, makeTestCa, onCleanup, rewriteConfig, run, startPostgres, test, waitFor } from './lib/harness.mjs';
import { closeStreams, drainUnderLoad, openPages, pageState, startFleet, startProxy, tenPagesOverHttp2 } from './lib/edge.mjs';

const shipped = fs.readFileSync(new URL('../../deploy/nginx/nginx.conf', import.meta.url), 'utf8');
const db = await startPostgres();
const tls = makeTestCa();
const fleet = await startFleet(db);
const port = await freePort();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-it-nginx-'));
onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));

const upstreams = fleet.map((gw) => `127.0.0.1:${gw.port}`);
const conf = rewriteConfig(shipped, [
  [/^pid \S+;$/gm, `pid ${dir}/nginx.pid;`, 1],
  [/^error_log \S+ /gm, `error_log ${dir}/error.log `, 1],
  [/^(\s*)access_log \S+ /gm, `$1access_log ${dir}/access.log `, 1],
  [/^(\s*)server 10\.0\.0\.\d+:8080 /gm, (_, indent) => `${indent}server ${upstreams.shift()} `, 2],
  [/^(\s*)listen 443 ssl http2;$/gm, `$1listen 127.0.0.1:${port} ssl http2;`, 1],
  [/^(\s*)ssl_certificate \S+;$/gm, `$1ssl_certificate ${tls.cert};`, 1],
  [/^(\s*)ssl_certificate_key \S+;$/gm, `$1ssl_certificate_key ${tls.key};`, 1],
]);
fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
startProxy('nginx', 'nginx', ['-p', dir + '/', '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;']);
const origin = `https://127.0.0.1:${port}`;
await waitFor(async () => (await httpsGet(origin + '/readyz', tls.ca)).status === 200, 10000, 'nginx serving /readyz over TLS');
const browser = await launchChromium({ caFile: tls.ca });
let pages;

test('10 EventSources of one origin over HTTP/2 through nginx all receive every event', async () => {
  pages = await openPages(browser, origin);
  await tenPagesOverHttp2({ db, fleet, pages });
});

test('a drain behind nginx: every page gets every event exactly once', async () => {
  const { victim } = await drainUnderLoad({ db, fleet, pages });
  // nginx logs a request when it ends: close the pages so that every
  // subscription (one per open the pages saw) is in the access log, then
  // read how they travelled.
  const opens = (await Promise.all(pages.map(pageState))).reduce((n, s) => n + s.opens, 0);
  const closing = Date.now();
  await closeStreams(pages);
  await pages[0].context().close();
  const logPath = path.join(dir, 'access.log');
  const events = () => fs.readFileSync(logPath, 'utf8').split('\n').filter((l) => l.includes('"GET /events?'));
  await waitFor(() => events().length >= opens, 20000, `the ${opens} subscriptions in the access log`)
    .catch((e) => { throw new Error(`${e.message}; it has:\n${events().join('\n')}`); });
  console.log(`  (log complete ${Date.now() - closing} ms after closing the pages)`);
  const lines = events();
  const notH2 = lines.filter((l) => !l.includes('proto=HTTP/2.0'));
  assert(notH2.length === 0, `every subscription came over HTTP/2:\n${notH2.join('\n')}`);
  const onVictim = lines.filter((l) => l.includes(`upstream=127.0.0.1:${victim.port}`)).length;
  const failedOver = lines.filter((l) => /upstream=\S+, /.test(l)).length;
  const connections = new Set(lines.map((l) => /conn=(\d+)/.exec(l)?.[1])).size;
  console.log(`  nginx: ${lines.length} subscriptions over ${connections} HTTP/2 connection(s), ${onVictim} passed to ` +
    `the drained instance (the first ones, then reconnects while it drained), ${failedOver} passed on after a ` +
    'refused connect');
});

await run();
