"""SMS providers: Alibaba Cloud (Dysmsapi) and Tencent Cloud (SMS 2021-01-11)."""

from __future__ import annotations

from .aliyun import AliyunSmsAdapter
from .tencent import TencentSmsAdapter

__all__ = ["AliyunSmsAdapter", "TencentSmsAdapter"]
