"""Receipt states: the one definition of what a receipt can be.

A receipt moves forward only: ``sent`` → ``delivered`` → ``read`` → ``acked`` (签收).
Each state has a wire name (``ReceiptState.ACKED.value == "acked"``: protocol, API,
ledger events), a rank (what ``ntc_receipts.rank`` and ``alr_rungs.until_rank``
store, and what ``policy.until_rank`` holds) and its zh-CN words. SQL builders take
their conditions from here (:func:`below`, :func:`at_least`, :func:`equals`: a
fragment with a bound parameter, never a literal rank), exports and the printable
回执单 take :attr:`ReceiptState.label`, and the web page reads everything from
``GET /api/web/config`` (:func:`page_config`) instead of keeping its own copy.

The stored ranks stay 0, 1, 2, 3 (not spaced): they are in released databases (the
receipts, the escalation rungs and the ``until_rank`` of every stored policy, which
the API returns as it was sent), and several processes of different versions may
share one database during an upgrade. A new state goes at the end of the order, or,
if it must sit between two, comes with a migration of all three (see
docs/architecture.md, "How to add a receipt state").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, NamedTuple

__all__ = [
    "ReceiptState",
    "Sql",
    "Words",
    "at_least",
    "below",
    "equals",
    "page_config",
]


@dataclass(frozen=True, slots=True)
class Words:
    """The zh-CN words of one state, one vocabulary for every place a person reads it.

    ``label``: the state as a fact (CSV export, 回执单); ``short``: a dashboard column
    (what is still missing for ``sent``); ``legend``: the dashboard's legend, which
    says what is still to come; ``inbox``: the member's own view of a notice."""

    label: str
    short: str
    legend: str
    inbox: str


class ReceiptState(Enum):
    """A receipt state; the value is the wire name, members are in rank order."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    ACKED = "acked"

    @property
    def rank(self) -> int:
        """The stored integer (``ntc_receipts.rank``); higher is further along."""
        return _RANKS[self]

    @property
    def words(self) -> Words:
        return _WORDS[self]

    @property
    def label(self) -> str:
        """The state as a fact: CSV export and 回执单."""
        return _WORDS[self].label

    @classmethod
    def of_rank(cls, rank: int) -> ReceiptState:
        """The state stored as ``rank`` (``IndexError`` for a rank no state has)."""
        return _ORDER[rank]

    @classmethod
    def named(cls, name: object) -> ReceiptState | None:
        """The state whose wire name is ``name``, or None."""
        return _BY_NAME.get(name) if isinstance(name, str) else None

    @classmethod
    def done(cls, require_ack: bool) -> ReceiptState:
        """The state at which a recipient is done with a notice: 签收 when it asks
        for one, else having read it."""
        return cls.ACKED if require_ack else cls.READ

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every wire name, in rank order."""
        return tuple(s.value for s in _ORDER)


_ORDER: Final[tuple[ReceiptState, ...]] = tuple(ReceiptState)
_RANKS: Final[dict[ReceiptState, int]] = {s: i for i, s in enumerate(_ORDER)}
_BY_NAME: Final[dict[str, ReceiptState]] = {s.value: s for s in _ORDER}
_WORDS: Final[dict[ReceiptState, Words]] = {
    ReceiptState.SENT: Words(label="已发送", short="未送达", legend="未送达", inbox="未送达"),
    ReceiptState.DELIVERED: Words(
        label="已送达", short="已送达", legend="已送达未读", inbox="未读"
    ),
    ReceiptState.READ: Words(label="已阅读", short="已读", legend="已读未签收", inbox="已读"),
    ReceiptState.ACKED: Words(label="已签收", short="已签收", legend="已签收", inbox="已签收"),
}
assert set(_WORDS) == set(ReceiptState), "every receipt state needs its words"


class Sql(NamedTuple):
    """A condition for a ``WHERE`` clause and the values of its ``?`` parameters."""

    sql: str
    args: tuple[int, ...]


def below(state: ReceiptState, column: str = "rank") -> Sql:
    """Receipts not yet at ``state`` (``column < ?``)."""
    return Sql(f"{column} < ?", (state.rank,))


def at_least(state: ReceiptState, column: str = "rank") -> Sql:
    """Receipts at ``state`` or further (``column >= ?``)."""
    return Sql(f"{column} >= ?", (state.rank,))


def equals(state: ReceiptState, column: str = "rank") -> Sql:
    """Receipts exactly at ``state`` (``column = ?``)."""
    return Sql(f"{column} = ?", (state.rank,))


def page_config() -> list[dict[str, Any]]:
    """The states as the web page reads them (``receipt_states`` of ``/api/web/config``),
    in rank order."""
    return [
        {
            "state": s.value,
            "rank": s.rank,
            "label": s.words.label,
            "short": s.words.short,
            "legend": s.words.legend,
            "inbox": s.words.inbox,
        }
        for s in _ORDER
    ]
