"""Texts fitted to each provider's limit in its own unit, and the stand-ins refusing
what a provider would refuse, with the provider's own error code."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.core.base import ProviderAdapter
from adapters.errors import AdapterError
from adapters.limits import LIMITS, fit, measure
from adapters.providers.aliyun_sms.adapter import AliyunSmsAdapter
from adapters.standin import Standins
from adapters.types import Adapter, Message

OPENID = "oia2TjuEGTNoeX76QEjQNrcURxG8"
BODY = "党" * 1000 + "员" * 1000  # 2,000 汉字 = 6,000 bytes in UTF-8
TAIL = "\n请点击签收。"


def utf8(value: str) -> int:
    return len(value.encode("utf-8"))


def assert_cut(sent: str, original: str, tail: str = "") -> None:
    assert sent.endswith("…" + tail), sent[-20:]
    kept = sent[: len(sent) - len("…" + tail)]
    assert kept and original.startswith(kept)


# -- the fitting function ------------------------------------------------------------------


def test_fit_counts_bytes_and_never_splits_a_character() -> None:
    fitted = fit("通知" * 100, 512, "bytes")
    assert utf8(fitted) <= 512 and fitted.endswith("…")
    fitted.encode("utf-8").decode("utf-8")  # whole characters only
    assert fit("短", 512, "bytes") == "短"
    assert len(fit("通知" * 100, 20, "chars")) == 20


def test_fit_keeps_the_tail_and_whole_emoji() -> None:
    family = "👨‍👩‍👧‍👦"  # one grapheme, seven code points, 25 bytes
    text = "警报" + family * 10
    fitted = fit(text, 40, "bytes", tail="详情见链接")
    assert fitted.endswith("…详情见链接") and utf8(fitted) <= 40
    body = fitted.removesuffix("…详情见链接")
    assert body in ("警报", "警报" + family)
    assert fit("a" * 10, 3, "chars", tail="详情见链接") == "aaa"  # no room: hard cut
    assert fit("x" * 200, 2, "segments") == "x" * 133 + "…"
    assert measure("x" * 71, "segments") == 2


@given(
    st.text(min_size=0, max_size=300),
    st.integers(min_value=0, max_value=600),
    st.sampled_from(["bytes", "chars"]),
    st.sampled_from(["", "详情见链接", "\n请点击签收。"]),
)
def test_fit_is_always_within_the_limit(text: str, limit: int, unit: Any, tail: str) -> None:
    fitted = fit(text, limit, unit, tail=tail)
    assert measure(fitted, unit) <= limit
    if measure(text + tail, unit) <= limit:
        assert fitted == text + tail


# -- a 2,000-汉字 body through every adapter to its stand-in -------------------------------


async def test_wecom_text_markdown_and_textcard_are_fitted_in_bytes(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    wecom = adapters["wecom"]
    await wecom.send("zhangsan", Message(BODY))
    await wecom.send("zhangsan", Message(BODY, format="markdown"))
    await wecom.send(
        "zhangsan",
        Message(
            BODY,
            title="【紧急】" + "关于开展主题教育的通知" * 20,
            url="https://hub.example/ack",
            format="textcard",
            tail=TAIL,
            params={"btntxt": "点击签收确认"},
        ),
    )
    text, markdown, card = standins.wecom.sent
    assert utf8(text["text"]["content"]) <= 2048
    assert_cut(text["text"]["content"], BODY)
    assert utf8(markdown["markdown"]["content"]) <= 2048
    description = card["textcard"]["description"]
    assert utf8(description) <= 512 and utf8(description) > 500
    assert_cut(description, BODY, TAIL)
    assert utf8(card["textcard"]["title"]) <= 128
    assert card["textcard"]["btntxt"] == "点击签收"


async def test_wecom_bot_text_and_markdown_with_mention(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    bot = adapters["wecom-bot"]
    await bot.send("zhangsan", Message(BODY, tail="详情见链接"))
    await bot.send("zhangsan", Message(BODY, format="markdown"))
    text, markdown = standins.wecom.bot_sent
    assert utf8(text["text"]["content"]) <= 2048
    assert_cut(text["text"]["content"], BODY, "详情见链接")
    content = markdown["markdown"]["content"]
    assert utf8(content) <= 4096 and content.endswith("…\n<@zhangsan>")


async def test_official_account_values_fitted_per_key(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    oa = adapters["wechat"]
    await oa.send(OPENID, Message(BODY, url="https://hub.example/ack"))
    await oa.send(
        OPENID,
        Message(
            "",
            params={"thing1": BODY, "phrase2": "六个字的短语", "time3": "2024年1月1日 08:00"},
            format="subscription",
            template=standins.wechat.subscribe_template_id,
        ),
    )
    template, subscription = standins.wechat.sent
    assert template["data"]["thing1"]["value"] == BODY[:19] + "…"
    data = subscription["data"]
    assert data["thing1"]["value"] == BODY[:19] + "…"
    assert data["phrase2"]["value"] == "六个字的…"
    assert data["time3"]["value"] == "2024年1月1日 08:00"


@pytest.mark.parametrize(("name", "limit"), [("aliyun-sms", 35), ("tencent-sms", 6)])
async def test_sms_template_variables_fitted_in_characters(
    adapters: dict[str, Adapter], standins: Standins, name: str, limit: int
) -> None:
    await adapters[name].send("13800000000", Message(BODY))
    if name == "aliyun-sms":
        [sent] = standins.aliyun.sent
        value = orjson.loads(sent["TemplateParam"])["content"]
    else:
        [sent] = standins.tencent.sent
        [value] = sent["TemplateParamSet"]
    assert len(value) == limit
    assert_cut(value, BODY)


# -- the stand-ins refuse an over-long field as the provider does ----------------------------


async def _refused(adapter: Adapter, address: str, message: Message) -> str:
    """The provider's error code for ``message`` sent as is (no local fitting)."""
    assert isinstance(adapter, ProviderAdapter)
    with pytest.raises(AdapterError) as caught:
        await adapter.send_once(address, message)
    return caught.value.code


