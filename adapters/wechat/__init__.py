"""WeChat family: WeCom application messages, WeCom group robot, Official Account."""

from __future__ import annotations

from .official import OfficialAccountAdapter
from .wecom import WecomAdapter
from .wecom_bot import WecomBotAdapter

__all__ = ["OfficialAccountAdapter", "WecomAdapter", "WecomBotAdapter"]
