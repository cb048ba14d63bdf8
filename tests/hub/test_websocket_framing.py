"""RFC 6455 framing: hub.protocol.websocket, checked against the RFC and `websockets`."""

from __future__ import annotations

import importlib.util
import itertools
import os
import struct
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.speedups import apply_mask as c_apply_mask
from websockets.streams import StreamReader

from hub.protocol import websocket as ws
from hub.protocol.websocket import (
    CLOSE_INVALID_DATA,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_PROTOCOL_ERROR,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    Event,
    FrameParser,
    Message,
    Ping,
    Pong,
    ProtocolViolation,
    binary_frame,
    close_frame,
    encode_frame,
    is_valid_close_code,
    ping_frame,
    pong_frame,
    text_frame,
)

RFC_MASK = bytes.fromhex("37fa213d")
ROOT = Path(__file__).resolve().parents[2]


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    key: bytes = RFC_MASK,
    length_bytes: int | None = None,
    length: int | None = None,
) -> bytes:
    """Hand-built client frame, able to break any rule (for negative tests)."""
    n = len(payload) if length is None else length
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n < 65536 else 8
    mask_bit = 0x80 if masked else 0
    b0 = (0x80 if fin else 0) | rsv << 4 | opcode
    if length_bytes == 0:
        head = bytes([b0, mask_bit | n])
    elif length_bytes == 2:
        head = bytes([b0, mask_bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mask_bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    return head + key + c_apply_mask(payload, key)


def ws_client_frame(opcode: Opcode, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame built by the websockets library (independent oracle)."""
    return Frame(opcode, payload, fin=fin).serialize(mask=True, extensions=[])


def ws_parse(data: bytes) -> list[Frame]:
    """Parse unmasked server frames with the websockets library."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while reader.buffer:
        gen = Frame.parse(reader.read_exact, mask=False, max_size=None, extensions=[])
        with pytest.raises(StopIteration) as stop:
            next(gen)
        frames.append(stop.value.value)
    return frames


def feed_all(chunks: Iterable[bytes], max_size: int = ws.DEFAULT_MAX_SIZE) -> list[Event]:
    parser = FrameParser(max_size)
    return [event for chunk in chunks for event in parser.feed(chunk)]


def outcome(chunks: Iterable[bytes], max_size: int) -> tuple[list[Event], int | None]:
    """Events up to the first violation and its close code (None: no violation)."""
    parser = FrameParser(max_size)
    events: list[Event] = []
    for chunk in chunks:
        try:
            events += parser.feed(chunk)
        except ProtocolViolation as exc:
            assert parser.closed
            return events + exc.events, exc.code
    return events, None


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def violation(data: bytes, max_size: int = ws.DEFAULT_MAX_SIZE) -> ProtocolViolation:
    parser = FrameParser(max_size)
    with pytest.raises(ProtocolViolation) as info:
        parser.feed(data)
    assert parser.closed
    assert parser.feed(frame(OP_TEXT, b"after")) == []
    return info.value


# --------------------------------------------------------------- RFC 6455 §5.7 examples


def test_rfc_single_frame_unmasked_text() -> None:
    assert text_frame(b"Hello") == bytes.fromhex("810548656c6c6f")


def test_rfc_single_frame_masked_text() -> None:
    data = bytes.fromhex("818537fa213d7f9f4d5158")
    assert FrameParser().feed(data) == [Message(OP_TEXT, b"Hello")]


def test_rfc_fragmented_unmasked_text() -> None:
    first = encode_frame(OP_TEXT, b"Hel", fin=False)
    second = encode_frame(OP_CONTINUATION, b"lo")
    assert first + second == bytes.fromhex("010348656c80026c6f")


def test_rfc_fragmented_masked_text() -> None:
    data = frame(OP_TEXT, b"Hel", fin=False) + frame(OP_CONTINUATION, b"lo")
    assert FrameParser().feed(data) == [Message(OP_TEXT, b"Hello")]


def test_rfc_ping_and_masked_pong() -> None:
    assert ping_frame(b"Hello") == bytes.fromhex("890548656c6c6f")
    assert pong_frame(b"Hello") == bytes.fromhex("8a0548656c6c6f")
    masked_pong = bytes.fromhex("8a8537fa213d7f9f4d5158")
    assert FrameParser().feed(masked_pong) == [Pong(b"Hello")]


def test_rfc_256_bytes_binary() -> None:
    payload = os.urandom(256)
    assert binary_frame(payload) == bytes.fromhex("827e0100") + payload
    assert FrameParser().feed(frame(OP_BINARY, payload)) == [Message(OP_BINARY, payload)]


def test_rfc_64k_binary() -> None:
    payload = os.urandom(65536)
    assert binary_frame(payload) == bytes.fromhex("827f0000000000010000") + payload
    assert FrameParser().feed(frame(OP_BINARY, payload)) == [Message(OP_BINARY, payload)]


# --------------------------------------------------------------------------- encoding


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, OP_CONTINUATION])
@pytest.mark.parametrize("fin", [True, False])
def test_encode_frame_parsed_by_websockets(size: int, opcode: int, fin: bool) -> None:
    payload = b"a" * size
    (parsed,) = ws_parse(encode_frame(opcode, payload, fin=fin))
    assert (parsed.opcode, parsed.data, parsed.fin) == (opcode, payload, fin)
    assert not (parsed.rsv1 or parsed.rsv2 or parsed.rsv3)


def test_encode_frame_accepts_bytearray() -> None:
    data = encode_frame(OP_BINARY, bytearray(b"ab"))
    assert type(data) is bytes and data == b"\x82\x02ab"


def test_control_helpers_parsed_by_websockets() -> None:
    frames = ws_parse(ping_frame() + pong_frame(b"x" * 125) + close_frame(1001, "bye"))
    assert [(f.opcode, f.data) for f in frames] == [
        (Opcode.PING, b""),
        (Opcode.PONG, b"x" * 125),
        (Opcode.CLOSE, b"\x03\xe9bye"),
    ]


@pytest.mark.parametrize("helper", [ping_frame, pong_frame])
def test_control_payload_over_125_refused(helper: object) -> None:
    with pytest.raises(ValueError, match="125"):
        helper(b"x" * 126)  # type: ignore[operator]


def test_close_frame_plain() -> None:
    assert close_frame(1000) == b"\x88\x02\x03\xe8"
    assert close_frame(4010, "slow") == b"\x88\x06\x0f\xaaslow"


@pytest.mark.parametrize("reason", ["é" * 100, "a" + "€" * 60, "x" * 200, "😀" * 40])
def test_close_frame_reason_truncated_utf8_safe(reason: str) -> None:
    data = close_frame(1000, reason)
    payload = data[2:]
    assert data[1] == len(payload) <= 125
    assert reason.startswith(payload[2:].decode())
    assert len(payload) > 120  # cut at most one character short


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2999, 5000])
def test_close_frame_invalid_code_refused(code: int) -> None:
    with pytest.raises(ValueError, match="cannot be sent"):
        close_frame(code)


