// Reconnecting: full-jitter exponential backoff (js/backoff.js), and js/hub.js
// following it — and not reconnecting when the hub says so.
import { describe, test, mock, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { FakeWebSocket, fireWindow, clock } from './browser.mjs';
import { reconnectDelay, nextAttempt, MAX_DELAY, MAX_ATTEMPT } from '../../channels/web/static/js/backoff.js';
import { Hub, OFFLINE } from '../../channels/web/static/js/hub.js';
import { settle } from './support.mjs';

test('the delay is 150 ms plus a random share of a window that doubles', () => {
  assert.equal(reconnectDelay(0, () => 0), 150);
  assert.equal(reconnectDelay(0, () => 1), 150 + 400);
  assert.equal(reconnectDelay(1, () => 1), 150 + 800);
  assert.equal(reconnectDelay(3, () => 0.5), 150 + 1600);
});

test('the window is capped at 15 s, and so is the attempt count', () => {
  for (const attempt of [6, 7, MAX_ATTEMPT, 40]) assert.equal(reconnectDelay(attempt, () => 1), 150 + MAX_DELAY);
  let a = 0;
  for (let i = 0; i < 50; i++) a = nextAttempt(a);
  assert.equal(a, MAX_ATTEMPT);
});

test('the jitter spreads a crowd over the whole window', () => {
  const delays = Array.from({ length: 200 }, () => reconnectDelay(2));
  assert.ok(delays.every((d) => d >= 150 && d <= 150 + 1600));
  assert.ok(new Set(delays.map((d) => Math.floor(d / 100))).size > 8, 'delays bunch together');
});

// -- the Hub class, with a WebSocket the test drives and a clock it moves (browser.mjs) ------------

describe('Hub', () => {
  let hub;
  beforeEach(() => {
    FakeWebSocket.all.length = 0;
    clock.install();
    mock.method(Math, 'random', () => 1); // the longest delay of each window
  });
  afterEach(() => {
    hub?.stop();
    clock.uninstall();
    mock.restoreAll();
  });

  async function connected(reply = {}) {
    const ws = FakeWebSocket.last();
    ws.accept();
    const frame = await ws.reply('connect', { client: 'c1', ...reply });
    assert.equal(frame.token, 'tok');
    assert.equal(hub.state, 'connected');
    return ws;
  }

  function states() {
    const seen = [];
    hub.addEventListener('state', (ev) => seen.push(ev.detail));
    return seen;
  }

  test('a dropped connection is retried after the jittered delay, which grows until one connects', async () => {
    hub = new Hub({ url: 'ws://hub/ws', token: 'tok', codec: 'json' }).start();
    const seen = states();
    await connected();
    for (const [attempt, delay] of [[0, 550], [1, 950], [2, 1750], [3, 3350]]) {
      FakeWebSocket.last().drop();
      assert.equal(hub.state, 'reconnecting');
      assert.equal(hub.attempt, attempt + 1);
      const before = FakeWebSocket.all.length;
      clock.tick(delay - 1);
      assert.equal(FakeWebSocket.all.length, before, `attempt ${attempt} came back too early`);
      clock.tick(1);
      assert.equal(FakeWebSocket.all.length, before + 1, `attempt ${attempt} did not come back`);
    }
    await connected();
    assert.equal(hub.attempt, 0);
    FakeWebSocket.last().drop();
    const before = FakeWebSocket.all.length;
    clock.tick(550);
    assert.equal(FakeWebSocket.all.length, before + 1);
    assert.deepEqual(seen, ['connected', 'reconnecting', 'connected', 'reconnecting']);
  });

  test('the browser coming back online reconnects at once; offline is shown while down', async () => {
    hub = new Hub({ url: 'ws://hub/ws', token: 'tok', codec: 'json' }).start();
    await connected();
    globalThis.navigator.onLine = false;
    try {
      FakeWebSocket.last().drop();
      assert.equal(hub.state, 'offline');
      const before = FakeWebSocket.all.length;
      globalThis.navigator.onLine = true;
      fireWindow('online');
      assert.equal(FakeWebSocket.all.length, before + 1);
    } finally {
      globalThis.navigator.onLine = true;
    }
  });

  test('a disconnect push with reconnect: false closes for good', async () => {
    hub = new Hub({ url: 'ws://hub/ws', token: 'tok', codec: 'json' }).start();
    const closed = [];
    hub.addEventListener('closed', (ev) => closed.push(ev.detail));
    const ws = await connected();
    ws.receive({ push: 'disconnect', code: 4003, reason: 'token revoked', reconnect: false });
    await settle();
    assert.equal(hub.state, 'closed');
    assert.deepEqual(closed, [{ code: 4003, reason: 'token revoked' }]);
    assert.equal(ws.closedWith, 1000);
    clock.tick(60000);
    assert.equal(FakeWebSocket.all.length, 1, 'reconnected after reconnect: false');
  });

  test('a disconnect push with reconnect: true is passed on and the drop is retried', async () => {
    hub = new Hub({ url: 'ws://hub/ws', token: 'tok', codec: 'json' }).start();
    const pushes = [];
    hub.addEventListener('push', (ev) => pushes.push(ev.detail.push));
    const ws = await connected();
    ws.receive({ push: 'disconnect', code: 3001, reason: 'shutting down', reconnect: true });
    ws.drop(3001, 'shutting down');
    assert.deepEqual(pushes, ['disconnect']);
    assert.equal(hub.state, 'reconnecting');
    clock.tick(550);
    assert.equal(FakeWebSocket.all.length, 2);
  });

  test('a close for a refused or expired token is not retried', async () => {
    for (const code of [4001, 4003, 4013]) {
      FakeWebSocket.all.length = 0;
      hub = new Hub({ url: 'ws://hub/ws', token: 'tok', codec: 'json' }).start();
      await connected();
      FakeWebSocket.last().drop(code, 'no');
      assert.equal(hub.state, 'closed', `close ${code}`);
      clock.tick(60000);
      assert.equal(FakeWebSocket.all.length, 1, `close ${code} was retried`);
      hub.stop();
    }
  });

  test('requests in flight fail with OFFLINE on a drop; request() made offline waits for the next connection', async () => {
    hub = new Hub({ url: 'ws://hub/ws', token: 'tok', codec: 'json' }).start();
    let ws = await connected();
    const cut = hub.request('presence', { channel: 'group:g1' });
    await settle();
    ws.drop();
    await assert.rejects(cut, (err) => err.code === OFFLINE);
    await assert.rejects(hub.tryRequest('read', { channel: 'group:g1', offset: 3 }), (err) => err.code === OFFLINE);
    const waiting = hub.request('presence', { channel: 'group:g1' });
    clock.tick(550);
    ws = await connected();
    const frame = await ws.reply('presence', { members: {} });
    assert.equal((await waiting).ok, true);
    assert.equal(ws.sent.filter((f) => f.op === 'presence').length, 1);
    assert.equal(frame.channel, 'group:g1');
  });

  test('a followed channel is resubscribed with since after a reconnect', async () => {
    hub = new Hub({ url: 'ws://hub/ws', token: 'tok', codec: 'json' }).start();
    const got = [];
    hub.follow('group:g1', { messages: (list) => got.push(...list.map((m) => m.offset)) });
    let ws = await connected();
    let sub = await ws.reply('subscribe', { offset: 4, epoch: 'e1', recovered: false, messages: [] });
    assert.equal(sub.since, undefined);
    ws.receive({ push: 'message', channel: 'group:g1', offset: 5, epoch: 'e1', data: {} });
    ws.drop();
    clock.tick(550);
    ws = await connected();
    sub = await ws.reply('subscribe', { offset: 6, epoch: 'e1', recovered: true,
      messages: [{ offset: 5, epoch: 'e1', data: {} }, { offset: 6, epoch: 'e1', data: {} }] });
    assert.deepEqual(sub.since, { offset: 5, epoch: 'e1' });
    assert.deepEqual(got, [5, 6]);
  });
});
