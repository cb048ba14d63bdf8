"""Numbers read from text people type (query parameters, settings): ASCII only.

``int()`` and ``float()`` also take full-width and other scripts' digits
(``int("１２")``, ``int("٢٢")``), surrounding blanks and ``_`` separators
(``int(" 1_0")``); a parameter or setting must not. One helper, used by the
engine and (through ``hub``) by the domain.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["parse_float", "parse_int"]

_INT: Final = re.compile(r"-?[0-9]{1,18}", re.ASCII)
_FLOAT: Final = re.compile(
    r"-?(?:[0-9]{1,18}(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?", re.ASCII
)


def parse_int(text: str) -> int:
    """``text`` as an integer of ASCII digits (an optional minus, no plus, no blanks);
    ValueError otherwise."""
    if not _INT.fullmatch(text):
        raise ValueError(f"not an integer: {text!r}")
    return int(text)


def parse_float(text: str) -> float:
    """``text`` as a decimal number of ASCII digits (``1``, ``0.5``, ``1e3``; no
    ``inf``/``nan``, no blanks); ValueError otherwise."""
    if not _FLOAT.fullmatch(text):
        raise ValueError(f"not a number: {text!r}")
    return float(text)
