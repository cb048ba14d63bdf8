// For senders and administrators: compose a notice, the list of sent notices, and
// the receipt dashboard that fills live from `receipt` pushes on `notice:<id>`.
import { h, s, replace, fmtTime, deadlineInfo, toast, api, uid } from './ui.js';
import { RANK, STATES, LEGEND, SHORT, unsignedState } from './states.js';

const COLOR = { acked: '#1d6b34', read: '#2f7fd1', delivered: '#e0a100', sent: '#c8c2bb' };

// The label of a unit kind: a known code's Chinese label, else the kind itself (a free
// label such as 联合党支部 is stored as written). Own keys only: `constructor` or
// `toString` typed as a kind must show as text, not as Object.prototype's function.
const kindLabel = (kinds, kind) => (Object.hasOwn(kinds, kind) ? kinds[kind] : kind);

export class Notices {
  constructor(app) {
    this.app = app;
    this.hub = app.hub;
    this.org = null;
    this.dash = null; // the open dashboard's state
  }

  get token() { return this.app.token; }

  async loadOrg() {
    if (!this.org) this.org = await api('/api/web/org', { token: this.token });
    return this.org;
  }

  leave() {
    if (this.dash) { this.hub.unfollow(`notice:${this.dash.id}`); this.dash = null; }
  }

  // -- sent list ----------------------------------------------------------------------
  async renderSent(main) {
    this.leave();
    const inner = h('div', { class: 'page-inner' });
    replace(main, h('div', { class: 'page' }, inner));
    inner.append(h('div', { class: 'toolbar' }, h('h2', { class: 'grow' }, '我发出的通知'),
      h('a', { class: 'button primary', href: '#/compose' }, '＋ 发布新通知')));
    const list = h('ul', { class: 'cards', 'aria-label': '已发通知' }, h('li', { class: 'muted' }, '正在加载…'));
    inner.append(list);
    try {
      const r = await api(`/api/notices?sender=${encodeURIComponent(this.app.me.member)}&limit=100`, { token: this.token });
      replace(list, r.notices.length ? r.notices.map((n) => this.sentCard(n)) : h('li', { class: 'empty' }, '还没有发过通知。'));
    } catch (err) { replace(list, h('li', { class: 'error-text' }, `加载失败：${err.message}`)); }
  }

  sentCard(n) {
    const c = n.counts;
    const total = n.recipients || 1;
    return h('li', {}, h('a', { class: 'card', href: `#/notices/${encodeURIComponent(n.id)}` },
      h('div', { class: 'card-title' }, n.kind === 'alert' ? h('span', { class: 'pill red' }, '紧急') : null,
        n.recalled_at ? h('span', { class: 'pill' }, '已撤回') : null, n.title),
      this.bar(c, total, true),
      h('div', { class: 'card-meta' }, h('time', {}, fmtTime(n.created_at)),
        h('span', {}, n.require_ack ? `已签收 ${c.acked}/${n.recipients}` : `已读 ${c.read + c.acked}/${n.recipients}`))));
  }

