// deploy/monitoring/ against a real gateway and a real Prometheus server
// (Debian's prometheus package, which also ships promtool). The gateway runs
// with --admin-listen and a small replay window, and is made to do what
// each series counts: a subscriber, accepted and rejected publishes, a
// rejected subscription, replays from memory and from the database. Then:
// promtool accepts its /metrics; every metric, label and label value that
// the alert rules and the dashboard name is one /metrics exports; the
// README's table lists exactly the families /metrics exports, with their
// labels; Prometheus loads the rules (each evaluates without error) and
// every dashboard query returns data, the exercised panels non-zero.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  assert, assertEq, esClient, freePort, onCleanup, run, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const repo = new URL('../../', import.meta.url).pathname;
const rulesPath = path.join(repo, 'deploy/monitoring/alerts.yaml');
const rules = JSON.parse(execFileSync('python3', ['-c',
  'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', rulesPath]));
const ruleExprs = rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.alert}`, expr: r.expr })));
const dashboard = JSON.parse(fs.readFileSync(path.join(repo, 'deploy/monitoring/dashboard.json'), 'utf8'));
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels || [])]).filter((p) => p.targets);
const panelExprs = panels.flatMap((p) => p.targets.map((t) => ({ where: `panel ${p.title} ${t.refId}`, expr: t.expr, panel: p })));
const variableExprs = dashboard.templating.list.filter((v) => v.type === 'query').map((v) => {
  const q = typeof v.query === 'string' ? v.query : v.query.query;
  return { where: `variable ${v.name}`, expr: /^label_values\((.*),\s*(\w+)\)$/.exec(q)[1], label: /(\w+)\)$/.exec(q)[1] };
});

// Labels that Prometheus adds when it scrapes, not the gateway.
const targetLabels = new Set(['job', 'instance', 'namespace', 'pod']);
const isOurs = (name) => /^(sse_gateway|process)_/.test(name);

// The exposition: families by name ({type, series: [{labels}]}).
function parseExposition(text) {
  const families = new Map();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) families.set(name, { type, series: [] });
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? \S+$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    let fam = families.get(m[1]);
    const base = m[1].replace(/_(bucket|sum|count)$/, '');
    if (!fam && families.get(base)?.type === 'histogram') fam = families.get(base);
    assert(fam, `a # TYPE line for the sample ${line}`);
    fam.series.push({ name: m[1], labels });
  }
  return families;
}

// The series a PromQL name selects: a family's own, or a histogram's
// _bucket, _sum, _count (the base name alone selects nothing).
function seriesOf(families, name) {
  const fam = families.get(name);
  if (fam && fam.type !== 'histogram') return fam.series;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && families.get(m[1])?.type === 'histogram') return families.get(m[1]).series.filter((s) => s.name === name);
  return undefined;
}

// The text of the parenthesised group that opens at s[i].
function group(s, i) {
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    if (s[j] === '(') depth++;
    else if (s[j] === ')' && --depth === 0) return s.slice(i + 1, j);
  }
  return s.slice(i + 1);
}

