// The member's inbox: notices and alerts addressed to them, newest first.
// `delivered` is recorded as soon as the page has a notice, `read` when it is
// opened, `acked` (签收) with the button.
import { h, replace, fmtTime, fmtSize, deadlineInfo, toast, api } from './ui.js';
import { RANK, INBOX, unsignedState } from './states.js';

export class Inbox {
  constructor(app) {
    this.app = app;
    this.hub = app.hub;
    this.items = new Map(); // notice id -> {notice, kind, state, recalled, reminded}
    this.main = null;
    this.openId = null;
    this.loaded = false;
    this.loading = null;
    this.hub.follow(`member:${app.me.member}`, {
      messages: (list) => { for (const m of list) this.onMessage(m.data); this.changed(); },
      reset: () => this.load(),
    }, { server: true });
    this.hub.addEventListener('connected', (ev) => {
      for (const u of ev.detail.unsigned || []) this.merge(u.notice, u.kind, u.state);
      this.load(); // catch up on everything (also what was recalled or signed elsewhere)
    });
  }

  unsigned(it) {
    if (it.recalled) return false;
    return unsignedState(it.state, it.notice.require_ack);
  }

  pendingCount() { let n = 0; for (const it of this.items.values()) if (this.unsigned(it)) n += 1; return n; }

  merge(notice, kind, state = 'sent', recalled = false) {
    const old = this.items.get(notice.id);
    const it = old ?? { notice, kind, state, recalled, reminded: false };
    if (old) {
      it.notice = { ...old.notice, ...notice };
      if (RANK[state] > RANK[it.state]) it.state = state;
      it.recalled = it.recalled || recalled;
    }
    this.items.set(notice.id, it);
    if (it.state === 'sent' && !it.recalled) this.mark(it, 'delivered');
    return it;
  }

  onMessage(data) {
    if (!data || !data.notice) return;
    const n = data.notice;
    if (data.kind === 'notice' || data.kind === 'alert') {
      const it = this.merge(n, data.kind);
      if (data.kind === 'alert' || n.urgency === 'urgent') toast(`紧急通知：${n.title}`, 'error');
      if (this.openId === n.id) this.mark(it, 'read');
    } else if (data.kind === 'remind') {
      const it = this.merge(n, this.items.get(n.id)?.kind ?? 'notice');
      it.reminded = true;
      toast(`提醒：请尽快签收“${n.title}”`);
    } else if (data.kind === 'recall') {
      const it = this.items.get(n.id);
      if (it) it.recalled = true;
    }
  }

  async load() {
    if (this.loading) return this.loading;
    this.loading = (async () => {
      try {
        const r = await api('/api/inbox?limit=200', { token: this.app.token });
        for (const x of r.notices) {
          const { kind, state, recalled, ...notice } = x;
          this.merge(notice, kind, state, recalled);
        }
        this.loaded = true;
      } catch (err) {
        if (err.status === undefined) return; // offline: the next connection loads again
        toast(`收件箱加载失败：${err.message}`, 'error');
      } finally {
        this.loading = null;
      }
      this.changed();
    })();
    return this.loading;
  }

  async mark(it, state) {
    if (RANK[it.state] >= RANK[state] || it.recalled) return;
    try {
      const r = await this.hub.request('receipt', { notice: it.notice.id, state });
      if (RANK[r.state] > RANK[it.state]) it.state = r.state;
      if (state === 'acked') toast('已签收');
    } catch (err) {
      if (err.code === 113) it.recalled = true;
      else if (state === 'acked') toast(`签收失败：${err.message}`, 'error');
    }
    this.changed();
  }

  changed() {
    this.app.badges();
    if (this.main && this.main.isConnected) this.draw();
  }

  render(main, id) {
    this.main = h('div', { class: 'page' });
    replace(main, this.main);
    this.openId = id || null;
    if (!this.loaded) this.load();
    const it = id && this.items.get(id);
    if (it) this.mark(it, 'read');
    this.draw();
  }

