// Placeholder until the notices API lands (see docs/web.md).
export class Inbox {
  constructor(app) { this.app = app; }
  pendingCount() { return 0; }
  render(main) { main.replaceChildren(); const p = document.createElement('p'); p.className = 'empty'; p.textContent = '暂无通知。'; main.append(p); }
}
