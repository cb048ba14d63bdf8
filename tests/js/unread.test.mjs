// A group's offset bookkeeping (js/group.js): the read marker, the unread count,
// messages kept by offset and history paged back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Group, messageData } from '../../channels/web/static/js/group.js';

const ME = 'm1';
const info = {
  channel: 'group:g1', id: 'g1', name: '第一支部',
  members: [{ id: 'm1', name: '李明' }, { id: 'm2', name: '王芳' }, { id: 'm3', name: '张伟' }],
};
const m = (offset, from = 'm2', text = `m${offset}`) => ({ push: 'message', offset, epoch: 'e1', from, data: { text } });

/** A group as after a connect with `unread` unread, subscribed at `top`. */
function synced(top, unread) {
  const g = new Group(info);
  g.connected({ 'group:g1': unread });
  g.start({ offset: top, epoch: 'e1' });
  g.synced(top);
  return g;
}

test('before the subscription answers, the connect reply’s count is shown', () => {
  const g = new Group(info);
  assert.equal(g.unread, 0);
  g.connected({ 'group:g1': 3, 'group:other': 9 });
  assert.equal(g.unread, 3);
  assert.equal(g.marker, null);
  g.connected({});
  assert.equal(g.unread, 0);
});

test('the marker is the top less the unread count, and new messages from others count', () => {
  const g = synced(10, 3);
  assert.equal(g.marker, 7);
  assert.equal(g.unread, 3);
  g.received([m(11), m(12)], ME);
  assert.equal(g.top, 12);
  assert.equal(g.unread, 5);
  assert.equal(g.last().offset, 12);
});

test('the member’s own messages move the marker: they are never unread', () => {
  const g = synced(10, 2);
  g.received([m(11), m(12, ME)], ME);
  assert.equal(g.marker, 12);
  assert.equal(g.unread, 0);
});

test('a read push from another device moves the marker forward only', () => {
  const g = synced(10, 4);
  g.readElsewhere(9);
  assert.equal(g.unread, 1);
  g.readElsewhere(5);
  assert.equal(g.marker, 9);
});

test('reading takes the top once; nothing new, nothing to send', () => {
  const g = synced(10, 4);
  assert.equal(g.takeRead(), 10);
  assert.equal(g.unread, 0);
  assert.equal(g.takeRead(), null);
  g.received([m(11, ME)], ME);
  assert.equal(g.takeRead(), null, 'the member’s own message needs no read');
  g.received([m(12)], ME);
  assert.equal(g.takeRead(), 12);
});

test('nothing is marked read before the marker is known', () => {
  const g = new Group(info);
  g.connected({ 'group:g1': 2 });
  g.received([m(1), m(2)], ME);
  assert.equal(g.takeRead(), null);
  assert.equal(g.unread, 2);
});

test('a reconnect forgets the marker until the subscription gives the top again', () => {
  const g = synced(10, 0);
  g.received([m(11)], ME);
  g.connected({ 'group:g1': 4 });
  assert.equal(g.unread, 4);
  g.received([m(12), m(13), m(14), m(15)], ME); // recovered on the resubscribe
  g.synced(15);
  assert.equal(g.marker, 11);
  assert.equal(g.unread, 4);
});

test('messages are kept by offset, so one handed on twice shows once', () => {
  const g = synced(0, 0);
  g.received([m(1), m(2)], ME);
  g.received([m(2)], ME);
  assert.deepEqual([...g.msgs.keys()], [1, 2]);
});

test('a reset clears what was loaded and starts at the new top', () => {
  const g = synced(10, 0);
  g.received([m(11), m(12)], ME);
  g.reset({ offset: 40, epoch: 'e2' });
  assert.equal(g.msgs.size, 0);
  assert.equal(g.top, 40);
  assert.equal(g.lowest, 41);
  assert.equal(g.atStart, false);
  g.reset({ offset: 0, epoch: 'e3' });
  assert.equal(g.atStart, true);
});

test('history pages back below the lowest offset loaded, until the start', () => {
  const g = synced(100, 0);
  assert.equal(g.lowest, 101);
  g.older([m(61), m(100), m(101)].slice(0, 2), 2);
  assert.equal(g.lowest, 61);
  assert.equal(g.atStart, false);
  g.older([m(60), m(61)], 2);
  assert.deepEqual([...g.msgs.keys()].sort((a, b) => a - b), [60, 61, 100]);
  assert.equal(g.lowest, 60);
  g.older([m(59)], 2);
  assert.equal(g.atStart, true, 'a short page is the start');
  const h = synced(2, 0);
  h.older([m(1), m(2)], 2);
  assert.equal(h.atStart, true, 'offset 1 is the start');
});

test('mentions: names of others and 所有人', () => {
  const g = new Group(info);
  assert.deepEqual(messageData('大家好', g.names, ME), { text: '大家好' });
  assert.deepEqual(messageData('@所有人 请@王芳 和 @李明 看', g.names, ME), { text: '@所有人 请@王芳 和 @李明 看', mentions: ['all', 'm2'] });
});
