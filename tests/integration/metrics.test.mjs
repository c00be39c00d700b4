// /metrics of a live gateway: promtool (Debian's prometheus package) finds
// nothing to complain about; the standard process_* series describe the
// gateway process itself (its /proc entries); sse_gateway_build_info
// carries the version and the git revision it was built from.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import {
  BIN, assert, assertEq, rawSse, run, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const db = await startPostgres();
const gw = await startGateway(db.url);
const scrape = async () => (await fetch(gw.base + '/metrics')).text();
function value(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

test('promtool check metrics passes on a live /metrics', async () => {
  const text = await scrape();
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  console.log(`promtool check metrics: exit ${r.status}${(r.stdout + r.stderr).trim() ? ': ' + (r.stdout + r.stderr).trim() : ', no findings'}`);
  assertEq(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
});

test('process_* describe the gateway process', async () => {
  const pid = gw.proc.pid;
  const before = await scrape();
  const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  const open = value(before, 'process_open_fds');
  assert(Math.abs(open - fds) <= 3, `open fds ${open} vs /proc ${fds}`);
  // Twenty more sockets show up.
  const subs = [];
  for (let i = 0; i < 20; i++) subs.push(await rawSse(gw.port, `/events?stream=m:${i}`));
  await waitFor(async () => value(await scrape(), 'process_open_fds') >= open + 20, 10000, 'open fds grow by the sockets');
  for (const s of subs) s.close();
  const limits = fs.readFileSync(`/proc/${pid}/limits`, 'utf8').match(/Max open files\s+(\d+)/)[1];
  assertEq(value(before, 'process_max_fds'), Number(limits), 'max fds is the soft limit');
  const rssKiB = Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
  const rss = value(before, 'process_resident_memory_bytes');
  assert(rss > 0.5 * rssKiB * 1024 && rss < 2 * rssKiB * 1024, `rss ${rss} vs VmRSS ${rssKiB} KiB`);
  const start = value(before, 'process_start_time_seconds');
  const age = Date.now() / 1000 - start;
  assert(age >= 0 && age < 120, `started ${age} s ago`);
  // Counted in clock ticks: a young gateway may still read 0, so wait for the first.
  await waitFor(async () => value(await scrape(), 'process_cpu_seconds_total') > 0, 10000, 'some CPU time');
});

test('sse_gateway_build_info has the version and revision', async () => {
  const line = (await scrape()).split('\n').find((l) => l.startsWith('sse_gateway_build_info{'));
  const m = /^sse_gateway_build_info\{version="([^"]+)",revision="([^"]+)"\} 1$/.exec(line || '');
  assert(m, `the series: ${line}`);
  const version = execFileSync(BIN, ['--version'], { encoding: 'utf8' });
  assertEq(version.trim(), `sse-gateway ${m[1]} (${m[2]})`, '--version says the same');
  let head = null;
  try { head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }
  if (head) assert(m[2] === head || m[2] === head + '-dirty', `revision ${m[2]} is HEAD ${head}`);
  else assertEq(m[2], 'unknown', 'outside a checkout');
});

await run();
