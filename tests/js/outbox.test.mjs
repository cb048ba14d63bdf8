// The outbox (js/group.js) on the real Hub (js/hub.js) with a WebSocket the
// test drives: a message typed offline, or whose reply was lost, is published
// after the reconnect with the same idem key, and shows once.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { FakeWebSocket, clock } from './browser.mjs';
import { Hub } from '../../channels/web/static/js/hub.js';
import { Group } from '../../channels/web/static/js/group.js';
import { settle } from './support.mjs';

const ME = 'm1';
const info = { channel: 'group:g1', id: 'g1', name: '第一支部', members: [{ id: 'm1', name: '李明' }] };

let hub;
let g;
let settled;
beforeEach(() => {
  FakeWebSocket.all.length = 0;
  clock.install();
  hub = new Hub({ url: 'ws://hub/ws', token: 'tok', codec: 'json' });
  g = new Group(info);
  settled = [];
  // as chat.js does: every connection flushes the outbox
  hub.addEventListener('connected', () => g.flush(hub, ME, (p, sent) => settled.push([p.idem, sent])));
  hub.start();
});
afterEach(() => {
  hub.stop();
  clock.uninstall();
});

async function connect() {
  const ws = FakeWebSocket.last();
  ws.accept();
  await ws.reply('connect', { client: 'c1' });
  return ws;
}

async function reconnect() {
  clock.tick(15150);
  return connect();
}

const publishes = () => FakeWebSocket.all.flatMap((ws) => ws.sent.filter((f) => f.op === 'publish'));

test('a message queued offline waits, then is sent once after the reconnect with its idem', async () => {
  FakeWebSocket.last().drop();
  g.queue({ text: '你好' }, 'idem-1', 1000);
  g.flush(hub, ME, (p, sent) => settled.push([p.idem, sent]));
  await settle();
  assert.equal(g.pending[0].state, 'waiting');
  assert.equal(publishes().length, 0);
  const ws = await reconnect();
  const frame = await ws.reply('publish', { offset: 7, epoch: 'e1' });
  assert.deepEqual({ ...frame, id: 0, answered: undefined },
    { id: 0, op: 'publish', channel: 'group:g1', data: { text: '你好' }, idem: 'idem-1', answered: undefined });
  assert.equal(publishes().length, 1);
  assert.deepEqual(g.pending, []);
  assert.deepEqual(settled, [['idem-1', false], ['idem-1', true]]);
  assert.deepEqual(g.msgs.get(7), { push: 'message', channel: 'group:g1', offset: 7, epoch: 'e1', data: { text: '你好' }, from: ME, ts: 1000 });
});

test('a publish whose reply was lost goes again with the same idem, and the message shows once', async () => {
  let ws = await connect();
  g.queue({ text: '收到' }, 'idem-2', 1000);
  g.flush(hub, ME, () => {});
  await settle();
  assert.equal(publishes().length, 1);
  ws.drop();
  await settle();
  assert.equal(g.pending[0].state, 'waiting');
  ws = await reconnect();
  await ws.reply('publish', { offset: 3, epoch: 'e1' });
  const sent = publishes();
  assert.equal(sent.length, 2);
  assert.deepEqual(sent.map((f) => f.idem), ['idem-2', 'idem-2']);
  // the hub stored it once; its push arrives as well
  g.received([{ push: 'message', channel: 'group:g1', offset: 3, epoch: 'e1', from: ME, data: { text: '收到' } }], ME);
  assert.equal([...g.msgs.values()].filter((m) => m.data.text === '收到').length, 1);
  assert.deepEqual(g.pending, []);
});

test('a message still in flight is not sent twice by a second flush', async () => {
  const ws = await connect();
  g.queue({ text: 'a' }, 'idem-3', 1);
  g.flush(hub, ME, () => {});
  g.flush(hub, ME, () => {});
  await settle();
  assert.equal(publishes().length, 1);
  await ws.reply('publish', { offset: 1, epoch: 'e1' });
});

test('a refused publish fails for good until retried, then goes with the same idem', async () => {
  const ws = await connect();
  g.queue({ text: 'x' }, 'idem-4', 1);
  g.flush(hub, ME, () => {});
  await settle();
  const first = ws.sent.find((f) => f.op === 'publish');
  ws.receive({ id: first.id, ok: false, error: { code: 103, message: '没有权限' } });
  await settle();
  assert.equal(g.pending[0].state, 'failed');
  assert.equal(g.pending[0].error, '没有权限');
  g.flush(hub, ME, () => {});
  await settle();
  assert.equal(publishes().length, 1, 'a failed message was sent without a retry');
  g.pending[0].state = 'waiting'; // the 重试 button
  g.flush(hub, ME, () => {});
  await settle();
  assert.deepEqual(publishes().map((f) => f.idem), ['idem-4', 'idem-4']);
});

test('the member’s own message pushed before the reply is matched to its outbox entry', async () => {
  await connect();
  g.queue({ text: '同一句' }, 'idem-5', 1);
  g.queue({ text: '同一句' }, 'idem-6', 2);
  g.flush(hub, ME, () => {});
  g.received([{ push: 'message', channel: 'group:g1', offset: 9, epoch: 'e1', from: ME, data: { text: '同一句' } }], ME);
  assert.deepEqual(g.pending.map((p) => p.matched), [9, 0]);
});
