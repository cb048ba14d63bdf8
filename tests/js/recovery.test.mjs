// Recovery by offset (PROTOCOL.md §2) as js/sub.js does it: every message is
// handed on once, in offset order, across reconnects, gaps and epoch changes.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Sub } from '../../channels/web/static/js/sub.js';
import { ScriptedHub, recorder, msg, settle } from './support.mjs';

const CH = 'group:g1';

/** A followed group that has seen up to `offset` in epoch e1. */
async function following(offset = 4) {
  const hub = new ScriptedHub();
  const rec = recorder();
  const sub = new Sub(hub, CH, rec.handler, false);
  hub.subs.set(CH, sub);
  const done = sub.connected({});
  const req = await hub.next();
  assert.deepEqual(req.frame, { op: 'subscribe', channel: CH });
  req.reply({ offset, epoch: 'e1', recovered: false, messages: [] });
  await done;
  assert.deepEqual(rec.calls.splice(0), [['ready', { offset, epoch: 'e1' }], ['synced', offset]]);
  return { hub, rec, sub };
}

test('the first subscribe has no since and only sets the position', async () => {
  const { sub } = await following(4);
  assert.deepEqual(sub.pos, { offset: 4, epoch: 'e1' });
  assert.equal(sub.active, true);
});

test('live pushes are handed on in order and a duplicate offset is dropped', async () => {
  const { hub, rec, sub } = await following(4);
  sub.live(msg(5));
  sub.live(msg(5));
  sub.live(msg(6));
  sub.live(msg(4));
  await hub.none();
  assert.deepEqual(rec.delivered(), [5, 6]);
  assert.deepEqual(sub.pos, { offset: 6, epoch: 'e1' });
});

test('a push before the subscription is active is not handed on', async () => {
  const hub = new ScriptedHub();
  const rec = recorder();
  const sub = new Sub(hub, CH, rec.handler, false);
  sub.live(msg(1));
  assert.deepEqual(rec.calls, []);
});

test('after a drop it resubscribes with since and merges recovered messages exactly once', async () => {
  const { hub, rec, sub } = await following(4);
  sub.live(msg(5));
  const done = sub.connected({});
  const req = await hub.next();
  assert.deepEqual(req.frame, { op: 'subscribe', channel: CH, since: { offset: 5, epoch: 'e1' } });
  // pushes that arrive while the reply is on its way wait for it
  sub.live(msg(8));
  sub.live(msg(9));
  req.reply({ offset: 8, epoch: 'e1', recovered: true, messages: [msg(5), msg(6), msg(7), msg(8)] });
  await done;
  assert.deepEqual(rec.calls, [['messages', [5]], ['messages', [6, 7, 8]], ['synced', 8], ['messages', [9]]]);
  assert.deepEqual(rec.delivered(), [5, 6, 7, 8, 9]);
  assert.deepEqual(sub.pos, { offset: 9, epoch: 'e1' });
});

test('recovered: false resets to the top, so the page reloads through history', async () => {
  const { hub, rec, sub } = await following(4);
  const done = sub.connected({});
  const req = await hub.next();
  assert.deepEqual(req.frame.since, { offset: 4, epoch: 'e1' });
  req.reply({ offset: 300, epoch: 'e1', recovered: false, messages: [] });
  await done;
  assert.deepEqual(rec.calls.splice(0), [['reset', { offset: 300, epoch: 'e1' }], ['synced', 300]]);
  sub.live(msg(300));
  sub.live(msg(301));
  assert.deepEqual(rec.delivered(), [301]);
});

test('a push from another epoch resets the position to it', async () => {
  const { rec, sub } = await following(4);
  sub.live(msg(2, 'e2'));
  sub.live(msg(3, 'e2'));
  assert.deepEqual(rec.calls, [['reset', { offset: 2, epoch: 'e2' }], ['messages', [3]]]);
  assert.deepEqual(sub.pos, { offset: 3, epoch: 'e2' });
});

test('a gap in the live stream is filled through history since before going on', async () => {
  const { hub, rec, sub } = await following(4);
  sub.live(msg(7));
  const req = await hub.next();
  assert.deepEqual(req.frame, { op: 'history', channel: CH, limit: 1000, since: { offset: 4, epoch: 'e1' } });
  sub.live(msg(8));
  req.reply({ messages: [msg(5), msg(6), msg(7)] });
  await settle();
  await hub.none();
  assert.deepEqual(rec.delivered(), [5, 6, 7, 8]);
});

