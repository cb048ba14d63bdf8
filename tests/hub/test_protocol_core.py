"""The sans-I/O protocol core without sockets: codecs, channel names, request
validation — including property-based tests that no input raises anything but the
protocol's own errors."""

from __future__ import annotations

from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.protocol.codec import JSON, MSGPACK, DecodeError, codec_for
from hub.protocol.errors import Close, Code, HubError, reconnect_allowed
from hub.protocol.names import split_channel
from hub.protocol.requests import BUILTIN_VALIDATORS, FrameError, Since, parse_request

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
fields = st.dictionaries(
    st.sampled_from(["id", "op", "channel", "data", "since", "before", "limit", "idem", "token"])
    | st.text(max_size=5),
    json_values,
)


@given(st.binary(max_size=512))
@settings(max_examples=200, deadline=None)
def test_codecs_never_raise_but_decode_error(data: bytes) -> None:
    for codec in (JSON, MSGPACK):
        try:
            codec.decode(data)
        except DecodeError:
            pass


@given(json_values | fields)
@settings(max_examples=200, deadline=None)
def test_parse_request_never_raises_but_frame_error(frame: Any) -> None:
    try:
        req = parse_request(frame, BUILTIN_VALIDATORS)
    except FrameError as exc:
        assert exc.code in (Code.BAD_REQUEST, Code.UNKNOWN_OP, Code.BAD_CHANNEL)
        if isinstance(frame, dict) and type(frame.get("id")) is int:
            assert exc.id == frame["id"]  # answerable as a reply
        else:
            assert exc.id is None  # only as an error push
    else:
        assert req.op in BUILTIN_VALIDATORS and req.id >= 1


@given(fields)
@settings(max_examples=100, deadline=None)
def test_round_trip_both_codecs(frame: dict[str, Any]) -> None:
    for codec in (JSON, MSGPACK):
        assert codec.decode(codec.encode(frame)) == frame


def test_codec_for() -> None:
    assert codec_for("hub.v1.msgpack") is MSGPACK
    assert codec_for("hub.v1.json") is JSON and codec_for(None) is JSON and codec_for("x") is JSON
    assert MSGPACK.binary and not JSON.binary


def test_msgpack_rejects_non_string_keys_and_accepts_bin() -> None:
    with pytest.raises(DecodeError):
        MSGPACK.decode(msgpack.packb({1: 2}))
    assert MSGPACK.decode(msgpack.packb({"a": b"\x00"})) == {"a": b"\x00"}


@pytest.mark.parametrize(
    ("channel", "ok"),
    [
        ("a:b", True),
        ("member:u-1@x.y:z", True),
        ("a" * 32 + ":x", True),
        ("a" * 33 + ":x", False),
        ("a:" + "x" * 128, True),
        ("a:" + "x" * 129, False),
        ("1a:x", False),
        ("A:x", False),
        ("a_b9:x", True),
        ("a:", False),
        ("a:x y", False),
        ("a:中文", False),
        ("", False),
    ],
)
def test_channel_names(channel: str, ok: bool) -> None:
    if ok:
        assert split_channel(channel)[1]
    else:
        with pytest.raises(HubError) as e:
            split_channel(channel)
        assert e.value.code == Code.BAD_CHANNEL


def test_validation_details() -> None:
    req = parse_request(
        {
            "id": 3,
            "op": "history",
            "channel": "a:b",
            "since": {"offset": 2, "epoch": "e"},
            "limit": 5000,
            "extra": "ignored",
        },
        BUILTIN_VALIDATORS,
    )
    assert req.args == {"channel": "a:b", "since": Since(2, "e"), "before": None, "limit": 1000}
    req = parse_request(
        {"id": 1, "op": "publish", "channel": "a:b", "data": None}, BUILTIN_VALIDATORS
    )
    assert req.args == {"channel": "a:b", "data": None, "idem": None}
    with pytest.raises(FrameError) as e:
        parse_request({"id": 1, "op": "nope"}, BUILTIN_VALIDATORS)
    assert e.value.code == Code.UNKNOWN_OP and e.value.id == 1
    with pytest.raises(FrameError) as e:
        parse_request({"id": True, "op": "ping"}, BUILTIN_VALIDATORS)
    assert e.value.id is None


def test_close_codes() -> None:
    assert not reconnect_allowed(Close.UNAUTHORIZED)
    assert reconnect_allowed(Close.SLOW_CONSUMER) and reconnect_allowed(Close.SHUTDOWN)
    assert reconnect_allowed(Close.TOKEN_EXPIRED)
    assert orjson.loads(JSON.encode({"k": "中"})) == {"k": "中"}
