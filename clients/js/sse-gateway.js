// sse-gateway.js: the browser (and Node 18+) client of sse-gateway.
//
//   import { subscribe } from '/sse-gateway.js';
//   const sub = subscribe({ streams: ['orders:42'], onEvent(e) { … } });
//   sub.close();
//
// One ES module, no dependencies, no build step. docs/CLIENT.md is the
// manual; this file is meant to be read in one sitting. Three parts:
//
//   1. parser      the text/event-stream format, fed decoded chunks.
//   2. Connection  one fetch-streamed subscription that reconnects by itself:
//                  retry:, Last-Event-ID, tokens in a header, the gateway's
//                  sentinels (gateway:gap, :expired, :shutdown, :overloaded).
//   3. Hub         sharing: the tabs of one origin elect a holder with Web
//                  Locks; the holder runs one Connection for the union of all
//                  tabs' streams and relays every event over a BroadcastChannel.
//
// Why fetch and not EventSource: EventSource cannot send headers (so tokens
// end up in URLs and logs), needs one listener per event type known in
// advance, and stops for good after a 401.

const DEFAULT_RETRY_MS = 2000; // the gateway's default; its first bytes set the real one
const MAX_BACKOFF_MS = 30000;
const GATHER_MS = 150; // a new holder waits this long for the other tabs to answer 'who'