def test_is_valid_close_code() -> None:
    valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
    invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]
    assert all(is_valid_close_code(code) for code in valid)
    assert not any(is_valid_close_code(code) for code in invalid)


# ------------------------------------------------------------------- decoding, valid


@pytest.mark.parametrize("size", [0, 1, 2, 125, 126, 200, 65535, 65536, 100_000])
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_parse_websockets_client_frames(size: int, opcode: Opcode) -> None:
    payload = b"z" * size
    data = ws_client_frame(opcode, payload)
    assert FrameParser().feed(data) == [Message(opcode, payload)]
    assert feed_all(split(data, [1, 2, 5, 9, 13, 300])) == [Message(opcode, payload)]


def test_parse_byte_by_byte() -> None:
    data = ws_client_frame(Opcode.TEXT, "你好, world".encode()) + ws_client_frame(Opcode.PING, b"p")
    chunks = [data[i : i + 1] for i in range(len(data))]
    assert feed_all(chunks) == [Message(OP_TEXT, "你好, world".encode()), Ping(b"p")]


def test_every_split_point_of_every_length_form() -> None:
    data = b"".join(
        [
            frame(OP_TEXT, b"short"),
            frame(OP_BINARY, b"m" * 130),
            frame(OP_BINARY, b"l" * 70, length_bytes=8),
            frame(OP_TEXT, b"x", fin=False),
            frame(OP_PING, b"ping"),
            frame(OP_CONTINUATION, b"y" * 126),
            frame(OP_CLOSE, b"\x03\xe8"),
        ]
    )
    expected = [
        Message(OP_TEXT, b"short"),
        Message(OP_BINARY, b"m" * 130),
        Message(OP_BINARY, b"l" * 70),
        Ping(b"ping"),
        Message(OP_TEXT, b"x" + b"y" * 126),
        Close(1000, ""),
    ]
    assert feed_all([data]) == expected
    assert feed_all([data[i : i + 1] for i in range(len(data))]) == expected
    for cut in range(len(data)):
        assert feed_all([data[:cut], data[cut:]]) == expected


