"""A group of providers of one kind: the next one is tried when one is unhealthy."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import AdapterError, ConfigurationError
from ..masking import mask_address, masked_logger
from ..types import Adapter, AdapterKind, CheckResult, Message, SendResult

__all__ = ["FailoverAdapter"]

log = masked_logger("adapters")


class FailoverAdapter:
    """Sends through the first member; fails over on provider faults.

    A member's open circuit, rate limit, transport failure, 5xx or rejected
    credentials move on to the next member. Errors about the recipient or the
    message, and timeouts (the message may have gone out), are raised at once.
    """

    def __init__(self, name: str, members: Sequence[Adapter]) -> None:
        if not members:
            raise ConfigurationError(f"failover group {name!r} has no members", code="empty_group")
        kinds = {member.kind for member in members}
        if len(kinds) != 1:
            raise ConfigurationError(
                f"failover group {name!r} mixes kinds {sorted(kinds)}", code="mixed_group"
            )
        self._name = name
        self._members = tuple(members)
        self._kind: AdapterKind = members[0].kind

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> AdapterKind:
        return self._kind

    @property
    def members(self) -> tuple[Adapter, ...]:
        return self._members

    async def send(self, to: str, message: Message) -> SendResult:
        last: AdapterError | None = None
        for member in self._members:
            try:
                return await member.send(to, message)
            except AdapterError as error:
                if not error.fails_over:
                    raise
                last = error
                log.warning(
                    "%s: %s unavailable for %s (%s), trying the next provider",
                    self._name,
                    member.name,
                    mask_address(to),
                    error.code or type(error).__name__,
                )
        assert last is not None
        raise last

    async def check(self) -> CheckResult:
        results = [await member.check() for member in self._members]
        ok = any(result.ok for result in results)
        detail = "; ".join(f"{r.provider}: {'ok' if r.ok else r.detail}" for r in results)
        return CheckResult(self._name, ok, detail)

    async def aclose(self) -> None:
        for member in self._members:
            await member.aclose()