// Positions are decimal strings of up to 19 digits, beyond Number's exact
// range: compare them as strings, shorter first.
function cmp(a, b) {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
// The lower of two cursors, where null means "no cursor" (live).
function lower(a, b) {
  if (a == null) return b;
  if (b == null) return a;
  return cmp(a, b) <= 0 ? a : b;
}
const subset = (xs, ys) => xs.every((x) => ys.includes(x));
const sameSet = (xs, ys) => xs.length === ys.length && subset(xs, ys);
const randomId = () => Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
// A callback that throws is the page's bug: report it as an uncaught error,
// but never let it break the connection (or the relay to other tabs).
function safe(fn, ...args) {
  try { fn(...args); } catch (e) { setTimeout(() => { throw e; }); }
}

// ---- 1. parser --------------------------------------------------------------

// Returns feed(text): give it decoded text in chunks of any size. It calls
// onRetry(ms) at each valid retry: field and onEvent({id, lastId, type,
// stream, data}) at each blank line that ends an event with data. `id` is
// the event's own id: line (null without one); `lastId` is the id a
// reconnect must send, which, as in EventSource, outlives the event that
// set it (and starts as the one this connection resumed from).
function parser(onEvent, onRetry, lastId) {
  let buf = '';
  let first = true; // a leading U+FEFF (BOM) is dropped once per stream
  let id = null, type = '', stream = null, data = [];

  function line(l) {
    if (l === '') {
      if (id !== null) lastId = id;
      if (data.length) onEvent({ id, lastId, type: type || 'message', stream, data: data.join('\n') });
      id = null; type = ''; stream = null; data = [];
      return;
    }
    if (l[0] === ':') return; // a comment: the gateway's heartbeats and preamble
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? '' : l.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') type = value;
    else if (field === 'stream') stream = value;
    else if (field === 'id') { if (!value.includes('\0')) id = value; }
    else if (field === 'retry') { if (/^\d+$/.test(value)) onRetry(Number(value)); }
    // any other field is ignored, as the format requires
  }

  return function feed(text) {
    buf += text;
    if (first && buf.length) { first = false; if (buf[0] === '\uFEFF') buf = buf.slice(1); }
    // Lines end at \r\n, \n or \r. Searching for both characters from the
    // same point would rescan a long chunk once per line, so each search
    // result is kept until the scan passes it.
    let pos = 0, cr = -2, lf = -2;
    for (;;) {
      if (cr !== -1 && cr < pos) cr = buf.indexOf('\r', pos);
      if (lf !== -1 && lf < pos) lf = buf.indexOf('\n', pos);
      if (cr === -1 && lf === -1) break;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A \r as the last character may be the first half of a \r\n split
        // across chunks: wait for the next chunk to tell.
        if (cr === buf.length - 1) break;
        line(buf.slice(pos, cr));
        pos = buf[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else {
        line(buf.slice(pos, lf));
        pos = lf + 1;
      }
    }
    buf = buf.slice(pos);
  };
}

// ---- 2. Connection ----------------------------------------------------------

// One subscription over fetch. `streams` and `lastId` are read at every
// attempt, so the hub may change them between attempts; restart() breaks
// the current stream to apply a change at once. Callbacks: onOpen(from,
// streams), onEvent(e), onGap(info), onStatus(status, detail).
class Connection {
  constructor(o) {
    Object.assign(this, o); // url, streams, lastId, token, credentials, callbacks
    this.retry = DEFAULT_RETRY_MS;
    this.stale = true; // the token must be (re)fetched before the next attempt
    this.closed = false;
    this.run();
  }

  restart() { this.quiet = true; this.kick(); }
  close() { this.closed = true; this.kick(); }
  // Ends the current fetch or the wait before the next attempt.
  kick() { if (this.abort) this.abort.abort(); if (this.wake) this.wake(); }

  async run() {
    let failures = 0, first = true;
    while (!this.closed) {
      // A restart the hub asked for is not a break the user should see.
      if (!this.quiet) this.onStatus(first ? 'connecting' : 'reconnecting');
      this.quiet = false;
      first = false;
      let wait;
      try {
        wait = await this.attempt();
        if (wait === 'final') return;
        failures = 0;
      } catch (e) {
        if (this.closed) return;
        if (this.abort.signal.aborted) { wait = 0; } // restart(): reconnect now
        else {
          // Could not connect (network, 5xx, a 401 even with a fresh token):
          // back off from at least a second (a drain's retry: may be a few
          // ms), with jitter so a fleet's clients do not come back in step.
          failures++;
          const base = Math.min(MAX_BACKOFF_MS, Math.max(this.retry, 1000) * 2 ** Math.min(failures - 1, 5));
          wait = base * (0.75 + Math.random() / 2);
        }
      }
      if (wait > 0 && !this.closed) {
        await new Promise((resolve) => {
          const t = setTimeout(resolve, wait);
          this.wake = () => { clearTimeout(t); resolve(); };
        });
        this.wake = null;
      }
    }
  }

  // One connection: the delay before the next one, 'final', or a throw.
  async attempt() {
    const abort = this.abort = new AbortController();
    const headers = { Accept: 'text/event-stream' };
    const from = this.lastId || null;
    if (from) headers['Last-Event-ID'] = from; // a header, on the first attempt too
    const fresh = this.stale;
    if (this.stale) { this.tok = await (typeof this.token === 'function' ? this.token() : this.token); this.stale = false; }
    if (this.tok) headers.Authorization = 'Bearer ' + this.tok;
    const streams = this.streams.slice();
    const url = new URL(this.url);
    for (const s of streams) url.searchParams.append('stream', s);
    const res = await fetch(url, { headers, signal: abort.signal, cache: 'no-store', credentials: this.credentials });
    const ok = res.status === 200 && /^text\/event-stream/.test(res.headers.get('content-type') || '');
    if (!ok) {
      // Error bodies are small JSON; a 200 of another type may never end.
      const body = res.status >= 400 ? await res.text().catch(() => '') : (res.body?.cancel().catch(() => {}), '');
      if (res.status === 401 && this.token) {
        // The token ran out between two connections: ask for another one and
        // try again at once; a 401 on a token just asked for backs off.
        this.stale = true;
        if (fresh) throw new Error('401 with a fresh token');
        return 0;
      }
      if (res.status >= 500 || res.status === 429) throw new Error('HTTP ' + res.status);
      // 400, 403, 404 and a 200 that is not SSE: retrying as is cannot help.
      this.onStatus('closed', { status: res.status, body });
      return 'final';
    }
    this.onOpen(from, streams);
    let wait = null;
    const feed = parser((e) => {
      this.lastId = e.lastId;
      if (!e.type.startsWith('gateway:')) {
        this.onEvent({ id: e.id, stream: e.stream, type: e.type, data: e.data });
      } else if (e.type === 'gateway:gap') {
        try { this.onGap(JSON.parse(e.data)); } catch { this.onGap({}); }
      } else if (e.type === 'gateway:expired') {
        this.stale = true; wait = 0; // a fresh token, then resume at once
      } else if (e.type === 'gateway:shutdown' || e.type === 'gateway:overloaded') {
        wait = this.retry; // the retry: sent just before: a drain spreads its clients
      }
    }, (ms) => { this.retry = ms; }, from || '');
    // ignoreBOM keeps a BOM in the text so that the parser drops exactly one.
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    const reader = res.body.getReader();
    try {
      while (wait === null) {
        const { value, done } = await reader.read();
        // A restart() may come between a read and its handling: the chunk
        // must not move lastId, which the hub has just set for the next attempt.
        if (abort.signal.aborted) throw new Error('restarted');
        if (done) break;
        feed(decoder.decode(value, { stream: true }));
      }
    } catch (e) {
      if (abort.signal.aborted) throw e;
      // The stream broke (network, a proxy's timeout): resume after retry:.
    } finally {
      abort.abort(); // after a sentinel the gateway closes anyway; do not wait for it
    }
    return wait === null ? this.retry : wait;
  }
}

// ---- 3. sharing one connection among the tabs of an origin ------------------
//
// Every tab has one Hub per (url, share group) and one Member per subscribe().
// All tabs queue for one Web Lock; the tab that holds it is the holder. The
// holder keeps a table of every member of every tab (each announces itself
// with 'want'), connects with the union of their streams, and posts every
// event it receives to the BroadcastChannel, whatever its stream; each
// member filters by stream.
//
// Nothing lost, nothing repeated: each member keeps a cursor, the id of the
// last event it has seen of the connection that "covers" it. A connection
// covers a member when its streams include the member's and it started at
// or below the member's cursor, so that it will deliver everything after
// that cursor. The holder names the members each connection covers ('conn');
// a member takes events only from the connection that covers it, and only
// ids above its cursor. Any id moves the cursor, even of another stream, so
// the cursor stays close to the head even for a quiet stream. A live member
// (no lastEventId) has no cursor until its first event and takes whatever
// its connection delivers. So:
//   - a member that needs more than the connection gives (a new stream, or a
//     cursor below the connection's position) makes the holder reconnect
//     from the lowest cursor it must serve; members already covered drop
//     the ids they have seen;
//   - when the holder leaves (tab closed), the lock passes to another tab,
//     which asks every member for its cursor ('who'), waits a moment for the
//     answers, and connects from the lowest: what the old holder received but
//     never relayed comes again, what it relayed is dropped by the cursors.
// Messages: want {m, streams, from}, bye {m}, who; from the holder: conn
// {serial, covers}, ev {serial, id, stream, type, data}, gap {serial,
// info}, status {s, detail}.

const hubs = new Map();

class Member {
  constructor(hub, o, streams, cursor) {
    this.hub = hub;
    this.o = o;
    this.id = randomId();
    this.streams = streams;
    this.cursor = cursor; // string, or null: live, until the first event
    this.covered = null; // the serial of the connection that covers this member
    this.status = null;
  }

  setStatus(s, detail) {
    if (s === this.status) return;
    this.status = s;
    safe(this.o.onStatus, s, detail);
  }

  announce() {
    this.covered = null;
    if (this.status === 'open') this.setStatus('reconnecting');
    this.hub.send({ t: 'want', m: this.id, streams: this.streams, from: this.cursor });
  }

  receive(msg) {
    if (msg.t === 'conn') {
      if (!msg.covers.includes(this.id)) return;
      this.covered = msg.serial;
      this.setStatus('open');
    } else if (msg.t === 'status') {
      if (msg.s === 'closed') this.hub.leave(this, msg.detail);
      else if (this.status === 'open') this.setStatus('reconnecting');
    } else if (msg.serial === this.covered) {
      if (msg.t === 'gap') {
        // Only a member whose cursor is below the pruned part missed anything
        // (a live one without a cursor yet missed nothing).
        const q = msg.info.oldest_position;
        if (this.cursor != null && (typeof q !== 'number' || cmp(this.cursor, String(q - 1)) < 0)) safe(this.o.onGap, msg.info);
        return;
      }
      if (msg.id) {
        if (this.cursor != null && cmp(msg.id, this.cursor) <= 0) return;
        this.cursor = msg.id;
      }
      // Without a stream: line (an older gateway) events cannot be told apart.
      if (msg.stream == null || this.streams.includes(msg.stream)) {
        safe(this.o.onEvent, { id: msg.id, stream: msg.stream, type: msg.type, data: msg.data });
      }
    }
  }
}

class Hub {
  constructor(key, url, credentials) {
    this.key = key;
    this.url = url;
    this.credentials = credentials;
    this.tab = randomId();
    this.members = new Map();
    this.serials = 0;
    this.sawHolder = false; // another tab has led: a new holder must gather cursors
    this.table = null; // the holder's: member id → {streams, from, covered}
    this.bc = new BroadcastChannel(key);
    this.bc.onmessage = (e) => this.handle(e.data, true);
    this.lockAbort = new AbortController();
    navigator.locks.request(key, { signal: this.lockAbort.signal }, () => this.lead()).catch(() => {});
    // A tab that goes away takes its members out of the union.
    this.onHide = () => { for (const m of this.members.values()) this.send({ t: 'bye', m: m.id }); };
    this.onShow = (e) => { if (e.persisted) for (const m of this.members.values()) m.announce(); };
    globalThis.addEventListener?.('pagehide', this.onHide);
    globalThis.addEventListener?.('pageshow', this.onShow);
  }

  // To every other tab, and to this one: a message is handled the same way
  // whichever tab holds the lock.
  send(msg) {
    this.bc.postMessage(msg);
    this.handle(msg, false);
  }

  handle(msg, remote) {
    if (remote) this.sawHolder ||= msg.t !== 'want' && msg.t !== 'bye';
    if (msg.t === 'want') { if (this.table) this.want(msg); }
    else if (msg.t === 'bye') { if (this.table) { this.table.delete(msg.m); this.replan(); } }
    else if (msg.t === 'who') { for (const m of this.members.values()) m.announce(); }
    else { for (const m of [...this.members.values()]) m.receive(msg); }
  }

  join(o, streams, cursor) {
    const m = new Member(this, o, streams, cursor);
    this.members.set(m.id, m);
    m.setStatus('connecting');
    m.announce();
    return m;
  }

  leave(m, detail) {
    if (!this.members.delete(m.id)) return;
    this.send({ t: 'bye', m: m.id });
    m.setStatus('closed', detail);
    // Deferred, so that close() then subscribe() in one task keeps the hub and its lock.
    queueMicrotask(() => {
      if (this.members.size || hubs.get(this.key) !== this) return;
      hubs.delete(this.key);
      this.lockAbort.abort();
      if (this.conn) this.conn.close();
      if (this.release) this.release();
      this.table = null;
      this.bc.close();
      globalThis.removeEventListener?.('pagehide', this.onHide);
      globalThis.removeEventListener?.('pageshow', this.onShow);
    });
  }

  // ---- the holder's side ----

  async lead() {
    if (hubs.get(this.key) !== this) return; // granted just as this tab left
    this.table = new Map();
    const gather = this.sawHolder;
    this.send({ t: 'who' }); // this tab's members answer too
    if (gather) await new Promise((r) => setTimeout(r, GATHER_MS));
    if (!this.table) return; // every member left meanwhile
    const { streams, from } = this.plan();
    // The holder's token serves every tab (docs/CLIENT.md): the first one
    // among this tab's subscriptions, looked up at each use.
    const tokenOf = () => [...this.members.values()].map((m) => m.o.token).find((t) => t != null);
    this.conn = new Connection({
      url: this.url, streams, lastId: from, credentials: this.credentials,
      token: tokenOf() == null ? undefined : () => { const t = tokenOf(); return typeof t === 'function' ? t() : t; },
      onOpen: (f, s) => this.opened(f, s),
      onEvent: (e) => this.send({ t: 'ev', serial: this.serial, ...e }),
      onGap: (info) => this.send({ t: 'gap', serial: this.serial, info }),
      onStatus: (s, detail) => {
        if (s === 'reconnecting' || s === 'closed') { this.open = false; this.send({ t: 'status', s, detail }); }
      },
    });
    await new Promise((r) => { this.release = r; });
  }

  // The union of every member's streams, and the lowest cursor the next
  // connection must start from: where the connection is, or lower for a
  // member it does not cover yet.
  plan() {
    const streams = [];
    let from = this.conn ? this.conn.lastId || null : null;
    for (const e of this.table.values()) {
      for (const s of e.streams) if (!streams.includes(s)) streams.push(s);
      if (!e.covered) from = lower(from, e.from);
    }
    return { streams: streams.sort(), from };
  }

  want(msg) {
    const e = { streams: msg.streams, from: msg.from, covered: false };
    this.table.set(msg.m, e);
    if (!this.conn) return; // gathering: the first connection plans with it
    const pos = this.conn.lastId || null;
    if (this.open && !this.replanning && subset(e.streams, this.openStreams) &&
        (e.from == null || (pos != null && cmp(e.from, pos) >= 0))) {
      // The open connection already gives this member all it needs.
      e.covered = true;
      this.send({ t: 'conn', serial: this.serial, covers: [msg.m] });
    } else {
      this.replan();
    }
  }

  // Once per task however many members came or went. An open connection
  // that does not cover everyone, or holds streams nobody wants, is
  // restarted; one waiting to retry (after a drain, say) keeps its delay
  // and takes the new plan at its next attempt.
  replan() {
    if (this.replanning || !this.conn) return;
    this.replanning = true;
    queueMicrotask(() => {
      this.replanning = false;
      if (!this.table || !this.table.size) return;
      const { streams, from } = this.plan();
      if (this.open) {
        const fine = sameSet(streams, this.openStreams) && [...this.table.values()].every((e) => e.covered);
        if (fine) return;
        this.open = false;
        this.conn.streams = streams;
        this.conn.lastId = from;
        this.conn.restart();
      } else {
        this.conn.streams = streams;
        this.conn.lastId = from;
      }
    });
  }

  opened(from, streams) {
    this.serial = this.tab + '.' + ++this.serials;
    this.open = true;
    this.openStreams = streams;
    const covers = [];
    for (const [id, e] of this.table) {
      if (subset(e.streams, streams) && (e.covered || e.from == null || (from != null && cmp(from, e.from) <= 0))) {
        e.covered = true;
        covers.push(id);
      }
    }
    this.send({ t: 'conn', serial: this.serial, covers });
    this.replan(); // members that came while it connected, or left
  }
}

// ---- the API ------------------------------------------------------------------

// Web Locks exist only in secure contexts (HTTPS, localhost); an opaque
// origin (a sandboxed frame) has them but refuses every request.
const canShare = () =>
  typeof BroadcastChannel === 'function' && typeof navigator === 'object' && !!navigator.locks &&
  globalThis.origin !== 'null';

/**
 * Subscribes to streams. Returns {close()}.
 *   streams      array of stream names (required)
 *   url          the gateway's /events (default '/events'; must be absolute outside a browser)
 *   lastEventId  resume after this position (0 replays everything retained); default live
 *   token        string or (async) function returning a JWT, sent as Authorization: Bearer
 *   share        true (default where Web Locks exist): one connection for all tabs of the
 *                origin; false: a connection of its own; a string: share only with the
 *                subscriptions given the same string
 *   credentials  fetch's credentials mode (default 'same-origin'; 'include' sends
 *                cookies cross-origin)
 *   onEvent(e)   {id, stream, type, data}: every type, 'message' when none; id is a
 *                string, null for ephemeral messages
 *   onGap(info)  gateway:gap's data {last_event_id, oldest_position}
 *   onStatus(s, detail)  'connecting' | 'open' | 'reconnecting' | 'closed' (detail
 *                {status, body} when the gateway refused the subscription)
 */
export function subscribe(options) {
  const o = { onEvent() {}, onGap() {}, onStatus() {}, ...options };
  const { streams, lastEventId, share = canShare(), credentials = 'same-origin' } = o;
  if (!Array.isArray(streams) || !streams.length || !streams.every((s) => typeof s === 'string')) {
    throw new TypeError('subscribe: streams must be a non-empty array of names');
  }
  const base = globalThis.location ? globalThis.location.href : undefined;
  const url = new URL(o.url || '/events', base).href; // throws on a relative url in Node
  const cursor = lastEventId == null || lastEventId === '' ? null : String(lastEventId);
  const list = [...new Set(streams)];

  if (!share || !canShare()) {
    let status = null;
    const setStatus = (s, detail) => { if (s !== status) { status = s; safe(o.onStatus, s, detail); } };
    const conn = new Connection({
      url, streams: list, lastId: cursor, token: o.token, credentials,
      onOpen: () => setStatus('open'),
      onEvent: (e) => safe(o.onEvent, e),
      onGap: (info) => safe(o.onGap, info),
      onStatus: setStatus,
    });
    return { close() { conn.close(); setStatus('closed'); } };
  }

  const key = `sse-gateway ${share === true ? '' : share} ${url}`;
  let hub = hubs.get(key);
  if (!hub) hubs.set(key, (hub = new Hub(key, url, credentials)));
  const member = hub.join(o, list, cursor);
  return { close() { hub.leave(member); } };
}