  draw() {
    const inner = h('div', { class: 'page-inner' });
    replace(this.main, inner);
    if (this.openId) { this.drawOne(inner, this.items.get(this.openId)); return; }
    const list = [...this.items.values()].sort((a, b) => (b.notice.ts ?? 0) - (a.notice.ts ?? 0));
    const pending = list.filter((x) => this.unsigned(x)).length;
    inner.append(h('div', { class: 'toolbar' }, h('h2', { class: 'grow' }, '收件箱'),
      h('span', { class: 'muted' }, pending ? `${pending} 条待签收/待阅读` : '全部处理完毕')));
    if (!list.length) { inner.append(h('p', { class: 'empty' }, this.loaded ? '还没有收到通知。' : '正在加载…')); return; }
    inner.append(h('ul', { class: 'cards', 'aria-label': '通知列表' }, list.map((it) => this.card(it))));
  }

  card(it) {
    const n = it.notice;
    const alert = it.kind === 'alert' || n.urgency === 'urgent';
    const todo = this.unsigned(it);
    const dl = deadlineInfo(n.deadline);
    const from = this.app.nameOf?.(n.from) ?? n.from;
    return h('li', {}, h('a', {
      href: `#/inbox/${encodeURIComponent(n.id)}`, dataset: { notice: n.id, state: it.state },
      class: `card${todo ? ' unsigned' : ''}${alert ? ' alert' : ''}`,
    },
    h('div', { class: 'card-title' },
      alert ? h('span', { class: 'pill red' }, '紧急') : null,
      it.recalled ? h('span', { class: 'pill' }, '已撤回') : null,
      todo ? h('span', { class: 'pill warn' }, n.require_ack ? '待签收' : '未读') : h('span', { class: 'pill ok' }, INBOX[it.state]),
      it.reminded && todo ? h('span', { class: 'pill blue' }, '被提醒') : null,
      h('span', {}, n.title)),
    h('div', { class: 'card-meta' },
      h('span', {}, `发自 ${from}`), h('time', {}, fmtTime(n.ts)),
      dl ? h('span', { class: `deadline${dl.past ? ' past' : dl.near ? ' near' : ''}` }, dl.past ? `已过截止时间（${dl.text}）` : dl.text) : null,
      n.attachments?.length ? h('span', {}, `📎 ${n.attachments.length} 个附件`) : null)));
  }

  drawOne(inner, it) {
    inner.append(h('p', {}, h('a', { href: '#/inbox' }, '‹ 返回收件箱')));
    if (!it) { inner.append(h('p', { class: 'empty' }, this.loaded ? '找不到这条通知。' : '正在加载…')); return; }
    const n = it.notice;
    const alert = it.kind === 'alert' || n.urgency === 'urgent';
    const dl = deadlineInfo(n.deadline);
    const art = h('article', { class: `card${alert ? ' alert' : ''}`, 'aria-labelledby': 'notice-title' });
    if (alert) art.append(h('div', { class: 'alert-banner', role: 'alert' }, '紧急通知，请立即处理'));
    if (it.recalled) art.append(h('p', { class: 'notice-warn' }, '该通知已被发送人撤回，无需处理。'));
    art.append(h('h2', { id: 'notice-title' }, n.title),
      h('div', { class: 'card-meta' }, h('span', {}, `发自 ${this.app.nameOf?.(n.from) ?? n.from}`), h('time', {}, fmtTime(n.ts)),
        dl ? h('span', { class: `deadline${dl.past ? ' past' : dl.near ? ' near' : ''}` }, dl.text) : null),
      h('div', { class: 'notice-body' }, n.body || ''));
    if (n.attachments?.length) {
      art.append(h('h3', { class: 'section-title' }, '附件'), h('ul', { class: 'attachments' }, n.attachments.map((a) =>
        h('li', {}, h('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer' }, `📎 ${a.name}`), ` ${fmtSize(a.size)}`))));
    }
    const row = h('div', { class: 'sign-row' });
    if (it.recalled) row.append(h('span', { class: 'muted' }, '已撤回'));
    else if (!n.require_ack) row.append(h('span', { class: 'muted' }, '此通知无需签收，阅读即可。'));
    else if (it.state === 'acked') row.append(h('span', { class: 'signed', role: 'status' }, '✓ 已签收'));
    else {
      row.append(h('button', { type: 'button', class: 'primary', id: 'ack', onclick: (e) => { e.currentTarget.disabled = true; this.mark(it, 'acked'); } }, '签收'),
        h('span', { class: 'muted' }, '点击“签收”表示您已阅读并知悉本通知。'));
    }
    art.append(row);
    inner.append(art);
  }
}
