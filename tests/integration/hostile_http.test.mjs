// Hostile HTTP input: error bodies that stay JSON whatever the request held,
// with one-line reasons and log records; published JSON data kept as its
// exact text, and nothing accepted after the JSON body; a publish's token
// checked before a byte of its body is read; requests whose body length
// could be read two ways refused, so nothing can be smuggled behind them.
import crypto from 'node:crypto';
import net from 'node:net';
import {
  assert, assertEq, metric, onCleanup, rawSse, run, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const SECRET = crypto.randomBytes(24).toString('hex');
const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
function token(sse) {
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sse, exp: Math.floor(Date.now() / 1000) + 3600 });
  return head + '.' + crypto.createHmac('sha256', SECRET).update(head).digest('base64url');
}

const db = await startPostgres();
const gw = await startGateway(db.url);
const authGw = await startGateway(db.url, ['--jwt-secret', SECRET]);

// Writes raw bytes (a string or an array of pieces) and reads one answer:
// {status, body, closed}; status 0 when none came within ms.
function rawExchange(port, pieces, ms = 5000) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    onCleanup(() => sock.destroy());
    let buf = Buffer.alloc(0), closed = false, settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      const text = buf.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const at = text.indexOf('\r\n\r\n');
      resolve({ status: m ? Number(m[1]) : 0, body: at < 0 ? '' : text.slice(at + 4), closed });
      sock.destroy();
    };
    sock.on('connect', () => { for (const p of [].concat(pieces)) sock.write(p); });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const text = buf.toString('latin1'), at = text.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(text);
      if (at >= 0 && len && buf.length >= at + 4 + Number(len[1])) setImmediate(done);
    });
    sock.on('error', () => {});
    sock.on('close', () => { closed = true; done(); });
    setTimeout(done, ms).unref();
  });
}

const post = (body, type = 'application/json', headers = {}) => fetch(gw.base + '/publish', {
  method: 'POST', headers: { 'Content-Type': type, ...headers }, body,
}).then(async (r) => ({ status: r.status, body: await r.text() }));

test('error bodies are valid JSON on one line, and so is the log, whatever the input', async () => {
  const cases = [
    ['stream=a&data=x&x","zzadmin":true,"y=1', 'application/x-www-form-urlencoded', 'a form field name with quotes'],
    ['stream=a&data=x&x\n","zzadmin":true,"y=1', 'application/x-www-form-urlencoded', 'a form field name with a newline'],
    ['{"stream":"a","data":1,"x\\n\\"zzadmin\\":true":1}', 'application/json', 'a JSON key with an escaped newline'],
    ['{"stream":"a","data":1,"\\u001b[31mzzred\\u0007":1}', 'application/json', 'a JSON key with terminal escapes'],
  ];
  for (const [body, type, what] of cases) {
    const r = await post(body, type);
    assertEq(r.status, 400, what);
    let parsed;
    try { parsed = JSON.parse(r.body); } catch { throw new Error(`${what}: the error body is not JSON: ${r.body}`); }
    assertEq(Object.keys(parsed), ['error'], `${what}: only the error member`);
    assert(!/[\x00-\x1f\x7f]/.test(parsed.error), `${what}: a one-line reason: ${JSON.stringify(parsed.error)}`);
    assert(/unknown/.test(parsed.error), `${what}: names the unknown field: ${parsed.error}`);
  }
  // Every record about these requests is one line: nothing the client sent
  // starts a line of its own.
  for (const line of gw.log().split('\n')) {
    if (/zzadmin|zzred/.test(line)) assert(/rejected a publish/.test(line), `a log line forged by input: ${line}`);
    assert(!/[\x00-\x08\x0b-\x1f\x7f]/.test(line), `control characters in the log: ${JSON.stringify(line)}`);
  }
});

test('JSON data keeps its exact text, minified; bytes after the JSON body are a 400', async () => {
  const sent = [
    ['{"stream":"exact","data":9007199254740993}', '9007199254740993'],
    ['{"stream":"exact","data":1e400}', '1e400'],
    ['{"stream":"exact","data":-0.10E-0}', '-0.10E-0'],
    ['{ "stream" : "exact" , "data" : { "n" : [ 0.10 , 123456789012345678901234567890 ] , "s" : " a\\u00e9 " } }',
      '{"n":[0.10,123456789012345678901234567890],"s":" a\\u00e9 "}'],
    ['[{"stream":"exact","data":[true, null ,"x"]}] \r\n', '[true,null,"x"]'],
  ];
  for (const [body] of sent) assertEq((await post(body)).status, 201, `published ${body}`);
  const c = await rawSse(gw.port, '/events?stream=exact&lastEventId=0');
  await waitFor(() => c.records.filter((r) => r.id).length >= sent.length, 10000, 'the replay');
  c.close();
  assertEq(c.records.filter((r) => r.id).map((r) => r.data), sent.map(([, text]) => text), 'each data as sent');
  for (const [body, what] of [
    ['{"stream":"exact","data":"x"} {"stream":"exact","data":"y"}', 'a second object'],
    ['[{"stream":"exact","data":"x"}]garbage', 'garbage after an array'],
    ['{"stream":"exact","data":01}', 'a leading zero'],
  ]) {
    const r = await post(body);
    assertEq(r.status, 400, what);
    assert(/invalid JSON at byte \d+/.test(JSON.parse(r.body).error), `${what}: says where: ${r.body}`);
  }
});

