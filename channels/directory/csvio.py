"""CSV files as spreadsheets write them: encodings (UTF-8 with or without BOM,
GBK/GB18030), Chinese or English headers, and the export Excel opens (UTF-8 with
BOM). Cells that a spreadsheet would run as a formula are written with a
leading ``'`` and read back without it.

:func:`write_csv` (with :func:`safe_cell`) is the one writer of every CSV the hub
hands out (directory export, receipts export): nothing else calls ``csv.writer``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "COLUMNS",
    "EXPORT_HEADERS",
    "KINDS",
    "CsvError",
    "Table",
    "decode",
    "read_table",
    "safe_cell",
    "write_csv",
]

KINDS: Final = ("members", "units", "groups")

COLUMNS: Final[Mapping[str, Mapping[str, frozenset[str]]]] = {
    "members": {
        "id": frozenset({"id", "编号", "成员编号", "党员编号", "人员编号", "工号"}),
        "name": frozenset({"name", "姓名"}),
        "unit": frozenset(
            {
                "unit",
                "所属支部/单位",
                "所属支部",
                "所属单位",
                "所在支部",
                "所在单位",
                "支部",
                "单位",
                "所属党组织",
                "党组织",
            }
        ),
        "roles": frozenset({"roles", "role", "角色", "身份"}),
        "flowing": frozenset({"flowing", "流动党员", "是否流动党员", "流动"}),
        "home_unit": frozenset({"home_unit", "流出支部", "流出单位", "原支部", "组织关系所在支部"}),
        "location": frozenset({"location", "现居地", "现居住地", "现住址", "流入地"}),
        "phone": frozenset({"phone", "手机号", "手机号码", "手机", "联系电话", "电话"}),
        "wechat": frozenset({"wechat", "微信号", "微信"}),
        "wecom": frozenset({"wecom", "企业微信", "企业微信账号", "企业微信号"}),
    },
    "units": {
        "id": frozenset({"id", "编号", "单位编号"}),
        "name": frozenset({"name", "名称", "单位名称"}),
        "parent": frozenset({"parent", "上级", "上级单位", "上级单位编号"}),
        "kind": frozenset({"kind", "类型", "单位类型", "层级"}),
    },
    "groups": {
        "id": frozenset({"id", "编号", "群组编号"}),
        "name": frozenset({"name", "名称", "群组名称", "群名"}),
        "unit": frozenset({"unit", "所属单位"}),
        "owners": frozenset({"owners", "群主"}),
        "members": frozenset({"members", "成员"}),
    },
}

EXPORT_HEADERS: Final[Mapping[str, Mapping[str, str]]] = {
    "members": {
        "id": "编号",
        "name": "姓名",
        "unit": "所属单位",
        "roles": "角色",
        "flowing": "流动党员",
        "home_unit": "流出支部",
        "location": "现居地",
        "phone": "手机号",
        "wechat": "微信号",
        "wecom": "企业微信",
    },
    "units": {"id": "编号", "name": "名称", "parent": "上级单位", "kind": "类型"},
    "groups": {
        "id": "编号",
        "name": "名称",
        "unit": "所属单位",
        "owners": "群主",
        "members": "成员",
    },
}

# A spreadsheet runs a cell as a formula when it starts with one of these, also
# after leading spaces, and also in their full-width forms, which Excel and WPS
# normalise to ASCII (＝１+１ is a formula). Tab and CR start DDE payloads.
_FORMULA_START: Final = frozenset("=+-@\t\r＝＋－＠")
_LEADING_BLANK: Final = " \u3000\u00a0\n"


class CsvError(ValueError):
    """The file as a whole cannot be read: ``code`` and a message in Chinese."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Table:
    """A CSV file's rows as ``{field: cell}`` keyed by canonical field names."""

    encoding: str
    columns: dict[str, str]  # field -> the header as written in the file
    rows: list[tuple[int, dict[str, str]]]  # (spreadsheet row number, cells)
    ignored: list[str]


def decode(raw: bytes) -> tuple[str, str]:
    """The text and the encoding it was in: ``utf-8-sig``, ``utf-8`` or ``gbk``."""
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            raise CsvError(
                "bad_encoding", "文件以 UTF-8 标记开头，但内容不是有效的 UTF-8"
            ) from None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "gbk"
    except UnicodeDecodeError:
        raise CsvError(
            "bad_encoding", "无法识别文件编码，请保存为 UTF-8 或 GBK 编码的 CSV"
        ) from None


def _header_key(header: str) -> str:
    h = header.strip().replace(" ", "").replace("（", "(").replace("）", ")")
    return h.lower() if h.isascii() else h


def _formula_like(value: str) -> bool:
    head = value.lstrip(_LEADING_BLANK)
    return bool(head) and head[0] in _FORMULA_START


def _cell(value: str) -> str:
    """A cell as read: the ``'`` that :func:`safe_cell` put before a formula-like
    value is taken off again."""
    value = value.strip()
    if value.startswith("'") and _formula_like(value[1:]):
        return value[1:]
    return value


def read_table(raw: bytes, kind: str) -> Table:
    text, encoding = decode(raw)
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise CsvError("bad_csv", f"CSV 格式错误：{exc}") from None
    if not records or not any(c.strip() for c in records[0]):
        raise CsvError("empty_file", "文件为空或缺少表头")
    spec = COLUMNS[kind]
    lookup = {_header_key(alias): name for name, aliases in spec.items() for alias in aliases}
    positions: dict[str, int] = {}
    columns: dict[str, str] = {}
    ignored: list[str] = []
    for i, header in enumerate(records[0]):
        name = lookup.get(_header_key(header))
        if name is None or name in positions:
            if header.strip():
                ignored.append(header.strip())
            continue
        positions[name] = i
        columns[name] = header.strip()
    rows: list[tuple[int, dict[str, str]]] = []
    for number, record in enumerate(records[1:], start=2):
        if not any(c.strip() for c in record):
            continue
        cells = {name: _cell(record[i]) if i < len(record) else "" for name, i in positions.items()}
        rows.append((number, cells))
    return Table(encoding, columns, rows, ignored)


def safe_cell(value: object) -> str:
    """The cell as text, with a leading ``'`` when a spreadsheet would otherwise run
    it as a formula (``=HYPERLINK(…)``, `` +1``, ``＠SUM(…)``); ``None`` is empty."""
    text = "" if value is None else str(value)
    return "'" + text if _formula_like(text) else text


def write_csv(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with BOM and CRLF line ends, so Excel opens it with the right encoding;
    every cell, headers included, through :func:`safe_cell`."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in headers])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")
