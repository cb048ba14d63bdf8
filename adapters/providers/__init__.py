"""One folder per provider: adapter, signing, error codes, callbacks, stand-in, descriptor.

``DESCRIPTORS`` is the one list of providers, in failover order (the ``sms``
group tries the SMS providers in this order). The registry, the configuration
loader, the callback routes, the stand-ins and the ``check`` command read it;
adding a provider is adding its folder and one line here.
"""

from __future__ import annotations

from typing import Any, Final

from .aliyun_sms.descriptor import PROVIDER as ALIYUN_SMS
from .descriptor import ProviderDescriptor, Setting, StandinSpec
from .tencent_sms.descriptor import PROVIDER as TENCENT_SMS
from .wechat_oa.descriptor import PROVIDER as WECHAT_OA
from .wecom.descriptor import PROVIDER as WECOM
from .wecom_bot.descriptor import PROVIDER as WECOM_BOT

__all__ = ["DESCRIPTORS", "ProviderDescriptor", "Setting", "StandinSpec", "descriptor"]

DESCRIPTORS: Final[tuple[ProviderDescriptor[Any], ...]] = (
    ALIYUN_SMS,
    TENCENT_SMS,
    WECOM,
    WECOM_BOT,
    WECHAT_OA,
)


def descriptor(name: str) -> ProviderDescriptor[Any]:
    """The descriptor of provider ``name`` (e.g. ``aliyun-sms``); KeyError if unknown."""
    for item in DESCRIPTORS:
        if item.name == name:
            return item
    raise KeyError(name)
