// HTTPS straight from the gateway (--tls-cert, --tls-key) with a throwaway
// CA made by openssl: clients that trust it (a raw TLS client and headless
// Chromium's EventSource) get every event, small and large; plain HTTP to
// the TLS port fails and the gateway keeps serving; the admin port stays
// plain HTTP; a subscriber that stops reading is cut at the write deadline.
// SIGHUP with a new certificate: a new connection sees it (by
// fingerprint), a connection opened before keeps its socket and its
// events. A reload from a broken file keeps the old certificate and logs
// one line. At start, a missing, invalid or mismatched file exits 2 with
// one line.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  BIN, assert, assertEq, freePort, httpGet, httpsGet, launchChromium, makeTestCa, metric, rawSse, run,
  sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const ca = makeTestCa();
const caPem = fs.readFileSync(ca.ca);
const file = (name) => path.join(ca.dir, name);

// Another server certificate from the same CA: a new key, CN and serial.
function issue(name, cn) {
  const ssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`);
  ssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', ca.ca, '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file(`${name}.crt`), '-days', '2', '-extfile', file('server.ext'));
  return { cert: file(`${name}.crt`), key: file(`${name}.key`) };
}
const fingerprint = (pemFile) => new crypto.X509Certificate(fs.readFileSync(pemFile)).fingerprint256;
// The served files, replaced the way a renewal does: new files renamed over them.
const served = { cert: file('served.crt'), key: file('served.key') };
function serve(pair) {
  for (const k of ['cert', 'key']) {
    fs.copyFileSync(pair[k], served[k] + '.new');
    fs.renameSync(served[k] + '.new', served[k]);
  }
}
serve(ca);

const db = await startPostgres();
const sql = await sqlClient(db.url);
const adminPort = await freePort();
const gw = await startGateway(db.url, ['--tls-cert', served.cert, '--tls-key', served.key,
  '--admin-listen', `127.0.0.1:${adminPort}`], { caFile: ca.ca });
const count = (re) => (gw.log().match(re) || []).length;
const ids = (c) => c.records.filter((r) => r.id !== undefined).map((r) => Number(r.id));

test('a client trusting the CA gets every event over HTTPS, small and large', async () => {
  const c = await rawSse(gw.port, '/events?stream=tls:a', {}, { ca: caPem });
  assertEq(c.status, 200, 'status');
  assertEq(c.peerCertificate.fingerprint256, fingerprint(ca.cert), 'the served certificate');
  await waitFor(() => c.body.includes(': ok'), 5000, 'the preamble');
  const big = 'x'.repeat(20000); // many times the response's block: several reads and records
  const sent = [];
  for (let i = 0; i < 200; i++) sent.push(i % 10 === 9 ? `${i}:${big}` : `${i}`);
  await sql.query("SELECT sse.publish_many(array_fill('tls:a'::text, ARRAY[200]), $1, array_fill(NULL::text, ARRAY[200]))", [sent]);
  await waitFor(() => c.records.filter((r) => r.data !== undefined).length >= 200, 20000, '200 events');
  const got = c.records.filter((r) => r.data !== undefined).map((r) => r.data);
  assertEq(got.length, 200, 'no event repeated');
  assert(got.every((d, i) => d === sent[i]), 'every event whole and in order');
  c.close();
});

test("headless Chromium's EventSource over HTTPS gets every event", async () => {
  const browser = await launchChromium({ caFile: ca.ca });
  const page = await browser.newPage();
  await page.goto(`${gw.base}/healthz`); // a document of the gateway's origin
  await page.evaluate(() => {
    window.got = [];
    const es = new EventSource('/events?stream=tls:browser');
    es.onmessage = (e) => window.got.push(e.data);
    window.opened = new Promise((resolve) => { es.onopen = resolve; });
  });
  await page.evaluate(() => window.opened);
  for (let i = 0; i < 20; i++) await sql.query("SELECT sse.publish('tls:browser', $1)", [`b${i}`]);
  await waitFor(async () => (await page.evaluate(() => window.got.length)) >= 20, 10000, '20 events in the page');
  assertEq(await page.evaluate(() => window.got), Array.from({ length: 20 }, (_, i) => `b${i}`), 'every event once, in order');
  await browser.close();
});

test('plain HTTP to the TLS port fails cleanly and the gateway keeps serving', async () => {
  const before = count(/a TLS handshake failed/g);
  let failed = false;
  await fetch(`http://127.0.0.1:${gw.port}/healthz`, { signal: AbortSignal.timeout(5000) })
    .catch((e) => { failed = e.name !== 'TimeoutError'; });
  assert(failed, 'plain HTTP is refused at once, not answered and not left hanging');
  await waitFor(() => count(/a TLS handshake failed/g) === before + 1, 5000, 'one line about the failed handshake');
  assertEq((await httpsGet(`${gw.base}/healthz`, ca.ca)).status, 200, 'HTTPS still served');
  assertEq(gw.proc.exitCode, null, 'still running');
});

test('the admin port stays plain HTTP', async () => {
  assertEq((await httpGet(`http://127.0.0.1:${adminPort}`, '/readyz')).status, 200, 'plain /readyz on the admin port');
  let refused = false;
  await httpsGet(`https://127.0.0.1:${adminPort}/readyz`, ca.ca).catch(() => { refused = true; });
  assert(refused, 'no TLS on the admin port');
});