async def test_standins_refuse_over_long_fields_with_the_real_codes(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    wecom, bot, oa = adapters["wecom"], adapters["wecom-bot"], adapters["wechat"]
    card = Message(BODY[:171], title="通知", url="https://hub.example/ack", format="textcard")
    assert utf8(card.text) == 513
    assert await _refused(wecom, "zhangsan", card) == "45002"
    assert await _refused(wecom, "zhangsan", Message(BODY[:683])) == "45002"
    long_title = Message("正文", title="题" * 43, url="https://x.cn", format="textcard")
    assert await _refused(wecom, "zhangsan", long_title) == "45002"
    assert await _refused(bot, "", Message(BODY[:683])) == "45002"
    assert await _refused(bot, "", Message(BODY[:1366], format="markdown")) == "45002"
    assert await _refused(oa, OPENID, Message(BODY[:21])) == "47003"
    assert await _refused(adapters["aliyun-sms"], "+8613800000000", Message("长" * 36)) == (
        "isv.PARAM_LENGTH_LIMIT"
    )
    assert await _refused(adapters["tencent-sms"], "+8613800000000", Message("1234567")) == (
        "InvalidParameterValue.TemplateParameterLengthLimit"
    )
    assert standins.wecom.sent == [] and standins.wecom.bot_sent == []
    assert standins.wechat.sent == [] and standins.aliyun.sent == standins.tencent.sent == []
    # exactly at the limit goes out unchanged
    exact = BODY[:170] + "ab"
    await wecom.send(
        "zhangsan", Message(exact, title="通知", url="https://x.cn", format="textcard")
    )
    assert standins.wecom.sent[0]["textcard"]["description"] == exact


def test_every_declared_limit_has_a_unit() -> None:
    for provider, fields in LIMITS.items():
        for field, limit in fields.items():
            assert limit.limit > 0 and limit.unit in ("bytes", "chars", "segments"), (
                provider,
                field,
            )


async def test_aliyun_batch_params_are_fitted_too(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    aliyun = adapters["aliyun-sms"]
    assert isinstance(aliyun, AliyunSmsAdapter)
    await aliyun.send_batch(["13800000000", "13900000000"], [{"content": BODY}, {"content": "短"}])
    [sent, _] = standins.aliyun.sent
    first, second = orjson.loads(sent["TemplateParamJson"])
    assert len(first["content"]) == 35 and first["content"].endswith("…")
    assert second == {"content": "短"}


# -- attempts are idempotent where the provider can be told so ---------------------------


async def test_a_repeated_attempt_is_delivered_once(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    """WeCom (enable_duplicate_check) and the Official Account (client_msg_id) drop a
    repeat of the same attempt, e.g. a retry after an answer lost to a 5xx."""
    wecom, oa = adapters["wecom"], adapters["wechat"]
    assert isinstance(wecom, ProviderAdapter) and isinstance(oa, ProviderAdapter)
    card = Message("正文", title="通知", url="https://x.cn/a", format="textcard", reference="t1")
    first = await wecom.send_once("zhangsan", card)
    again = await wecom.send_once("zhangsan", card)
    assert first.message_id == again.message_id and len(standins.wecom.sent) == 1
    await wecom.send_once(
        "zhangsan",
        Message("正文", title="通知", url="https://x.cn/b", format="textcard", reference="t2"),
    )
    assert len(standins.wecom.sent) == 2  # another attempt goes out
    assert standins.wecom.sent[0]["enable_duplicate_check"] == 1
    message = Message("巡查提醒", url="https://x.cn/a", reference="t3")
    await oa.send_once(OPENID, message)
    await oa.send_once(OPENID, message)
    assert len(standins.wechat.sent) == 1 and standins.wechat.duplicates == 1
