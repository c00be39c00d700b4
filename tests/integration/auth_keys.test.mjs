// JWT keys from an identity provider: RSA and EC keys made here with
// node:crypto, served to the gateway as a PEM file and a JWKS file. RS256
// and ES256 tokens by PEM and by JWKS kid are accepted; alg confusion,
// wrong or missing aud, wrong iss, an unknown kid and alg none are 401.
// Rotation: the JWKS rewritten with a new key and SIGHUP: the new key
// works, the removed one gets 401, and a connection opened with the
// removed key stays open and keeps receiving events. A reload from a
// broken file keeps the old keys and logs one error line.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  assert, assertEq, onCleanup, rawSse, run, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const AUD = 'sse-api', ISS = 'https://idp.test/';
const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const claims = (extra = {}) => ({ sse: { subscribe: ['orders:*'] }, aud: AUD, iss: ISS, exp: now() + 3600, ...extra });

// A signed token: RS*/ES* with a private KeyObject (ES in JWS's r||s form), HS256 with bytes.
function token(body, { alg, key, kid } = {}) {
  const head = b64({ alg, typ: 'JWT', ...(kid ? { kid } : {}) }) + '.' + b64(body);
  if (alg === 'none') return head + '.';
  const hash = { 256: 'sha256', 384: 'sha384', 512: 'sha512' }[alg.slice(2)];
  const sig = alg.startsWith('HS')
    ? crypto.createHmac(hash, key).update(head).digest()
    : crypto.sign(hash, Buffer.from(head), alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' } : key);
  return head + '.' + sig.toString('base64url');
}
const rsa = () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = (pair, kid) => ({ ...pair.publicKey.export({ format: 'jwk' }), kid, use: 'sig' });

const pemRsa = rsa(), pemEc = ec(), jwksRsa = rsa(), jwksEc = ec(), stranger = rsa();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-keys-'));
onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
const pemFile = path.join(dir, 'keys.pem'), jwksFile = path.join(dir, 'jwks.json');
const rsaPem = pemRsa.publicKey.export({ type: 'spki', format: 'pem' });
fs.writeFileSync(pemFile, rsaPem + pemEc.publicKey.export({ type: 'spki', format: 'pem' }));
// Rewritten by renaming a new file over it, as a secret manager or a deploy would.
function writeJwks(doc) {
  fs.writeFileSync(jwksFile + '.new', typeof doc === 'string' ? doc : JSON.stringify(doc));
  fs.renameSync(jwksFile + '.new', jwksFile);
}
writeJwks({ keys: [jwk(jwksRsa, 'r1'), jwk(jwksEc, 'e1'), { kty: 'oct', k: b64('not for us') }] });

const db = await startPostgres();
const gw = await startGateway(db.url, ['--jwt-key-file', pemFile, '--jwt-key-file', jwksFile,
  '--jwt-audience', AUD, '--jwt-issuer', ISS]);
const sql = await sqlClient(db.url);

// The status of a subscription with this token, without waiting for the stream to end.
async function status(t, stream = 'orders:1') {
  const c = await rawSse(gw.port, `/events?stream=${stream}`, t ? { Authorization: `Bearer ${t}` } : {});
  c.close();
  return c.status;
}
const count = (re) => (gw.log().match(re) || []).length;

test('the start-up line counts the keys and the JWK passed over', async () => {
  assert(/JWT authorization on: 4 keys \(1 JWKs passed over/.test(gw.log()), 'start-up line');
});

test('RS256 and ES256 tokens by PEM and by JWKS kid are accepted', async () => {
  assertEq(await status(token(claims(), { alg: 'RS256', key: pemRsa.privateKey })), 200, 'RS256, PEM');
  assertEq(await status(token(claims(), { alg: 'ES256', key: pemEc.privateKey })), 200, 'ES256, PEM');
  assertEq(await status(token(claims(), { alg: 'RS256', key: jwksRsa.privateKey, kid: 'r1' })), 200, 'RS256, kid');
  assertEq(await status(token(claims(), { alg: 'ES256', key: jwksEc.privateKey, kid: 'e1' })), 200, 'ES256, kid');
  assertEq(await status(token(claims(), { alg: 'RS512', key: jwksRsa.privateKey, kid: 'r1' })), 200, 'RS512, kid');
  assertEq(await status(token(claims({ aud: ['other', AUD] }), { alg: 'RS256', key: pemRsa.privateKey })), 200, 'aud array');
});

test('alg confusion, aud, iss, unknown kid and none are 401', async () => {
  const { aud, ...noAud } = claims();
  const cases = [
    [token(claims(), { alg: 'HS256', key: rsaPem }), 'HS256 keyed with the RSA public key PEM'],
    [token(claims(), { alg: 'HS256', key: rsaPem, kid: 'r1' }), 'the same naming the JWKS key'],
    [token(claims({ aud: 'other' }), { alg: 'RS256', key: pemRsa.privateKey }), 'wrong aud'],
    [token(noAud, { alg: 'RS256', key: pemRsa.privateKey }), 'no aud'],
    [token(claims({ iss: 'https://evil.test/' }), { alg: 'RS256', key: pemRsa.privateKey }), 'wrong iss'],
    [token(claims(), { alg: 'RS256', key: jwksRsa.privateKey, kid: 'r9' }), 'unknown kid'],
    [token(claims(), { alg: 'RS256', key: jwksRsa.privateKey, kid: 'e1' }), 'kid of an EC key'],
    [token(claims(), { alg: 'none' }), 'alg none'],
    [token(claims(), { alg: 'RS256', key: stranger.privateKey }), 'a key not listed'],
    [token(claims({ exp: now() - 5 }), { alg: 'ES256', key: pemEc.privateKey }), 'expired'],
  ];
  for (const [t, what] of cases) assertEq(await status(t), 401, what);
  assertEq(await status(token({ ...claims(), sse: { subscribe: ['chat:*'] } }, { alg: 'RS256', key: pemRsa.privateKey })), 403, 'valid, other streams');
});

test('rotation: SIGHUP loads the rewritten JWKS; an open connection stays', async () => {
  const next = rsa();
  const oldToken = token(claims(), { alg: 'RS256', key: jwksRsa.privateKey, kid: 'r1' });
  const newToken = token(claims(), { alg: 'RS256', key: next.privateKey, kid: 'r2' });
  assertEq(await status(newToken), 401, 'the new key before the reload');
  const open = await rawSse(gw.port, '/events?stream=orders:rot', { Authorization: `Bearer ${oldToken}` });
  assertEq(open.status, 200, 'a connection with the old key');
  const admin = { Authorization: `Bearer ${token({ ...claims(), sse: { admin: true } }, { alg: 'ES256', key: pemEc.privateKey })}` };
  await waitFor(async () => (await (await fetch(gw.base + '/stats', { headers: admin })).json()).streams.some((s) => s.stream === 'orders:rot'), 10000, 'registered');

  writeJwks({ keys: [jwk(next, 'r2'), jwk(jwksEc, 'e1')] });
  const reloads = count(/reload: JWT keys: 4 keys/g);
  gw.proc.kill('SIGHUP');
  await waitFor(() => count(/reload: JWT keys: 4 keys/g) > reloads, 10000, 'the reload line');

  assertEq(await status(newToken), 200, 'the new key');
  assertEq(await status(oldToken), 401, 'the removed key');
  assertEq(await status(token(claims(), { alg: 'ES256', key: jwksEc.privateKey, kid: 'e1' })), 200, 'a key still listed');
  assertEq(await status(token(claims(), { alg: 'RS256', key: pemRsa.privateKey })), 200, 'the PEM key');

  await sql.query(`SELECT sse.publish('orders:rot', 'after the reload')`);
  await waitFor(() => open.records.some((r) => r.data === 'after the reload'), 10000, 'the open connection receives');
  assert(!open.ended, 'the open connection is still open');
});

test('a reload from a broken file keeps the keys and logs one error line', async () => {
  const good = token(claims(), { alg: 'ES256', key: jwksEc.privateKey, kid: 'e1' });
  const errors = count(/reload failed/g);
  writeJwks('{"keys":[{"kty":"RSA",');
  gw.proc.kill('SIGHUP');
  await waitFor(() => count(/reload failed/g) > errors, 10000, 'the error line');
  const lines = gw.log().split('\n').filter((l) => l.includes('reload failed'));
  assertEq(lines.length, errors + 1, 'one error line');
  assert(lines.at(-1).includes('error') && lines.at(-1).includes(jwksFile), 'at error, naming the file');
  assertEq(await status(good), 200, 'the old keys still verify');
  fs.rmSync(jwksFile);
  gw.proc.kill('SIGHUP');
  await waitFor(() => count(/reload failed/g) > errors + 1, 10000, 'the missing file');
  assertEq(await status(good), 200, 'still the old keys');
  assertEq(gw.proc.exitCode, null, 'the gateway still runs');
});

await run();
