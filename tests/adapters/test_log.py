"""The development / fallback log adapter."""

from __future__ import annotations

from adapters.config import load_config
from adapters.core.standin import RECENT as RECENT_SENT
from adapters.core.standin import Recent
from adapters.log import RECENT, LogAdapter
from adapters.registry import build_adapters
from adapters.standin import Standins
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


async def test_standin_records_are_bounded(standins: Standins) -> None:
    """In sandbox mode the stand-ins run as long as the hub: what they record of
    the messages they accepted is bounded too."""
    recent = Recent(maxlen=100)
    for i in range(1000):
        recent.append(i)
    assert 90 <= len(recent) <= 100 and recent == list(range(1000 - len(recent), 1000))
    for server in (standins.aliyun, standins.tencent, standins.wechat, standins.wecom):
        assert isinstance(server.sent, Recent) and server.sent.maxlen == RECENT_SENT
    assert isinstance(standins.wecom.bot_sent, Recent)