// What an expression asks of the gateway's series: each name with its
// equality matchers, and each `by (labels)` with the names it aggregates.
function demands(expr) {
  const out = [];
  for (const m of expr.matchAll(/\b((?:sse_gateway|process)_\w+)\s*(\{[^}]*\})?/g)) {
    const matchers = [...(m[2] || '').matchAll(/(\w+)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"/g)]
      .filter((x) => x[2] === '=' && !targetLabels.has(x[1])).map((x) => [x[1], x[3]]);
    out.push({ name: m[1], matchers });
  }
  for (const m of expr.matchAll(/\bby\s*\(([^)]*)\)\s*\(/g)) {
    const labels = m[1].split(',').map((l) => l.trim()).filter((l) => l && !targetLabels.has(l));
    const inner = group(expr, m.index + m[0].length - 1);
    const names = [...inner.matchAll(/\b((?:sse_gateway|process)_\w+)/g)].map((x) => x[1]);
    for (const name of names) for (const l of labels) out.push({ name, grouping: l });
  }
  return out;
}

// Each demand the live exposition cannot meet, as a sentence.
function unmet(families, { where, expr }) {
  const problems = [];
  for (const d of demands(expr)) {
    const series = seriesOf(families, d.name);
    if (!series) { problems.push(`${where}: ${d.name} is not exported`); continue; }
    for (const [l, v] of d.matchers || [])
      if (!series.some((s) => s.labels[l] === v)) problems.push(`${where}: no ${d.name}{${l}="${v}"}`);
    if (d.grouping && !series.every((s) => d.grouping in s.labels))
      problems.push(`${where}: ${d.name} has no label ${d.grouping} to group by`);
  }
  return problems;
}

const db = await startPostgres();
const adminPort = await freePort();
const gw = await startGateway(db.url, ['--admin-listen', `127.0.0.1:${adminPort}`, '--window-events', '16']);
const admin = `http://127.0.0.1:${adminPort}`;
const scrape = async () => (await fetch(admin + '/metrics')).text();
const sample = (text, series) => {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

// A real Prometheus: scrapes the admin listener every second and evaluates
// the shipped rules every second.
const promDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-it-prom-'));
onCleanup(() => fs.rmSync(promDir, { recursive: true, force: true }));
const promPort = await freePort();
fs.writeFileSync(path.join(promDir, 'prometheus.yml'), JSON.stringify({
  global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
  rule_files: [rulesPath],
  scrape_configs: [{ job_name: 'sse-gateway', static_configs: [{ targets: [`127.0.0.1:${adminPort}`] }] }],
}));
const promLog = fs.openSync(path.join(promDir, 'log'), 'w');
const prom = spawn('prometheus', [`--config.file=${path.join(promDir, 'prometheus.yml')}`,
  `--storage.tsdb.path=${path.join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`,
  '--log.level=warn'], { stdio: ['ignore', promLog, promLog] });
const promExited = new Promise((resolve) => prom.on('exit', resolve));
onCleanup(async () => { if (prom.exitCode === null) { prom.kill('SIGTERM'); await promExited; } });
const promApi = async (p, params = {}) => {
  const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/${p}?${new URLSearchParams(params)}`);
  const body = await r.json();
  assert(body.status === 'success', `Prometheus ${p} ${JSON.stringify(params)}: ${JSON.stringify(body).slice(0, 300)}`);
  return body.data;
};
const promLogTail = () => fs.readFileSync(path.join(promDir, 'log'), 'utf8').split('\n').slice(-20).join('\n');

test('Prometheus scrapes the gateway and loads every rule, each evaluating without error', async () => {
  // Prometheus hands new targets to its scrapers after about 5 s.
  await waitFor(async () => (await promApi('targets')).activeTargets.some((t) => t.health === 'up'), 20000,
    `the gateway scraped (Prometheus log: ${promLogTail()})`);
  const names = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
  const loaded = await waitFor(async () => {
    const rs = (await promApi('rules')).groups.flatMap((g) => g.rules);
    return rs.length === names.length && rs.every((r) => r.health !== 'unknown') && rs;
  }, 10000, 'every rule evaluated once');
  assertEq(loaded.map((r) => r.name).sort(), [...names].sort(), 'the rules Prometheus loaded');
  assertEq(loaded.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`), [], 'rules that failed to evaluate');
});

