"""Query parameters of the domain's HTTP routes, read one way everywhere."""

from __future__ import annotations

from aiohttp import web

from hub.numbers import parse_int
from hub.protocol.errors import Code, HubError

__all__ = ["query_int"]


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """The integer parameter ``name`` (ASCII digits: ``int()`` would also take
    ``１０``, ``٢`` and `` 1_0``), ``default`` when absent or empty; a 400 (107)
    that names it when it is not an integer in ``lo..hi``."""
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        value = parse_int(raw)
    except ValueError:
        raise HubError(
            Code.BAD_REQUEST, f"参数 {name} 应为整数", field=name, reason="bad_value"
        ) from None
    if not lo <= value <= hi:
        raise HubError(
            Code.BAD_REQUEST, f"参数 {name} 应在 {lo} 到 {hi} 之间", field=name, reason="bad_value"
        )
    return value