def test_fragmented_with_interleaved_control_frames() -> None:
    data = b"".join(
        [
            ws_client_frame(Opcode.BINARY, b"ab", fin=False),
            ws_client_frame(Opcode.PING, b"1"),
            ws_client_frame(Opcode.CONT, b"", fin=False),
            ws_client_frame(Opcode.PONG, b"2"),
            ws_client_frame(Opcode.CONT, b"cd"),
            ws_client_frame(Opcode.TEXT, b"next"),
        ]
    )
    expected = [Ping(b"1"), Pong(b"2"), Message(OP_BINARY, b"abcd"), Message(OP_TEXT, b"next")]
    assert FrameParser().feed(data) == expected


def test_fragmented_text_utf8_split_across_fragments() -> None:
    text = "é€😀".encode()
    data = frame(OP_TEXT, text[:1], fin=False) + frame(OP_CONTINUATION, text[1:])
    assert FrameParser().feed(data) == [Message(OP_TEXT, text)]


def test_non_ascii_text_through_fast_path_shape() -> None:
    text = "Grüße aus Peking 北京".encode()
    assert FrameParser().feed(frame(OP_TEXT, text + b" " * 10)) == [
        Message(OP_TEXT, text + b" " * 10)
    ]


def test_binary_payload_not_validated_as_utf8() -> None:
    assert FrameParser().feed(frame(OP_BINARY, b"\xff\xfe\x00\x01")) == [
        Message(OP_BINARY, b"\xff\xfe\x00\x01")
    ]


def test_payload_is_bytes() -> None:
    (event,) = FrameParser().feed(frame(OP_TEXT, b"hello there"))
    assert isinstance(event, Message) and type(event.payload) is bytes


@pytest.mark.parametrize("length_bytes", [2, 8])
def test_non_minimal_lengths_accepted(length_bytes: int) -> None:
    data = frame(OP_TEXT, b"hi", length_bytes=length_bytes)
    assert FrameParser().feed(data) == [Message(OP_TEXT, b"hi")]


def test_empty_and_small_frames() -> None:
    data = frame(OP_TEXT, b"") + frame(OP_BINARY, b"x") + frame(OP_PING)
    assert FrameParser().feed(data) == [Message(OP_TEXT, b""), Message(OP_BINARY, b"x"), Ping(b"")]


def test_empty_feed() -> None:
    parser = FrameParser()
    assert parser.feed(b"") == []
    assert parser._buf is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", Close(None, "")),
        (b"\x03\xe8", Close(1000, "")),
        (b"\x0f\xaaslow consumer", Close(4010, "slow consumer")),
        (b"\x03\xe9" + "再见".encode(), Close(1001, "再见")),
        (b"\x03\xf4", Close(1012, "")),
        (b"\x0b\xb8", Close(3000, "")),
    ],
)
def test_close_events(payload: bytes, expected: Close) -> None:
    parser = FrameParser()
    assert parser.feed(frame(OP_CLOSE, payload) + frame(OP_TEXT, b"ignored")) == [expected]
    assert parser.closed
    assert parser._buf is None
    assert parser.feed(frame(OP_TEXT, b"more")) == []


def test_close_via_websockets_oracle() -> None:
    data = ws_client_frame(Opcode.CLOSE, b"\x03\xe8done")
    assert FrameParser().feed(data) == [Close(1000, "done")]


def test_close_ends_fragmented_message() -> None:
    parser = FrameParser()
    data = frame(OP_TEXT, b"part", fin=False) + frame(OP_CLOSE, b"\x03\xe9")
    assert parser.feed(data) == [Close(1001, "")]
    assert parser._frag is None


def test_exact_max_size_accepted() -> None:
    payload = b"m" * 300
    assert FrameParser(300).feed(frame(OP_BINARY, payload)) == [Message(OP_BINARY, payload)]
    data = frame(OP_BINARY, payload[:100], fin=False) + frame(OP_CONTINUATION, payload[100:])
    assert FrameParser(300).feed(data) == [Message(OP_BINARY, payload)]