  // -- compose ------------------------------------------------------------------------
  async renderCompose(main) {
    this.leave();
    const inner = h('div', { class: 'page-inner' });
    replace(main, h('div', { class: 'page' }, inner));
    inner.append(h('p', {}, h('a', { href: '#/sent' }, '‹ 返回')), h('h2', {}, '发布通知'));
    let org;
    try { org = await this.loadOrg(); } catch (err) { inner.append(h('p', { class: 'error-text' }, err.message)); return; }
    const idem = uid();
    const err = h('p', { class: 'error-text', role: 'alert' });
    const kids = new Map();
    for (const u of org.units) { const k = u.parent ?? ''; if (!kids.has(k)) kids.set(k, []); kids.get(k).push(u); }
    const tree = (parent) => {
      const list = kids.get(parent) || [];
      if (!list.length) return null;
      return h('ul', { class: 'tree' }, list.map((u) => h('li', {},
        h('label', {}, h('input', { type: 'checkbox', name: 'unit', value: u.id }), u.name,
          h('span', { class: 'muted small' }, ` ${kindLabel(org.kinds, u.kind)}`)), tree(u.id))));
    };
    const ladder = h('ol', { class: 'ladder', 'aria-label': '升级梯度' });
    const addRung = (after = 30, unit = 'm', via = 'wechat') => {
      const li = h('li', {},
        h('label', {}, '发出后', h('input', { type: 'number', min: '0', value: String(after), name: 'after-n', 'aria-label': '多久以后', class: 'num-input', size: '4' })),
        h('select', { name: 'after-unit', 'aria-label': '时间单位' }, ['m', 'h'].map((x) => h('option', { value: x, selected: x === unit }, x === 'm' ? '分钟' : '小时'))),
        h('span', {}, '仍未签收，通过'),
        h('select', { name: 'via', 'aria-label': '提醒方式' }, [['wechat', '微信'], ['sms', '短信']].map(([v, t]) => h('option', { value: v, selected: v === via }, t))),
        h('span', {}, '提醒'),
        h('button', { type: 'button', class: 'link', onclick: () => li.remove() }, '删除'));
      ladder.append(li);
    };
    const attachments = h('ol', { class: 'ladder', 'aria-label': '附件链接' });
    const addAttachment = () => {
      const li = h('li', {},
        h('input', { name: 'att-name', placeholder: '文件名，如 学习材料.pdf', 'aria-label': '附件名称' }),
        h('input', { name: 'att-url', type: 'url', placeholder: 'https://…', 'aria-label': '附件链接', size: '40' }),
        h('button', { type: 'button', class: 'link', onclick: () => li.remove() }, '删除'));
      attachments.append(li);
    };
    const form = h('form', { class: 'form', novalidate: true, onsubmit: (e) => { e.preventDefault(); this.submit(form, ladder, attachments, idem, err); } },
      h('div', { class: 'field' }, h('label', { for: 'n-title' }, '标题'), h('input', { id: 'n-title', name: 'title', required: true, maxlength: '200' })),
      h('div', { class: 'field' }, h('label', { for: 'n-body' }, '正文'), h('textarea', { id: 'n-body', name: 'body', rows: '7', maxlength: '20000' })),
      h('fieldset', {}, h('legend', {}, '附件链接'), attachments,
        h('button', { type: 'button', onclick: addAttachment }, '＋ 添加附件链接'),
        h('p', { class: 'muted small' }, '文件需放在单位的文件服务器上；发布时页面会下载一次以计算校验值。')),
      h('fieldset', {}, h('legend', {}, '接收范围'),
        h('p', { class: 'muted small' }, '可同时选择单位、群组和角色；选了角色时只发给所选单位中该角色的成员。'),
        h('h3', { class: 'small' }, '组织'), tree(''),
        h('label', {}, h('input', { type: 'checkbox', name: 'subunits', checked: true }), '包括下级单位'),
        h('h3', { class: 'small' }, '群组'),
        h('div', { class: 'checks' }, org.groups.map((g) => h('label', {}, h('input', { type: 'checkbox', name: 'group', value: g.id }), `${g.name}（${g.size}人）`))),
        h('h3', { class: 'small' }, '角色'),
        h('div', { class: 'checks' }, Object.entries(org.roles).map(([r, t]) => h('label', {}, h('input', { type: 'checkbox', name: 'role', value: r }), t)),
          h('label', {}, h('input', { type: 'checkbox', name: 'flowing' }), '仅流动党员'))),
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: 'n-deadline' }, '截止时间', h('span', { class: 'hint' }, '（可不填）')), h('input', { id: 'n-deadline', name: 'deadline', type: 'datetime-local' })),
        h('label', {}, h('input', { type: 'checkbox', name: 'require_ack', checked: true }), '需要签收'),
        h('label', {}, h('input', { type: 'checkbox', name: 'alert' }), '紧急告警（醒目显示并按梯度升级）')),
      h('fieldset', {}, h('legend', {}, '升级提醒（未签收时）'), ladder,
        h('button', { type: 'button', onclick: () => addRung(ladder.children.length ? 2 : 30, ladder.children.length ? 'h' : 'm', ladder.children.length ? 'sms' : 'wechat') }, '＋ 添加一级')),
      err,
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, '发布'), h('a', { href: '#/sent' }, '取消')));
    inner.append(form);
    form.querySelector('#n-title').focus();
  }

  async attachment(name, url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`附件“${name}”无法下载（${r.status}）`);
    const buf = await r.arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', buf);
    const sha256 = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
    return { name, url, size: buf.byteLength, sha256 };
  }

  async submit(form, ladder, attachments, idem, err) {
    err.textContent = '';
    const f = new FormData(form);
    const title = String(f.get('title') || '').trim();
    if (!title) { err.textContent = '请填写标题。'; form.querySelector('#n-title').focus(); return; }
    const audience = { units: f.getAll('unit'), groups: f.getAll('group'), roles: f.getAll('role'),
      subunits: f.get('subunits') === 'on', flowing: f.get('flowing') === 'on' };
    if (!audience.units.length && !audience.groups.length && !audience.roles.length && !audience.flowing) {
      err.textContent = '请至少选择一个单位、群组或角色。'; return;
    }
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const atts = [];
      for (const li of attachments.children) {
        const name = li.querySelector('[name=att-name]').value.trim();
        const url = li.querySelector('[name=att-url]').value.trim();
        if (!name && !url) continue;
        if (!name || !url) throw new Error('每个附件都需要名称和链接。');
        atts.push(await this.attachment(name, url).catch((e) => { throw new Error(e.message.startsWith('附件') ? e.message : `附件“${name}”无法下载，请检查链接`); }));
      }
      const body = { title, body: String(f.get('body') || ''), audience, require_ack: f.get('require_ack') === 'on', idem, attachments: atts };
      const dl = f.get('deadline');
      if (dl) body.deadline = isoLocal(new Date(String(dl)));
      const rungs = [...ladder.children].map((li) => ({
        after: `${Number(li.querySelector('[name=after-n]').value) || 0}${li.querySelector('[name=after-unit]').value}`,
        via: li.querySelector('[name=via]').value,
      }));
      if (rungs.length) body.escalation = rungs;
      const alert = f.get('alert') === 'on';
      if (alert) body.urgency = 'urgent';
      const r = await api(alert ? '/api/alerts' : '/api/notices', { method: 'POST', body, token: this.token });
      toast(`已发布，共 ${r.notice.recipients} 位接收人`);
      location.hash = `#/notices/${encodeURIComponent(r.notice.id)}`;
    } catch (e) {
      err.textContent = `发布失败：${e.message}`;
      btn.disabled = false;
    }
  }

  // -- dashboard ----------------------------------------------------------------------
  async renderDashboard(main, id) {
    if (this.dash && this.dash.id !== id) this.leave();
    const inner = h('div', { class: 'page-inner' });
    replace(main, h('div', { class: 'page' }, inner));
    const d = this.dash ?? { id, notice: null, receipts: new Map(), units: new Map(), error: null };
    this.dash = d;
    d.inner = inner;
    this.drawDash();
    try { d.units = new Map((await this.loadOrg()).units.map((u) => [u.id, u])); } catch { /* names from receipts */ }
    this.hub.follow(`notice:${id}`, { synced: () => this.reload(d) });
    if (!this.onPush) {
      this.onPush = (ev) => {
        const p = ev.detail;
        if (p.push === 'receipt' && this.dash && p.notice === this.dash.id) this.applyReceipt(this.dash, p.member, p.state);
      };
      this.hub.addEventListener('push', this.onPush);
    }
  }

  async reload(d) {
    try {
      const [one, list] = await Promise.all([
        api(`/api/notices/${encodeURIComponent(d.id)}`, { token: this.token }),
        api(`/api/notices/${encodeURIComponent(d.id)}/receipts?limit=100000`, { token: this.token }),
      ]);
      d.notice = one.notice;
      d.serverUnits = one.units;
      for (const r of list.receipts) {
        const old = d.receipts.get(r.member);
        if (old && RANK[old.state] > RANK[r.state]) r.state = old.state; // a push was faster
        d.receipts.set(r.member, r);
      }
      d.error = null;
    } catch (err) { d.error = err.message; }
    if (this.dash === d) this.drawDash();
  }

  applyReceipt(d, member, state) {
    const r = d.receipts.get(member);
    if (!r || RANK[state] <= RANK[r.state]) return;
    r.state = state;
    clearTimeout(d.drawTimer);
    d.drawTimer = setTimeout(() => { if (this.dash === d) this.drawDash(); }, 50);
  }

  counts(list) {
    const c = { sent: 0, delivered: 0, read: 0, acked: 0 };
    for (const r of list) c[r.state] += 1;
    return c;
  }

  rollup(d) {
    const rows = new Map();
    // a unit and its ancestors, nearest first: any depth (the server accepts any), each
    // unit once (a Set, so a cycle ends the walk), computed once per unit
    const chains = new Map();
    const chain = (unit) => {
      let out = chains.get(unit);
      if (out) return out;
      out = [];
      const seen = new Set();
      for (let u = unit; u && !seen.has(u); u = d.units.get(u)?.parent ?? null) { seen.add(u); out.push(u); }
      chains.set(unit, out);
      return out;
    };
    for (const r of d.receipts.values()) {
      // a flowing member counts where attached and under the home unit, once where the chains meet
      const attached = new Set(chain(r.unit));
      const units = new Set([...attached, ...(r.home_unit ? chain(r.home_unit) : [])]);
      for (const u of units) {
        if (!rows.has(u)) rows.set(u, { unit: u, name: d.units.get(u)?.name ?? (u === r.unit ? r.unit_name : u), depth: 0, via: 0, c: { sent: 0, delivered: 0, read: 0, acked: 0 } });
        rows.get(u).c[r.state] += 1;
        if (!attached.has(u)) rows.get(u).via += 1;
      }
    }
    // the tree order: each unit followed by its sub-units
    const byParent = new Map();
    for (const row of rows.values()) {
      const p = d.units.get(row.unit)?.parent ?? '';
      const key = rows.has(p) ? p : '';
      if (!byParent.has(key)) byParent.set(key, []);
      byParent.get(key).push(row);
    }
    const out = [];
    const walk = (key, depth) => {
      for (const row of (byParent.get(key) || []).sort((a, b) => a.unit.localeCompare(b.unit))) {
        row.depth = depth; out.push(row); walk(row.unit, depth + 1);
      }
    };
    walk('', 0);
    return out;
  }

  bar(c, total, small = false) {
    const seg = STATES.map((k) => h('span', { class: `c-${k === 'sent' ? 'none' : k}`, title: `${SHORT[k]} ${c[k]}` }));
    const el = h('div', { class: 'progress', role: 'img', 'aria-label': STATES.map((k) => `${SHORT[k]} ${c[k]}`).join('，') }, seg);
    STATES.forEach((k, i) => { seg[i].style.width = `${(100 * c[k]) / (total || 1)}%`; });
    if (small) el.style.height = '10px';
    return el;
  }

  drawDash() {
    const d = this.dash;
    const inner = d.inner;
    replace(inner, h('p', { class: 'no-print' }, h('a', { href: '#/sent' }, '‹ 我发出的通知')));
    if (d.error) inner.append(h('p', { class: 'error-text', role: 'alert' }, d.error));
    const n = d.notice;
    if (!n) { inner.append(h('p', { class: 'empty' }, '正在加载…')); return; }
    const list = [...d.receipts.values()];
    const c = this.counts(list);
    const total = list.length;
    const dl = deadlineInfo(n.deadline);
    const done = n.require_ack ? c.acked : c.acked + c.read;
    inner.append(
      h('h2', {}, n.kind === 'alert' ? h('span', { class: 'pill red' }, '紧急') : null, ' ', n.title),
      h('div', { class: 'card-meta' }, h('time', {}, `发布于 ${fmtTime(n.created_at)}`), h('span', {}, `接收人 ${total}`),
        h('span', {}, n.require_ack ? '需要签收' : '无需签收'),
        dl ? h('span', { class: `deadline${dl.past ? ' past' : dl.near ? ' near' : ''}` }, dl.text) : null,
        n.recalled_at ? h('span', { class: 'pill' }, `已于 ${fmtTime(n.recalled_at)} 撤回`) : null),
      h('div', { class: 'toolbar no-print', role: 'toolbar', 'aria-label': '操作' },
        h('button', { type: 'button', class: 'primary', id: 'remind', disabled: !!n.recalled_at || done === total, onclick: () => this.remind(d) }, `提醒未${n.require_ack ? '签收' : '阅读'}的 ${total - done} 人`),
        h('button', { type: 'button', id: 'export-csv', onclick: () => this.download(d, 'csv') }, '导出 CSV'),
        h('button', { type: 'button', id: 'export-sheet', onclick: () => this.download(d, 'sheet') }, '下载回执单'),
        h('button', { type: 'button', onclick: () => this.printSheet(d) }, '打印回执单'),
        h('span', { class: 'grow' }),
        h('button', { type: 'button', id: 'recall', disabled: !!n.recalled_at, onclick: () => this.recall(d) }, '撤回')),
      h('section', { 'aria-labelledby': 'progress-title' },
        h('h3', { id: 'progress-title', class: 'section-title' }, `签收进度 ${total ? Math.round((100 * done) / total) : 0}%`),
        this.bar(c, total),
        h('div', { class: 'legend' }, STATES.map((k) => h('span', {}, h('i', { class: `c-${k === 'sent' ? 'none' : k}` }), `${LEGEND[k]} `, h('b', { dataset: { count: k } }, String(c[k]))))),
      ),
    );
    const rows = this.rollup(d);
    inner.append(h('h3', { class: 'section-title' }, '各单位情况'),
      h('div', { class: 'grid2' }, this.table(rows), this.chart(rows)));
    const unsigned = list.filter((r) => unsignedState(r.state, n.require_ack))
      .sort((a, b) => RANK[a.state] - RANK[b.state] || a.unit.localeCompare(b.unit));
    inner.append(h('h3', { class: 'section-title' }, `未${n.require_ack ? '签收' : '阅读'}名单（${unsigned.length}）`),
      unsigned.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'unsigned' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '姓名'), h('th', { scope: 'col' }, '单位'), h('th', { scope: 'col' }, '状态'))),
        h('tbody', {}, unsigned.map((r) => h('tr', { dataset: { member: r.member } }, h('td', {}, r.name ?? r.member), h('td', {}, r.unit_name ?? r.unit), h('td', {}, SHORT[r.state]))))))
        : h('p', { class: 'signed' }, '全部完成 ✓'));
  }

  table(rows) {
    return h('div', { class: 'table-wrap' }, h('table', { id: 'rollup' },
      h('caption', { class: 'sr-only' }, '各单位签收情况（含下级单位）'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '单位'), h('th', { scope: 'col', class: 'num' }, '人数'),
        STATES.map((k) => h('th', { scope: 'col', class: 'num' }, SHORT[k])), h('th', { scope: 'col', class: 'num' }, '签收率'))),
      h('tbody', {}, rows.map((r) => {
        const t = r.c.sent + r.c.delivered + r.c.read + r.c.acked;
        const name = h('th', { scope: 'row' }, r.name,
          r.via ? h('span', { class: 'muted small', dataset: { via: String(r.via) } }, ` 含流动党员 ${r.via} 人`) : null);
        name.style.paddingLeft = `${8 + r.depth * 16}px`;
        return h('tr', { dataset: { unit: r.unit } }, name, h('td', { class: 'num' }, String(t)),
          STATES.map((k) => h('td', { class: 'num', dataset: { state: k } }, String(r.c[k]))),
          h('td', { class: 'num' }, `${t ? Math.round((100 * r.c.acked) / t) : 0}%`));
      }))));
  }

  chart(rows) {
    const W = 420; const rowH = 26; const left = 150; const top = 8;
    const H = top + rows.length * rowH + 24;
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title' },
      s('title', { id: 'chart-title' }, '各单位签收情况图'));
    rows.forEach((r, i) => {
      const t = r.c.sent + r.c.delivered + r.c.read + r.c.acked || 1;
      const y = top + i * rowH;
      const label = r.name.length > 10 ? r.name.slice(0, 9) + '…' : r.name;
      svg.append(s('text', { x: 4 + r.depth * 6, y: y + 16, 'font-size': '11' }, label));
      let x = left;
      for (const k of STATES) {
        const w = ((W - left - 40) * r.c[k]) / t;
        if (w > 0) svg.append(s('rect', { x, y: y + 4, width: w, height: rowH - 10, fill: COLOR[k] }, s('title', {}, `${r.name} ${SHORT[k]} ${r.c[k]}`)));
        x += w;
      }
      svg.append(s('text', { x: W - 36, y: y + 16 }, `${Math.round((100 * r.c.acked) / t)}%`));
    });
    let lx = left;
    for (const k of STATES) {
      svg.append(s('rect', { x: lx, y: H - 14, width: 10, height: 10, fill: COLOR[k] }), s('text', { x: lx + 14, y: H - 5 }, SHORT[k]));
      lx += 62;
    }
    return h('figure', { class: 'chart', style: undefined }, svg);
  }

  async remind(d) {
    try {
      const r = await api(`/api/notices/${encodeURIComponent(d.id)}/remind`, { method: 'POST', token: this.token });
      toast(r.reminded.length ? `已提醒 ${r.reminded.length} 人` : '没有需要提醒的人');
    } catch (err) { toast(`提醒失败：${err.message}`, 'error'); }
  }

  async recall(d) {
    if (!confirm('撤回后接收人将看到“已撤回”，且不能再签收。确定撤回吗？')) return;
    try {
      const r = await api(`/api/notices/${encodeURIComponent(d.id)}/recall`, { method: 'POST', token: this.token });
      toast(`已撤回；撤回前已有 ${r.read_by.length} 人阅读`);
      await this.reload(d);
    } catch (err) { toast(`撤回失败：${err.message}`, 'error'); }
  }

  async fetchFile(d, kind) {
    const path = kind === 'csv' ? `receipts?format=csv` : 'sheet';
    const r = await api(`/api/notices/${encodeURIComponent(d.id)}/${path}`, { token: this.token, raw: true });
    return r.blob();
  }

  async download(d, kind) {
    try {
      const blob = await this.fetchFile(d, kind);
      const a = h('a', { href: URL.createObjectURL(blob), download: kind === 'csv' ? `签收情况-${d.id}.csv` : `回执单-${d.id}.html` });
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (err) { toast(`导出失败：${err.message}`, 'error'); }
  }

  async printSheet(d) {
    const w = window.open('', '_blank');
    try {
      const blob = await this.fetchFile(d, 'sheet');
      const url = URL.createObjectURL(new Blob([await blob.text()], { type: 'text/html' }));
      if (w) w.location.href = url; else location.href = url;
    } catch (err) { if (w) w.close(); toast(`打印失败：${err.message}`, 'error'); }
  }
}

function isoLocal(d) {
  const pad = (x) => String(x).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:00${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}
