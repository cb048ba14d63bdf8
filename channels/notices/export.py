"""Receipt lists as files: the CSV export and the printable 回执单 (HTML); the paged
query itself is :meth:`channels.notices.service.Notices.list_receipts`."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from channels.directory.csvio import write_csv
from channels.notices.model import Notice
from channels.notices.pages import csp
from channels.notices.states import ReceiptState

__all__ = ["SHEET_CSP", "csv_bytes", "sheet_html"]

CHANNEL_LABELS: Final = {
    "app": "客户端",
    "link": "签收链接",
    "sms-reply": "短信回复",
    "sms": "短信",
    "wechat": "微信",
    "api": "接口",
}
_CN: Final = timedelta(hours=8)


def fmt_ts(ms: int | None) -> str:
    if ms is None:
        return ""
    return (datetime.fromtimestamp(ms / 1000, UTC) + _CN).strftime("%Y-%m-%d %H:%M:%S")


def csv_bytes(items: Sequence[dict[str, Any]]) -> bytes:
    """UTF-8 CSV with a BOM (Excel opens it as Chinese text), through the one safe
    cell writer: a member named ``=HYPERLINK(…)`` is text, not a formula."""
    headers = [
        "成员编号",
        "姓名",
        "单位编号",
        "单位",
        "状态",
        "送达时间",
        "阅读时间",
        "签收时间",
        "签收渠道",
    ]
    rows = (
        [
            it["member"],
            it["name"] or "",
            it["unit"],
            it["unit_name"] or "",
            ReceiptState(it["state"]).label,
            fmt_ts(it["delivered_at"]),
            fmt_ts(it["read_at"]),
            fmt_ts(it["acked_at"]),
            CHANNEL_LABELS.get(it["channel"] or "", it["channel"] or ""),
        ]
        for it in items
    )
    return write_csv(headers, rows)


_STYLE: Final = """
body{font-family:"Noto Serif CJK SC","SimSun",serif;margin:2em;color:#000}
h1{text-align:center;font-size:22pt;letter-spacing:.3em}
.meta{display:flex;flex-wrap:wrap;gap:.5em 2em;margin:1em 0}
table{width:100%;border-collapse:collapse;font-size:11pt}
th,td{border:1px solid #000;padding:4px 6px;text-align:left}
th{background:#eee}
.sum{margin:1em 0;font-weight:bold}
.sign{margin-top:3em;display:flex;justify-content:space-between}
@media print{body{margin:0}.noprint{display:none}thead{display:table-header-group}tr{page-break-inside:avoid}
@page{size:A4;margin:15mm}}
"""
_PRINT: Final = (
    "document.getElementById('print').addEventListener('click',function(){window.print()})"
)
SHEET_CSP: Final = csp([_STYLE], [_PRINT])


def sheet_html(n: Notice, counts: dict[str, int], items: Sequence[dict[str, Any]]) -> str:
    """The printable 回执单: the notice, the totals and one line per recipient."""
    e = html.escape
    rows = "\n".join(
        f"<tr><td>{i}</td><td>{e(it['unit_name'] or it['unit'])}</td>"
        f"<td>{e(it['name'] or it['member'])}</td>"
        f"<td>{ReceiptState(it['state']).label}</td><td>{fmt_ts(it['acked_at'])}</td>"
        f"<td>{e(CHANNEL_LABELS.get(it['channel'] or '', it['channel'] or ''))}</td></tr>"
        for i, it in enumerate(items, 1)
    )
    total = sum(counts.values())
    status = f"（已于 {fmt_ts(n.recalled_at)} 撤回）" if n.recalled_at else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>回执单 — {e(n.title)}</title>
<style>{_STYLE}</style></head><body>
<p class="noprint"><button id="print" type="button">打印回执单</button></p>
<h1>通知回执单</h1>
<div class="meta"><span>通知标题：{e(n.title)}{status}</span><span>通知编号：{e(n.id)}</span>
<span>发送人：{e(n.sender)}</span><span>发送时间：{fmt_ts(n.created_at)}</span>
<span>密级：{e(n.classification)}</span><span>截止时间：{e(n.deadline or "无")}</span></div>
<p class="sum">应签收 {total} 人，已签收 {counts["acked"]} 人，未签收 {total - counts["acked"]} 人
（已阅读未签收 {counts["read"]}，已送达未阅读 {counts["delivered"]}，未送达 {counts["sent"]}）</p>
<table><thead><tr><th>序号</th><th>单位</th><th>姓名</th><th>状态</th><th>签收时间</th><th>签收渠道</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<div class="sign"><span>经办人（签字）：</span><span>审核人（签字）：</span><span>日期：　　年　　月　　日</span></div>
<script>{_PRINT}</script>
</body></html>
"""