# ------------------------------------------------------------------ buffer and state


def test_idle_parser_holds_no_buffer() -> None:
    parser = FrameParser()
    assert not hasattr(parser, "__dict__")
    assert parser._buf is None
    parser.feed(frame(OP_TEXT, b"hello world"))
    assert parser._buf is None and parser._frag is None
    assert sys.getsizeof(parser) <= 72


def test_partial_frame_buffered_then_freed() -> None:
    one, two, three = (frame(OP_TEXT, b"message %d" % i) for i in range(3))
    parser = FrameParser()
    assert parser.feed(one + two[:3]) == [Message(OP_TEXT, b"message 0")]
    assert parser._buf == bytearray(two[:3])
    assert parser.feed(two[3:] + three[:1]) == [Message(OP_TEXT, b"message 1")]
    assert parser._buf == bytearray(three[:1])
    assert parser.feed(three[1:]) == [Message(OP_TEXT, b"message 2")]
    assert parser._buf is None


def test_fragment_accumulator_freed_after_message() -> None:
    parser = FrameParser()
    parser.feed(frame(OP_BINARY, b"a", fin=False))
    assert parser._frag == bytearray(b"a")
    assert parser.feed(frame(OP_CONTINUATION, b"b")) == [Message(OP_BINARY, b"ab")]
    assert parser._frag is None
    assert parser._opcode == 0


def test_max_size_attribute() -> None:
    assert FrameParser().max_size == ws.DEFAULT_MAX_SIZE == 1 << 20
    assert FrameParser(10).max_size == 10


# ------------------------------------------------------------------------ violations


def test_unmasked_client_frame() -> None:
    exc = violation(frame(OP_TEXT, b"Hello", masked=False))
    assert exc.code == CLOSE_PROTOCOL_ERROR
    assert "masked" in exc.reason


def test_unmasked_medium_frame() -> None:
    assert violation(frame(OP_BINARY, b"x" * 200, masked=False)).code == CLOSE_PROTOCOL_ERROR


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
def test_reserved_bits(rsv: int) -> None:
    exc = violation(frame(OP_TEXT, b"deflated?", rsv=rsv))
    assert (exc.code, exc.reason) == (CLOSE_PROTOCOL_ERROR, "reserved bits must be 0")


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcodes(opcode: int) -> None:
    exc = violation(frame(opcode, b"?"))
    assert exc.code == CLOSE_PROTOCOL_ERROR
    assert "opcode" in exc.reason


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_fragmented_control_frame(opcode: int) -> None:
    exc = violation(frame(opcode, b"", fin=False))
    assert (exc.code, exc.reason) == (CLOSE_PROTOCOL_ERROR, "fragmented control frame")


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_control_frame_too_long(opcode: int) -> None:
    exc = violation(frame(opcode, b"\x03\xe8" + b"x" * 124)[:4])  # header is enough
    assert exc.code == CLOSE_PROTOCOL_ERROR
    assert "125" in exc.reason


def test_continuation_without_start() -> None:
    exc = violation(frame(OP_CONTINUATION, b"orphan"))
    assert (exc.code, exc.reason) == (CLOSE_PROTOCOL_ERROR, "continuation without a message")


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_new_data_frame_during_fragmentation(opcode: int) -> None:
    exc = violation(frame(OP_TEXT, b"a", fin=False) + frame(opcode, b"b"))
    assert exc.code == CLOSE_PROTOCOL_ERROR
    assert "fragmented" in exc.reason