test('an unknown channel on resubscribe revokes and forgets the subscription', async () => {
  const { hub, rec, sub } = await following(4);
  const warn = mock.method(console, 'warn', () => {});
  const done = sub.connected({});
  (await hub.next()).fail(103, 'permission denied');
  await done;
  warn.mock.restore();
  assert.equal(warn.mock.callCount(), 1);
  assert.deepEqual(rec.calls, [['revoked', CH]]);
  assert.equal(hub.subs.has(CH), false);
});

test('a request cut short by the drop leaves the position for the next connection', async () => {
  const { hub, rec, sub } = await following(4);
  const done = sub.connected({});
  (await hub.next()).fail(-1, 'offline');
  await done;
  assert.deepEqual(rec.calls, []);
  assert.equal(sub.active, false);
  assert.deepEqual(sub.pos, { offset: 4, epoch: 'e1' });
});

// -- the personal channel: the hub subscribes it at connect, the page fills with history

async function personal(top) {
  const hub = new ScriptedHub();
  const rec = recorder();
  const sub = new Sub(hub, 'member:m1', rec.handler, true);
  await sub.connected({ subs: { 'member:m1': top } });
  return { hub, rec, sub };
}

test('the personal channel starts at the top of the connect reply', async () => {
  const { hub, rec, sub } = await personal({ offset: 3, epoch: 'e1' });
  await hub.none();
  assert.deepEqual(rec.calls, [['ready', { offset: 3, epoch: 'e1' }], ['synced', 3]]);
  assert.equal(sub.active, true);
});

test('the personal channel catches up through history since, page by page', async () => {
  const { hub, rec, sub } = await personal({ offset: 3, epoch: 'e1' });
  rec.calls.length = 0;
  const done = sub.connected({ subs: { 'member:m1': { offset: 1004, epoch: 'e1' } } });
  let req = await hub.next();
  assert.deepEqual(req.frame.since, { offset: 3, epoch: 'e1' });
  const page = Array.from({ length: 1000 }, (_, i) => msg(4 + i, 'e1', 'member:m1'));
  req.reply({ messages: page });
  req = await hub.next();
  assert.deepEqual(req.frame.since, { offset: 1003, epoch: 'e1' });
  req.reply({ messages: [msg(1003, 'e1', 'member:m1'), msg(1004, 'e1', 'member:m1')] });
  await done;
  const got = rec.delivered();
  assert.equal(got.length, 1001);
  assert.equal(new Set(got).size, 1001);
  assert.deepEqual(got.slice(-2), [1003, 1004]);
  assert.deepEqual(rec.calls.at(-1), ['synced', 1004]);
});

test('the personal channel resets on a new epoch or a top below the position', async () => {
  const { hub, rec, sub } = await personal({ offset: 3, epoch: 'e1' });
  rec.calls.length = 0;
  await sub.connected({ subs: { 'member:m1': { offset: 9, epoch: 'e2' } } });
  await sub.connected({ subs: { 'member:m1': { offset: 5, epoch: 'e2' } } });
  await hub.none();
  assert.deepEqual(rec.calls, [
    ['reset', { offset: 9, epoch: 'e2' }], ['synced', 9],
    ['reset', { offset: 5, epoch: 'e2' }], ['synced', 5],
  ]);
});

test('history too old to recover (112) resets to the current top', async () => {
  const { hub, rec, sub } = await personal({ offset: 3, epoch: 'e1' });
  rec.calls.length = 0;
  const done = sub.connected({ subs: { 'member:m1': { offset: 90, epoch: 'e1' } } });
  (await hub.next()).fail(112, 'unrecoverable');
  const top = await hub.next();
  assert.deepEqual(top.frame, { op: 'history', channel: 'member:m1', limit: 1 });
  top.reply({ offset: 90, epoch: 'e1', messages: [] });
  await done;
  assert.deepEqual(rec.calls, [['reset', { offset: 90, epoch: 'e1' }], ['synced', 90]]);
});