test('the gateway does what each series counts', async () => {
  const sub = esClient(`${gw.base}/events?stream=mon`);
  await waitFor(async () => sample(await scrape(), 'sse_gateway_connections') === 1, 10000, 'the subscriber');
  assertEq((await fetch(gw.base + '/events')).status, 400, 'a subscription without a stream');
  const publish = (events) => fetch(admin + '/publish', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(events),
  });
  assertEq((await publish(Array.from({ length: 40 }, (_, i) => ({ stream: 'mon', data: `m${i}` })))).status, 201, 'a publish');
  assertEq((await publish([{ stream: 'not a stream', data: 'x' }])).status, 400, 'a bad publish');
  await waitFor(() => sub.events.length === 40, 10000, `40 events (have ${sub.events.length})`);
  const ids = sub.events.map((e) => Number(e.id));
  // Past the 16-event window: from the database; within it: from memory.
  const old = esClient(`${gw.base}/events?stream=mon`, { lastEventId: ids[1] });
  const recent = esClient(`${gw.base}/events?stream=mon`, { lastEventId: ids[35] });
  await waitFor(() => old.events.length === 38 && recent.events.length === 4, 10000,
    `replays (have ${old.events.length} and ${recent.events.length})`);
  const text = await scrape();
  for (const [series, atLeast] of [['sse_gateway_connections_total{result="accepted"}', 3],
    ['sse_gateway_connections_total{result="rejected"}', 1], ['sse_gateway_publish_requests_total{result="ok"}', 1],
    ['sse_gateway_publish_requests_total{result="rejected"}', 1], ['sse_gateway_replayed_events_total{source="memory"}', 4],
    ['sse_gateway_replayed_events_total{source="database"}', 1], ['sse_gateway_replay_queries_total', 1],
    ['sse_gateway_deliveries_total', 40], ['sse_gateway_delivery_latency_seconds_count', 1],
    ['sse_gateway_sequenced_events_total', 40], ['sse_gateway_window_bytes', 1], ['sse_gateway_listen_channels', 1]])
    assert(sample(text, series) >= atLeast, `${series} at least ${atLeast} (is ${sample(text, series)})`);
});

test('promtool check metrics accepts the live exposition', async () => {
  const text = await scrape();
  let out = '', code = 0;
  try {
    out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) { code = e.status; out = `${e.stdout}${e.stderr}`; }
  assertEq([code, out.trim()], [0, ''], 'promtool check metrics: status and complaints');
});

test('every metric, label and label value the rules and the dashboard name is exported', async () => {
  const families = parseExposition(await scrape());
  const all = [...ruleExprs, ...panelExprs, ...variableExprs];
  const named = new Set(all.flatMap((e) => demands(e.expr).map((d) => d.name)));
  assert(named.size >= 30, `the rules and dashboard use the gateway's metrics (${named.size}: ${[...named]})`);
  assertEq(all.flatMap((e) => unmet(families, e)), [], 'names, matchers and groupings that /metrics does not meet');
  for (const v of variableExprs)
    assert(targetLabels.has(v.label), `${v.where}: label_values of a label Prometheus attaches (${v.label})`);
});

test('the README lists every metric family with its labels, and no other', async () => {
  const families = parseExposition(await scrape());
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  // Rows of the metrics table: | `name` | type | labels | meaning |, labels
  // as `label`: value, value; `label` (values not fixed) or a dash.
  const rows = [...readme.matchAll(/^\s*\| `((?:sse_gateway|process)_\w+)` \| (\w+) \| ([^|]*) \|/gm)];
  assert(rows.length > 0, 'a metrics table in the README');
  const listed = new Map(rows.map(([, name, type, labels]) => [name, { type, labels: labels.trim() }]));
  const exported = [...families.keys()].filter(isOurs);
  const problems = [
    ...exported.filter((n) => !listed.has(n)).map((n) => `${n}: exported, not listed`),
    ...[...listed.keys()].filter((n) => !families.has(n)).map((n) => `${n}: listed, not exported`)];
  for (const [name, doc] of listed) {
    const fam = families.get(name);
    if (!fam) continue;
    if (doc.type !== fam.type) problems.push(`${name}: listed as ${doc.type}, exported as ${fam.type}`);
    const want = new Map();
    for (const item of doc.labels === '-' ? [] : doc.labels.split(';')) {
      const m = /^\s*`(\w+)`(?::\s*(.*))?$/.exec(item);
      if (!m) { problems.push(`${name}: labels cell "${doc.labels}"`); continue; }
      want.set(m[1], m[2] === undefined ? undefined : m[2].split(',').map((v) => v.trim()).sort());
    }
    const have = new Map();
    for (const s of fam.series)
      for (const [l, v] of Object.entries(s.labels)) if (l !== 'le') have.set(l, [...new Set([...(have.get(l) || []), v])].sort());
    if (JSON.stringify([...want.keys()].sort()) !== JSON.stringify([...have.keys()].sort()))
      problems.push(`${name}: labels listed ${[...want.keys()]}, exported ${[...have.keys()]}`);
    for (const [l, values] of want)
      if (values && JSON.stringify(values) !== JSON.stringify(have.get(l)))
        problems.push(`${name}: ${l} values listed ${values}, exported ${have.get(l)}`);
  }
  assertEq(problems, [], 'the README table against /metrics');
});

