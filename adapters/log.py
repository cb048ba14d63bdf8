"""A development adapter that only logs (masked) what would be sent."""

from __future__ import annotations

import uuid
from collections import deque
from typing import Final

from .masking import mask_address, masked_logger
from .types import AdapterKind, CheckResult, Message, SendResult

__all__ = ["RECENT", "LogAdapter"]

RECENT: Final = 100

log = masked_logger("adapters.log")


class LogAdapter:
    """Logs each message with the address masked; returns ``log-<hex>`` ids.

    ``sent`` keeps only the last ``keep`` messages (for tests and debugging): the
    hub falls back to this adapter for every unconfigured provider, for as long
    as it runs, so an unbounded list would grow with every escalation.
    """

    def __init__(self, name: str = "log", *, keep: int = RECENT) -> None:
        self._name = name
        self.sent: deque[tuple[str, Message]] = deque(maxlen=keep)

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> AdapterKind:
        return "log"

    async def send(self, to: str, message: Message) -> SendResult:
        message_id = f"log-{uuid.uuid4().hex}"
        log.info(
            "would send %s to %s (%d chars, params %s, reference %s): id %s",
            message.format,
            mask_address(to),
            len(message.full_text),
            sorted(message.params),
            message.reference,
            message_id,
        )
        self.sent.append((to, message))
        return SendResult(self._name, message_id, to, {"logged": True})

    async def check(self) -> CheckResult:
        return CheckResult(self._name, True, "log adapter: nothing to verify")

    async def aclose(self) -> None:
        return None
