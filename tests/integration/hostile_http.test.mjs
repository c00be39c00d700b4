// Hostile HTTP input: error bodies that stay JSON whatever the request held,
// with one-line reasons and log records; published JSON data kept as its
// exact text, and nothing accepted after the JSON body.
import {
  assert, assertEq, rawSse, run, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const db = await startPostgres();
const gw = await startGateway(db.url);

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

await run();