test('a TLS subscriber that stops reading is cut at the write deadline', async () => {
  const admin = await freePort();
  const strict = await startGateway(db.url, ['--tls-cert', ca.cert, '--tls-key', ca.key, '--write-deadline', '2s',
    '--admin-listen', `127.0.0.1:${admin}`], { caFile: ca.ca });
  // 25 MB to replay: more than the kernel's buffers of both ends hold.
  await sql.query("SELECT sse.publish('tls:big', lpad(i::text, 1000, 'x')) FROM generate_series(1, 25000) i");
  await waitFor(async () => (await sql.query('SELECT count(*)::int AS n FROM sse.outbox')).rows[0].n === 0, 30000, 'sequencing');
  const c = await rawSse(strict.port, '/events?stream=tls:big&lastEventId=0', {}, { ca: caPem });
  await waitFor(() => c.records.length > 10, 10000, 'the replay flowing');
  c.pause();
  const stopped = Date.now();
  const cut = () => metric(`http://127.0.0.1:${admin}`, 'sse_gateway_slow_consumer_disconnects_total');
  await waitFor(async () => (await cut()) === 1, 15000, 'the stalled TLS subscriber cut');
  const after = (Date.now() - stopped) / 1000;
  console.log(`  cut ${after.toFixed(1)} s after it stopped reading`);
  assert(after < 8, `cut within the deadline and a few seconds of buffers draining: ${after} s`);
  c.close();
  await strict.stop();
});

test('SIGHUP: new connections get the new certificate, an open one keeps its socket and events', async () => {
  const old = await rawSse(gw.port, '/events?stream=tls:rot', {}, { ca: caPem });
  await waitFor(() => old.body.includes(': ok'), 5000, 'the old connection streaming');
  const next = issue('next', 'localhost');
  serve(next);
  gw.proc.kill('SIGHUP');
  await waitFor(() => /reload: TLS certificate CN=localhost/.test(gw.log()), 5000, 'the reload line');
  const fresh = await rawSse(gw.port, '/events?stream=tls:rot', {}, { ca: caPem });
  assertEq(fresh.peerCertificate.fingerprint256, fingerprint(next.cert), 'a new connection sees the new certificate');
  assertEq(old.peerCertificate.fingerprint256, fingerprint(ca.cert), 'the old one had the old certificate');
  await waitFor(() => fresh.body.includes(': ok'), 5000, 'the new connection streaming');
  for (let i = 0; i < 5; i++) await sql.query("SELECT sse.publish('tls:rot', $1)", [`after${i}`]);
  for (const [c, who] of [[old, 'the old connection'], [fresh, 'the new connection']]) {
    await waitFor(() => ids(c).length >= 5, 10000, `5 events on ${who}`);
    assertEq(c.records.filter((r) => r.data !== undefined).map((r) => r.data),
      ['after0', 'after1', 'after2', 'after3', 'after4'], `the events on ${who}`);
  }
  assert(!old.ended, 'the old connection stayed open');
  old.close();
  fresh.close();
});

test('a reload from a broken file keeps the old certificate and logs one line', async () => {
  const current = fingerprint(served.cert);
  const before = count(/reload failed, keeping the old TLS certificate/g);
  fs.writeFileSync(served.cert + '.new', '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
  fs.renameSync(served.cert + '.new', served.cert);
  gw.proc.kill('SIGHUP');
  await waitFor(() => count(/reload failed, keeping the old TLS certificate/g) === before + 1, 5000, 'the error line');
  const line = gw.log().split('\n').filter((l) => l.includes('keeping the old TLS certificate')).pop();
  assert(line.includes(served.cert), `the line names the file: ${line}`);
  const c = await rawSse(gw.port, '/events?stream=tls:after', {}, { ca: caPem });
  assertEq(c.peerCertificate.fingerprint256, current, 'still the certificate of the last good reload');
  c.close();
  assertEq((await httpsGet(`${gw.base}/healthz`, ca.ca)).status, 200, 'still serving');
});

test('at start a missing, invalid or mismatched file exits 2 with one line', async () => {
  const other = issue('other', 'other');
  const cases = [
    [[file('absent.crt'), ca.key], /cannot read .*absent\.crt: No such file/],
    [[ca.key, ca.key], /not a PEM certificate chain/],
    [[ca.cert, ca.cert], /not an unencrypted PEM private key/],
    [[ca.cert, other.key], /the key in .*other\.key does not belong to the certificate/],
  ];
  for (const [[cert, key], re] of cases) {
    const r = spawnSync(BIN, ['--listen', '127.0.0.1:1', '--database-url', db.url, '--tls-cert', cert, '--tls-key', key],
      { encoding: 'utf8', timeout: 10000 });
    const lines = r.stderr.trim().split('\n').filter((l) => /error/.test(l));
    assertEq(r.status, 2, `exit status for ${re}`);
    assertEq(lines.length, 1, `one error line for ${re}: ${r.stderr}`);
    assert(re.test(lines[0]) && /bad TLS configuration/.test(lines[0]), `${re} in: ${lines[0]}`);
  }
});

await run();