test('every dashboard query returns data from Prometheus, and the exercised panels show it', async () => {
  const fill = (expr) => expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '1m')
    .replace(/\$\{?job\}?/g, 'sse-gateway').replace(/\$\{?instance\}?/g, '.*');
  for (const v of variableExprs) {
    const values = await promApi(`label/${v.label}/values`, { 'match[]': fill(v.expr) });
    assert(values.length === 1, `${v.where} lists the one ${v.label} (${values})`);
  }
  // Wait for scrapes after the exercise, then every query at once.
  const results = await waitFor(async () => {
    const rs = await Promise.all(panelExprs.map(async (e) => ({ ...e, result: (await promApi('query', { query: fill(e.expr) })).result })));
    return rs.every((r) => r.result.length > 0) && rs;
  }, 15000, 'every dashboard query to return data').catch(async (err) => {
    const empty = [];
    for (const e of panelExprs) if (!(await promApi('query', { query: fill(e.expr) })).result.length) empty.push(e.where);
    throw new Error(`${err.message}; empty: ${empty.join('; ')}`);
  });
  const byLegend = (title, refId = 'A') => {
    const r = results.find((x) => x.panel.title === title && x.where.endsWith(` ${refId}`));
    assert(r, `a panel ${title} ${refId}`);
    const legend = r.panel.targets.find((t) => t.refId === refId).legendFormat;
    return Object.fromEntries(r.result.map((s) => [legend.replace(/\{\{(\w+)\}\}/g, (_, l) => s.metric[l]), Number(s.value[1])]));
  };
  const positive = (title, keys, refId) => {
    const values = byLegend(title, refId);
    for (const k of keys) assert(values[k] > 0, `${title}: ${k} above 0 (${JSON.stringify(values)})`);
  };
  const instance = `127.0.0.1:${adminPort}`;
  positive('Subscription attempts by result', ['accepted', 'rejected']);
  positive('Publish requests by result', ['ok', 'rejected']);
  positive('Replayed events by source', ['memory', 'database']);
  positive('Deliveries', [instance]);
  positive('Delivered bytes', [instance]);
  positive('Events received by kind', ['durable']);
  positive('Leader per instance', [instance]);
  positive('LISTEN connection', [instance]);
  positive('File descriptors', [`${instance} open`]);
  positive('File descriptors', [`${instance} limit`], 'B');
  for (const refId of ['A', 'B']) {
    const q = Object.values(byLegend('Delivery latency, publish to socket', refId))[0];
    assert(Number.isFinite(q) && q > 0 && q <= 5, `delivery latency quantile ${refId} is a number of seconds (${q})`);
  }
  // A healthy gateway: nothing firing or pending.
  const alerts = (await promApi('alerts')).alerts;
  assertEq(alerts.map((a) => `${a.labels.alertname} ${a.state}`), [], 'alerts on a healthy gateway');
});

await run();