test('a publish is authorized before its body is read: 401 however large or broken the body', async () => {
  const head = (headers) => `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n`;
  const huge = await rawExchange(authGw.port, [head('Content-Length: 104857600\r\n'), 'x'.repeat(1000)]);
  assertEq(huge.status, 401, 'no token, Content-Length 100 MB, 1 KB sent');
  const chunked = await rawExchange(authGw.port, [head('Transfer-Encoding: chunked\r\n'), '400\r\n' + '{'.repeat(1024) + '\r\n']);
  assertEq(chunked.status, 401, 'no token, a chunked body that never ends');
  const broken = '{{{ not json';
  const malformed = await rawExchange(authGw.port, head(`Content-Length: ${broken.length}\r\n`) + broken);
  assertEq(malformed.status, 401, 'no token, a malformed body');
  const subscriber = `Authorization: Bearer ${token({ subscribe: ['*'] })}\r\n`;
  assertEq((await rawExchange(authGw.port, head(subscriber + `Content-Length: ${broken.length}\r\n`) + broken)).status,
    403, 'a token without publish rights, a malformed body');
  const publisher = `Authorization: Bearer ${token({ publish: ['orders:*'] })}\r\n`;
  assertEq((await rawExchange(authGw.port, head(publisher + `Content-Length: ${broken.length}\r\n`) + broken)).status,
    400, 'a publisher, a malformed body');
  const other = '{"stream":"chat:1","data":"x"}';
  assertEq((await rawExchange(authGw.port, head(publisher + `Content-Length: ${other.length}\r\n`) + other)).status,
    403, 'a publisher, a stream its token does not cover');
  const mine = '{"stream":"orders:1","data":"x"}';
  assertEq((await rawExchange(authGw.port, head(publisher + `Content-Length: ${mine.length}\r\n`) + mine)).status,
    201, 'a publisher, its own stream');
});

// Writes bytes and reads until the server closes or ms pass: the status of
// every response, and whether the socket closed.
function rawAll(port, bytes, ms = 3000) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    onCleanup(() => sock.destroy());
    let text = '', settled = false;
    const done = (closed) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve({ statuses: [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1])), closed });
    };
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d) => { text += d.toString('latin1'); });
    sock.on('error', () => {});
    sock.on('close', () => done(true));
    setTimeout(() => done(false), ms).unref();
  });
}

test('a body length that reads two ways is a 400 and the socket closes: nothing is smuggled', async () => {
  const smuggled = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
  const post = (headers, body) => `POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n${body}`;
  const cases = [
    [post('Transfer-Encoding: chunked\r\nContent-Length: 4\r\n', '0\r\n\r\n' + smuggled), 'Transfer-Encoding and Content-Length'],
    [post('Content-Length: 2\r\nContent-Length: 40\r\n', '{}' + smuggled), 'two different Content-Lengths'],
    [post('Content-Length: 2\r\nContent-Length: x\r\n', '{}' + smuggled), 'a second Content-Length that is not a number'],
    [post('Transfer-Encoding : chunked\r\nContent-Length: 2\r\n', '{}' + smuggled), 'a space before the colon of Transfer-Encoding'],
    [post('Content-Length : 2\r\n', '{}' + smuggled), 'a space before the colon of Content-Length'],
    [post('Transfer-Encoding: gzip\r\n', '{}'), 'a Transfer-Encoding other than chunked'],
    [post('Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n', '0\r\n\r\n' + smuggled), 'two Transfer-Encodings'],
    ['GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n' + smuggled, 'a GET with both'],
  ];
  const rejected = async () => [await metric(gw.base, 'sse_gateway_publish_requests_total{result="rejected"}') ?? 0,
    await metric(gw.base, 'sse_gateway_connections_total{result="rejected"}') ?? 0];
  const [publishesBefore, subscriptionsBefore] = await rejected();
  for (const [bytes, what] of cases) {
    const r = await rawAll(gw.port, bytes);
    assertEq(r, { statuses: [400], closed: true }, what);
  }
  const events = await rawAll(gw.port, 'GET /events?stream=s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n');
  assertEq(events, { statuses: [400], closed: true }, 'a subscription with both');
  // Refused before their route ran, they still count where the routes' own refusals do.
  const [publishesAfter, subscriptionsAfter] = await rejected();
  assert(publishesAfter > publishesBefore, `publishes refused for their framing counted (${publishesBefore} -> ${publishesAfter})`);
  assertEq(subscriptionsAfter - subscriptionsBefore, 1, 'the subscription refused for its framing counted');
  // Two equal Content-Lengths read one way only: fine.
  const same = await rawAll(gw.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 00\r\nConnection: close\r\n\r\n');
  assertEq(same, { statuses: [200], closed: true }, 'two equal Content-Lengths');
  assert(/refused a request: both Transfer-Encoding and Content-Length/.test(gw.log()), 'one log line says why');
});

await run();
