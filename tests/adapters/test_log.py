"""The development / fallback log adapter."""

from __future__ import annotations

from adapters.config import load_config
from adapters.log import RECENT, LogAdapter
from adapters.registry import build_adapters
from adapters.types import Message


async def test_log_adapter_keeps_only_recent_messages() -> None:
    """The hub's fallback for unconfigured providers runs for the life of the process:
    what it remembers is bounded, the newest kept."""
    adapter = build_adapters(load_config({}))["log"]
    assert isinstance(adapter, LogAdapter)
    for i in range(RECENT * 20):
        await adapter.send("+8613800000000", Message(f"第{i}条"))
    assert len(adapter.sent) == RECENT
    assert adapter.sent[-1][1].text == f"第{RECENT * 20 - 1}条"
    assert adapter.sent[0][1].text == f"第{RECENT * 19}条"
    quiet = LogAdapter(keep=0)
    await quiet.send("x", Message("y"))
    assert len(quiet.sent) == 0
