// Admin data (/stats and /metrics) with authorization on: the main port
// answers 404 when --admin-listen is set, and otherwise asks for a token
// whose claims hold "sse":{"admin":true} (401 without a token, 403 with
// another one, 200 with it, from the header, the cookie or ?token=); the
// admin port serves them without a token; an open gateway serves them on
// its main port as before.
import crypto from 'node:crypto';
import {
  assertEq, freePort, httpGet, run, startGateway, startPostgres, test,
} from './lib/harness.mjs';

const SECRET = crypto.randomBytes(24).toString('hex');
const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
function token(claims) {
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ exp: Math.floor(Date.now() / 1000) + 600, ...claims });
  return head + '.' + crypto.createHmac('sha256', SECRET).update(head).digest('base64url');
}
const admin = token({ sse: { admin: true } });
const subscriber = token({ sse: { subscribe: ['*'], publish: ['*'] } });
const bearer = (t) => ({ Authorization: `Bearer ${t}` });

const db = await startPostgres();
const adminPort = await freePort();
const split = await startGateway(db.url, ['--jwt-secret', SECRET, '--admin-listen', `127.0.0.1:${adminPort}`]);
const guarded = await startGateway(db.url, ['--jwt-secret', SECRET]);
const openAdmin = await freePort();
const open = await startGateway(db.url, ['--admin-listen', `127.0.0.1:${openAdmin}`]);
const status = async (base, p, headers) => (await httpGet(base, p, headers)).status;

test('with --admin-listen: 404 on the main port, 200 on the admin port', async () => {
  const adminBase = `http://127.0.0.1:${adminPort}`;
  for (const p of ['/stats', '/metrics']) {
    assertEq(await status(split.base, p), 404, `${p} main, no token`);
    assertEq(await status(split.base, p, bearer(admin)), 404, `${p} main, admin token`);
    assertEq(await status(adminBase, p), 200, `${p} admin port, no token`);
  }
  assertEq(await status(split.base, '/healthz'), 200, 'health stays on the main port');
  assertEq(JSON.parse((await httpGet(adminBase, '/stats')).body).instance.includes(':'), true, 'stats body');
});

test('without --admin-listen: 401, 403, then 200 with the admin claim', async () => {
  for (const p of ['/stats', '/metrics']) {
    const none = await httpGet(guarded.base, p);
    assertEq(none.status, 401, `${p} without a token`);
    assertEq(none.headers.get('www-authenticate')?.startsWith('Bearer'), true, `${p} WWW-Authenticate`);
    assertEq(await status(guarded.base, p, bearer(subscriber)), 403, `${p} with a subscriber's token`);
    assertEq(await status(guarded.base, p, bearer(token({ sse: { admin: false } }))), 403, `${p} admin false`);
    assertEq(await status(guarded.base, p, bearer('garbage')), 401, `${p} with garbage`);
    assertEq(await status(guarded.base, p, bearer(admin)), 200, `${p} with the admin claim`);
    assertEq(await status(guarded.base, p, { Cookie: `sse_token=${admin}` }), 200, `${p} cookie`);
    assertEq(await status(guarded.base, `${p}?token=${admin}`), 200, `${p} ?token=`);
  }
  const m = await httpGet(guarded.base, '/metrics', bearer(admin));
  assertEq(m.body.includes('sse_gateway_build_info{'), true, 'the metrics body');
});

test('an open gateway serves admin data on both ports', async () => {
  for (const p of ['/stats', '/metrics']) {
    assertEq(await status(open.base, p), 200, `${p} main`);
    assertEq(await status(`http://127.0.0.1:${openAdmin}`, p), 200, `${p} admin`);
  }
});

await run();