def test_close_payload_of_one_byte() -> None:
    assert violation(frame(OP_CLOSE, b"\x03")).code == CLOSE_PROTOCOL_ERROR


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_invalid_close_codes(code: int) -> None:
    exc = violation(frame(OP_CLOSE, struct.pack("!H", code)))
    assert (exc.code, exc.reason) == (CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")


def test_close_reason_invalid_utf8() -> None:
    assert violation(frame(OP_CLOSE, b"\x03\xe8\xff")).code == CLOSE_INVALID_DATA


@pytest.mark.parametrize(
    "payload", [b"\xff", b"abc\xc3", b"\xed\xa0\x80", b"x" * 200 + b"\xc0\xaf", b"\xe2\x82"]
)
def test_invalid_utf8_text(payload: bytes) -> None:
    exc = violation(frame(OP_TEXT, payload))
    assert (exc.code, exc.reason) == (CLOSE_INVALID_DATA, "invalid UTF-8 in text message")


def test_invalid_utf8_fragmented_text_checked_on_whole_message() -> None:
    parser = FrameParser()
    assert parser.feed(frame(OP_TEXT, b"ok \xe2", fin=False)) == []
    with pytest.raises(ProtocolViolation) as info:
        parser.feed(frame(OP_CONTINUATION, b"\x82"))  # still one byte short
    assert info.value.code == CLOSE_INVALID_DATA


@pytest.mark.parametrize("length_bytes", [0, 2, 8])
def test_frame_too_big_raised_from_header(length_bytes: int) -> None:
    data = frame(OP_BINARY, b"x" * 101, length_bytes=length_bytes)
    header = data[: {0: 2, 2: 4, 8: 10}[length_bytes]]
    exc = violation(header, max_size=100)
    assert exc.code == CLOSE_MESSAGE_TOO_BIG
    assert "101" in exc.reason


def test_huge_64bit_length_raised_from_header() -> None:
    header = frame(OP_BINARY, length=1 << 40, length_bytes=8)[:10]
    assert violation(header).code == CLOSE_MESSAGE_TOO_BIG


def test_64bit_length_with_top_bit() -> None:
    header = frame(OP_BINARY, length=1 << 63, length_bytes=8)[:10]
    assert violation(header).code == CLOSE_PROTOCOL_ERROR


def test_fragmented_message_too_big() -> None:
    parser = FrameParser(100)
    assert parser.feed(frame(OP_TEXT, b"a" * 60, fin=False)) == []
    assert parser.feed(frame(OP_PING, b"p" * 50)) == [Ping(b"p" * 50)]  # not counted
    with pytest.raises(ProtocolViolation) as info:
        parser.feed(frame(OP_CONTINUATION, b"b" * 41)[:2])
    assert info.value.code == CLOSE_MESSAGE_TOO_BIG
    assert parser._frag is None and parser._buf is None


def test_control_frame_larger_than_small_max_size() -> None:
    assert violation(frame(OP_PING, b"p" * 20), max_size=10).code == CLOSE_MESSAGE_TOO_BIG


@pytest.mark.parametrize("size", [11, 200])
def test_fast_path_respects_max_size(size: int) -> None:
    assert violation(frame(OP_TEXT, b"t" * size), max_size=10).code == CLOSE_MESSAGE_TOO_BIG


def test_violation_carries_earlier_events() -> None:
    parser = FrameParser()
    data = frame(OP_TEXT, b"first") + frame(OP_PING, b"p") + frame(OP_TEXT, b"x", masked=False)
    with pytest.raises(ProtocolViolation) as info:
        parser.feed(data)
    assert info.value.events == [Message(OP_TEXT, b"first"), Ping(b"p")]
    assert ProtocolViolation(1002, "fresh").events == []


def test_exception_hierarchy() -> None:
    assert issubclass(ProtocolViolation, ws.WebSocketError)
    assert issubclass(ws.HandshakeError, ws.WebSocketError)
    exc = ProtocolViolation(1009, "too big")
    assert (exc.code, exc.reason, exc.args) == (1009, "too big", (1009, "too big"))


# ------------------------------------------------------------------------ unmasking


@given(st.binary(max_size=2000), st.binary(min_size=4, max_size=4))
def test_python_mask_fallback_matches_speedups(data: bytes, key: bytes) -> None:
    assert ws._py_apply_mask(data, key) == c_apply_mask(data, key)


def test_module_without_speedups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "websockets.speedups", None)
    spec = importlib.util.spec_from_file_location("_ws_no_speedups", ws.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._apply_mask is module._py_apply_mask
    assert module.FrameParser().feed(bytes.fromhex("818537fa213d7f9f4d5158")) == [
        module.Message(OP_TEXT, b"Hello")
    ]


# --------------------------------------------------------------------------- properties

OPCODES = st.sampled_from([0, 1, 2, 8, 9, 10, 0, 1, 2, 9, 3, 11])


@st.composite
def frameish(draw: st.DrawFn) -> bytes:
    """Mostly plausible client frames, breaking one rule or another now and then."""
    opcode = draw(OPCODES)
    if opcode == OP_CLOSE and draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1005, 3000, 4999, 5000]))
        payload = struct.pack("!H", code) + draw(st.binary(max_size=8))
    elif opcode == OP_TEXT and draw(st.booleans()):
        payload = draw(st.text(max_size=50)).encode()
    else:
        payload = draw(st.binary(max_size=140))
    return frame(
        opcode,
        payload,
        fin=draw(st.booleans()) or opcode >= 8,
        rsv=draw(st.sampled_from([0, 0, 0, 0, 0, 1, 4])),
        masked=draw(st.integers(0, 9)) > 0,
        key=draw(st.binary(min_size=4, max_size=4)),
        length_bytes=draw(st.sampled_from([None, None, None, 2, 8])),
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(frameish(), max_size=6),
    st.binary(max_size=20),
    st.lists(st.integers(0, 10_000), max_size=12),
    st.sampled_from([50, 200, 1000]),
)
def test_chunking_never_changes_outcome(
    frames: list[bytes], tail: bytes, cuts: list[int], max_size: int
) -> None:
    data = b"".join(frames) + tail
    assert outcome(split(data, cuts), max_size) == outcome([data], max_size)


