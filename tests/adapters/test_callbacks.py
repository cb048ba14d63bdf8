"""Callback parsers and routes: each provider's format in, typed records out, the
provider's expected answer back; end to end from the SMS stand-ins."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import orjson
import pytest
from aiohttp import web

from adapters.callbacks import (
    CallbackFormatError,
    CallbackRecord,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    add_callback_routes,
    callback_routes,
    parse_aliyun_reports,
    parse_aliyun_uplink,
    parse_tencent_replies,
    parse_tencent_status,
    parse_wechat_event,
)
from adapters.providers.wechat_oa.signing import callback_signature
from adapters.standin import Standins
from adapters.types import Adapter, Message

from .conftest import wait_for

ALIYUN_REPORT = [
    {
        "phone_number": "13900001234",
        "send_time": "2024-01-01 08:00:00",
        "report_time": "2024-01-01 08:00:05",
        "success": False,
        "err_code": "MK:0001",
        "err_msg": "用户关机",
        "sms_size": "1",
        "biz_id": "932702304080415357^0",
        "out_id": "attempt-1",
    }
]
ALIYUN_UPLINK = [
    {
        "phone_number": "13900001234",
        "send_time": "2024-01-01 09:00:00",
        "content": "收到",
        "sign_name": "通知测试",
        "dest_code": "1234",
        "sequence_id": 1234567,
    }
]
TENCENT_STATUS = [
    {
        "user_receive_time": "2015-10-17 08:03:04",
        "nationcode": "86",
        "mobile": "13900001234",
        "report_status": "SUCCESS",
        "errmsg": "DELIVRD",
        "description": "用户短信送达成功",
        "sid": "2433:1",
    }
]
TENCENT_REPLY = {
    "extend": "",
    "mobile": "13900001234",
    "nationcode": "86",
    "sign": "通知测试",
    "text": "已签收",
    "time": 1457336869,
}
TEMPLATE_EVENT = (
    b"<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
    b"<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>"
    b"<CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    b"<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
    b"<MsgID>200163836</MsgID><Status><![CDATA[failed: system failed]]></Status></xml>"
)
SUBSCRIBE_EVENT = (
    b"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[openid123]]>"
    b"</FromUserName><CreateTime>1620963428</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    b"<Event><![CDATA[subscribe_msg_sent_event]]></Event><SubscribeMsgSentEvent>"
    b"<List><TemplateId><![CDATA[t1]]></TemplateId><MsgID>1700827132819554304</MsgID>"
    b"<ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List>"
    b"<List><TemplateId><![CDATA[t2]]></TemplateId><MsgID>1700827132819554305</MsgID>"
    b"<ErrorCode>43101</ErrorCode><ErrorStatus><![CDATA[user refuse]]></ErrorStatus></List>"
    b"</SubscribeMsgSentEvent></xml>"
)


def test_parse_aliyun_report() -> None:
    [report] = parse_aliyun_reports(orjson.dumps(ALIYUN_REPORT))
    assert report.provider == "aliyun-sms"
    assert report.provider_message_id == "932702304080415357^0"
    assert report.recipient == "+8613900001234"
    assert report.status is DeliveryStatus.FAILED
    assert report.error_code == "MK:0001" and report.reference == "attempt-1"
    assert report.occurred_at == datetime(2024, 1, 1, 0, 0, 5, tzinfo=UTC)


def test_parse_aliyun_uplink() -> None:
    [message] = parse_aliyun_uplink(orjson.dumps(ALIYUN_UPLINK))
    assert (message.sender, message.text, message.extension) == ("+8613900001234", "收到", "1234")


def test_parse_tencent_status_and_reply() -> None:
    [report] = parse_tencent_status(orjson.dumps(TENCENT_STATUS))
    assert (report.provider_message_id, report.status) == ("2433:1", DeliveryStatus.DELIVERED)
    assert report.recipient == "+8613900001234"
    [reply] = parse_tencent_replies(orjson.dumps(TENCENT_REPLY))
    assert reply.text == "已签收"
    assert reply.received_at == datetime.fromtimestamp(1457336869, UTC)


def test_parse_wechat_events() -> None:
    [report] = parse_wechat_event(TEMPLATE_EVENT)
    assert report.provider_message_id == "200163836"
    assert report.recipient == "oia2TjuEGTNoeX76QEjQNrcURxG8"
    assert report.status is DeliveryStatus.FAILED
    ok, refused = parse_wechat_event(SUBSCRIBE_EVENT)
    assert ok.status is DeliveryStatus.DELIVERED
    assert (refused.error_code, refused.status) == ("43101", DeliveryStatus.FAILED)
    assert parse_wechat_event(b"<xml><MsgType>text</MsgType></xml>") == []


@pytest.mark.parametrize(
    ("parser", "body"),
    [
        (parse_aliyun_reports, b"not json"),
        (parse_tencent_status, b'[{"mobile": "1"}]'),
        (parse_aliyun_uplink, b"[1, 2]"),
        (parse_wechat_event, b"<xml"),
        (parse_wechat_event, b'<!DOCTYPE x [<!ENTITY a "b">]><xml/>'),
    ],
)
def test_malformed_bodies(parser: object, body: bytes) -> None:
    with pytest.raises(CallbackFormatError):
        parser(body)  # type: ignore[operator]


class Server:
    def __init__(self) -> None:
        self.records: list[CallbackRecord] = []
        self.fail = False
        self.base = ""

    async def sink(self, record: CallbackRecord) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.records.append(record)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    app = web.Application()
    add_callback_routes(app.router, state.sink, prefix="/callbacks/k3y", wechat_token="tok")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.base = f"http://127.0.0.1:{runner.addresses[0][1]}/callbacks/k3y"
    try:
        yield state
    finally:
        await runner.cleanup()


async def _post(url: str, body: bytes) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as response:
        return response.status, await response.read()


async def test_sms_routes_answer_each_provider(server: Server) -> None:
    cases = [
        ("/aliyun-sms/report", ALIYUN_REPORT, {"code": 0, "msg": "接收成功"}),
        ("/aliyun-sms/uplink", ALIYUN_UPLINK, {"code": 0, "msg": "接收成功"}),
        ("/tencent-sms/status", TENCENT_STATUS, {"result": 0, "errmsg": "OK"}),
        ("/tencent-sms/reply", TENCENT_REPLY, {"result": 0, "errmsg": "OK"}),
    ]
    for path, payload, answer in cases:
        status, body = await _post(server.base + path, orjson.dumps(payload))
        assert (status, orjson.loads(body)) == (200, answer)
    kinds = [type(r) for r in server.records]
    assert kinds == [DeliveryReport, InboundMessage, DeliveryReport, InboundMessage]


async def test_sms_routes_refuse_bad_bodies_and_report_sink_failure(server: Server) -> None:
    status, body = await _post(server.base + "/aliyun-sms/report", b"{oops")
    assert status == 400 and orjson.loads(body)["code"] == 1
    server.fail = True
    status, body = await _post(server.base + "/tencent-sms/status", orjson.dumps(TENCENT_STATUS))
    assert status == 500 and orjson.loads(body)["result"] == 1


async def test_wechat_route_verifies_signature(server: Server) -> None:
    signature = callback_signature("tok", "1410685589", "n1")
    query = f"?signature={signature}&timestamp=1410685589&nonce=n1"
    async with aiohttp.ClientSession() as session:
        async with session.get(server.base + "/wechat/events" + query + "&echostr=abc") as r:
            assert (r.status, await r.text()) == (200, "abc")
            assert r.content_type == "text/plain"  # reflected verbatim: never as a page
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        async with session.get(server.base + "/wechat/events?signature=0&echostr=abc") as r:
            assert r.status == 403
    status, body = await _post(server.base + "/wechat/events" + query, TEMPLATE_EVENT)
    assert (status, body) == (200, b"success")
    status, _ = await _post(server.base + "/wechat/events?signature=bad", TEMPLATE_EVENT)
    assert status == 403
    assert len(server.records) == 1


async def test_sms_reports_from_standins_match_send_results(
    server: Server, standins: Standins, adapters: dict[str, Adapter]
) -> None:
    standins.send_reports_to(server.base)
    ali = await adapters["aliyun-sms"].send("13800000000", Message("x", reference="att-1"))
    ten = await adapters["tencent-sms"].send("13800000000", Message("1"))
    await wait_for(lambda: len(server.records) == 2)
    by_id = {r.provider_message_id: r for r in server.records if isinstance(r, DeliveryReport)}
    assert by_id[ali.message_id].reference == "att-1"
    assert by_id[ali.message_id].recipient == ali.recipient
    assert by_id[ten.message_id].recipient == ten.recipient
    assert all(r.status is DeliveryStatus.DELIVERED for r in by_id.values())


async def test_routes_only_for_the_providers_asked_for_and_from_allowed_sources() -> None:
    async def sink(record: CallbackRecord) -> None:
        return None

    prefix = "/cb/0123456789abcdef"
    nets = [ipaddress.ip_network("192.0.2.0/24")]
    routes = callback_routes(sink, prefix=prefix, providers=["tencent-sms"], allow=nets)
    assert sorted(r.path for r in routes if isinstance(r, web.RouteDef)) == [
        f"{prefix}/tencent-sms/reply",
        f"{prefix}/tencent-sms/status",
    ]
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}{prefix}"
    try:
        assert (await _post(base + "/aliyun-sms/uplink", b"[]"))[0] == 404
        assert (await _post(base + "/tencent-sms/reply", b"{}"))[0] == 403  # not 192.0.2.0/24
    finally:
        await runner.cleanup()
