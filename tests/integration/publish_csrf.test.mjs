// Cross-site publishing: a POST /publish that the sse_token cookie authorizes
// needs an Origin (or, without one, a Referer's origin) listed exactly in
// --cors-origin; "*" never counts, "null" and a request with neither header
// are refused; a token in the Authorization header is unaffected. Checked
// with raw requests on three gateways (no --cors-origin, "*", a list) and
// with Chromium: a page of another origin on the same site (the cookie rides
// along) submits a form, and an allowed page publishes with fetch.
import crypto from 'node:crypto';
import http from 'node:http';
import {
  assertEq, launchChromium, onCleanup, run, sqlClient, startGateway, startPostgres, test, waitFor,
} from './lib/harness.mjs';

const SECRET = crypto.randomBytes(24).toString('hex');
const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
function token(sse) {
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sse, exp: Math.floor(Date.now() / 1000) + 3600 });
  return head + '.' + crypto.createHmac('sha256', SECRET).update(head).digest('base64url');
}
const publisher = token({ publish: ['csrf:*'], subscribe: ['csrf:*'] });

const db = await startPostgres();
const sql = await sqlClient(db.url);
// Two origins on ports of their own, bound at once (a port picked free and
// bound later can be taken meanwhile); their pages are set by the test.
const pages = {};
async function origin(name) {
  const server = http.createServer((req, res) => pages[name](req, res));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => server.close());
  return server.address().port;
}
const [goodPort, evilPort] = [await origin('good'), await origin('evil')];
const good = `http://127.0.0.1:${goodPort}`, evil = `http://127.0.0.1:${evilPort}`;
const none = await startGateway(db.url, ['--jwt-secret', SECRET]);
const star = await startGateway(db.url, ['--jwt-secret', SECRET, '--cors-origin', '*']);
const listed = await startGateway(db.url, ['--jwt-secret', SECRET, '--cors-origin', `https://app.example, ${good}`]);
const rows = async (data) => (await sql.query(
  'SELECT count(*)::int AS n FROM (SELECT data FROM sse.outbox UNION ALL SELECT data FROM sse.events) t WHERE data = $1',
  [data])).rows[0].n;

let serial = 0;
// A publish with the given headers: its status, and whether its event exists.
async function publish(gw, headers) {
  const data = `d${++serial}`;
  const r = await fetch(gw.base + '/publish', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ stream: 'csrf:1', data }),
  });
  return { status: r.status, stored: await rows(data) };
}
const cookie = { Cookie: `theme=dark; sse_token=${publisher}` };
const bearer = { Authorization: `Bearer ${publisher}` };

test('a cookie publish needs an Origin or Referer listed exactly; a header token does not', async () => {
  const cases = [
    [none, { ...cookie, Origin: 'https://evil.example' }, 403, 'no --cors-origin: a cookie from evil.example'],
    [none, cookie, 403, 'no --cors-origin: a cookie with neither Origin nor Referer'],
    [none, { ...bearer, Origin: 'https://evil.example' }, 201, 'no --cors-origin: a header token'],
    [star, { ...cookie, Origin: 'https://evil.example' }, 403, '"*": a cookie from evil.example'],
    [star, { ...cookie, Origin: 'https://app.example' }, 403, '"*": any origin, none listed'],
    [star, { ...bearer, Origin: 'https://evil.example' }, 201, '"*": a header token'],
    [listed, { ...cookie, Origin: 'https://app.example' }, 201, 'a listed Origin'],
    [listed, { ...cookie, Origin: 'https://evil.example' }, 403, 'an Origin not listed'],
    [listed, { ...cookie, Origin: 'null' }, 403, 'Origin: null'],
    [listed, cookie, 403, 'neither Origin nor Referer'],
    [listed, { ...cookie, Referer: 'https://app.example/orders?id=1#top' }, 201, 'a listed Referer'],
    [listed, { ...cookie, Referer: 'https://APP.example:443/x' }, 201, 'a listed Referer with its default port'],
    [listed, { ...cookie, Referer: 'http://app.example/x' }, 403, 'a Referer of another scheme'],
    [listed, { ...cookie, Referer: 'https://app.example.evil/x' }, 403, 'a Referer of another host'],
    [listed, { ...cookie, Referer: 'https://app.example:8443/x' }, 403, 'a Referer of another port'],
    [listed, { ...cookie, Origin: 'https://evil.example', Referer: 'https://app.example/' }, 403, 'the Origin wins over a Referer'],
    [listed, { ...cookie, Origin: 'https://app.example', Authorization: 'Basic eDp5' }, 201, 'a non-Bearer header leaves the cookie'],
    [listed, { ...bearer, ...cookie }, 201, 'a header token with a cookie and no Origin'],
    [listed, { ...bearer, Origin: 'https://app.example' }, 201, 'a header token from a listed origin'],
  ];
  for (const [gw, headers, status, what] of cases) {
    const r = await publish(gw, headers);
    assertEq(r, { status, stored: status === 201 ? 1 : 0 }, what);
  }
});

test('Chromium: a form on another origin of the same site cannot publish with the cookie; a listed page can', async () => {
  const page = (body) => (req, res) => { res.setHeader('Content-Type', 'text/html'); res.end(body); };
  // The attack needs no CORS: a form post is a "simple" request, sent
  // without a preflight; the gateway without --cors-origin is its target.
  const form = `<!doctype html><form method="post" action="${none.base}/publish">
    <input name="stream" value="csrf:1"><input name="data" value="forged"></form>
    <script>document.forms[0].submit()</script>`;
  const app = `<!doctype html><script>
    window.result = fetch('${listed.base}/publish', { method: 'POST', credentials: 'include',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ stream: 'csrf:1', data: 'from-the-app' }) })
      .then((r) => r.status, (e) => String(e));
  </script>`;
  pages.evil = page(form);
  pages.good = page(app);
  const browser = await launchChromium();
  const context = await browser.newContext();
  // Cookies ignore ports: one set for the gateway goes to every port of 127.0.0.1.
  await context.addCookies([{ name: 'sse_token', value: publisher, url: none.base, sameSite: 'Lax' }]);
  const tab = await context.newPage();
  const answered = tab.waitForResponse((r) => r.url() === `${none.base}/publish`, { timeout: 10000 });
  await tab.goto(evil + '/');
  const forged = await answered;
  assertEq(forged.status(), 403, 'the cross-origin form post is refused');
  assertEq(await rows('forged'), 0, 'and nothing was published');

  const appTab = await context.newPage();
  await appTab.goto(good + '/');
  assertEq(await appTab.evaluate(() => window.result), 201, 'the listed page publishes with its cookie');
  await waitFor(async () => (await rows('from-the-app')) === 1, 5000, 'its event stored');
  await browser.close();
});

await run();