@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=8))
def test_arbitrary_bytes_raise_only_protocol_violation(data: bytes, cuts: list[int]) -> None:
    outcome(split(data, cuts), 100)  # any other exception fails the test


@given(st.binary(max_size=400).map(lambda b: bytes([b[0] | 0x80, *b[1:]]) if b else b))
def test_masked_garbage_raises_only_protocol_violation(data: bytes) -> None:
    if len(data) > 1:
        data = data[:1] + bytes([data[1] | 0x80]) + data[2:]
    outcome([data], 200)


@st.composite
def valid_stream(draw: st.DrawFn) -> tuple[bytes, list[Event]]:
    """A valid client stream built by `websockets`, and the events it must yield."""
    chunks: list[bytes] = []
    events: list[Event] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["text", "binary", "ping", "pong"]))
        if kind in ("ping", "pong"):
            payload = draw(st.binary(max_size=125))
            opcode = Opcode.PING if kind == "ping" else Opcode.PONG
            chunks.append(ws_client_frame(opcode, payload))
            events.append(Ping(payload) if kind == "ping" else Pong(payload))
            continue
        is_text = kind == "text"
        payload = draw(st.text(max_size=200)).encode() if is_text else draw(st.binary(max_size=700))
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
        parts = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        for i, part in enumerate(parts):
            opcode = (Opcode.TEXT if is_text else Opcode.BINARY) if i == 0 else Opcode.CONT
            chunks.append(ws_client_frame(opcode, part, fin=i == len(parts) - 1))
            if i < len(parts) - 1 and draw(st.booleans()):
                chunks.append(ws_client_frame(Opcode.PING, b"mid"))
                events.append(Ping(b"mid"))
        events.append(Message(OP_TEXT if is_text else OP_BINARY, payload))
    if draw(st.booleans()):
        reason = draw(st.text(max_size=20))
        chunks.append(ws_client_frame(Opcode.CLOSE, b"\x0f\xa0" + reason.encode()))
        events.append(Close(4000, reason))
    return b"".join(chunks), events


@settings(max_examples=300)
@given(valid_stream(), st.lists(st.integers(0, 100_000), max_size=15))
def test_valid_stream_any_split_yields_expected_events(
    stream: tuple[bytes, list[Event]], cuts: list[int]
) -> None:
    data, expected = stream
    assert feed_all([data]) == expected
    assert feed_all(split(data, cuts)) == expected


@given(
    st.sampled_from([OP_TEXT, OP_BINARY, OP_CONTINUATION, OP_PING, OP_PONG]),
    st.binary(max_size=70_000).filter(lambda b: len(b) != 0) | st.just(b""),
    st.booleans(),
)
@settings(max_examples=50)
def test_encode_frame_round_trip_via_websockets(opcode: int, payload: bytes, fin: bool) -> None:
    if opcode >= 8:
        payload, fin = payload[:125], True
    (parsed,) = ws_parse(encode_frame(opcode, payload, fin=fin))
    assert (parsed.opcode, parsed.data, parsed.fin) == (opcode, payload, fin)


def test_layer_never_imports_asyncio() -> None:
    code = (
        "import sys, hub.protocol.websocket, hub.protocol.handshake; "
        "assert 'asyncio' not in sys.modules, 'asyncio imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
