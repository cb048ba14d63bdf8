"""HTTP/1.1 upgrade: hub.protocol.handshake, checked against RFC 6455 and `websockets`."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from hub.protocol.handshake import (
    MAX_HEAD_SIZE,
    Request,
    accept_key,
    accept_response,
    error_response,
    is_websocket_upgrade,
    parse_request_head,
)
from hub.protocol.websocket import HandshakeError

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
UPGRADE = (
    "GET /ws?token=abc HTTP/1.1\r\n"
    "Host: hub.example\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\n"
    "Sec-WebSocket-Version: 13\r\n"
)


def head(*extra: str, base: str = UPGRADE) -> bytes:
    return (base + "".join(line + "\r\n" for line in extra) + "\r\n").encode()


def request(*extra: str, base: str = UPGRADE) -> Request:
    req, consumed = parse_request_head(head(*extra, base=base))
    assert req is not None and consumed == req.consumed
    return req


def refused(data: bytes, max_size: int = MAX_HEAD_SIZE) -> HandshakeError:
    with pytest.raises(HandshakeError) as info:
        parse_request_head(data, max_size)
    return info.value


def response_headers(response: bytes) -> tuple[str, dict[str, str], bytes]:
    raw_head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = raw_head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, body


# ------------------------------------------------------------------------- accept key


def test_rfc_accept_key_example() -> None:
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_accept_response_rfc_example() -> None:
    response, chosen = accept_response(request(), ["json"], "json")
    assert chosen == "json"
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )


# ------------------------------------------------------------ websockets client oracle


def client_handshake(
    offered: list[str] | None, supported: list[str], default: str | None
) -> tuple[ClientProtocol, str | None]:
    client = ClientProtocol(
        parse_uri("ws://hub.example:8080/ws?token=a%2Bb&token=2&lang=zh"),
        subprotocols=[Subprotocol(p) for p in offered] if offered else None,
        extensions=[ClientPerMessageDeflateFactory()],
    )
    client.send_request(client.connect())
    data = client.data_to_send()[0]
    req, consumed = parse_request_head(data + b"first frame bytes")
    assert req is not None and consumed == len(data)
    assert req.path == "/ws"
    assert req.query == {"token": "a+b", "lang": "zh"}
    assert is_websocket_upgrade(req)
    response, chosen = accept_response(req, supported, default)
    client.receive_data(response)
    return client, chosen


def test_websockets_client_accepts_our_response() -> None:
    client, chosen = client_handshake(None, ["msgpack"], "json")
    assert client.state is State.OPEN
    assert client.handshake_exc is None
    assert chosen == "json"
    assert client.subprotocol is None
    assert client.extensions == []  # permessage-deflate offer ignored


def test_websockets_client_gets_preferred_subprotocol() -> None:
    client, chosen = client_handshake(["msgpack", "json"], ["json", "msgpack"], "json")
    assert client.state is State.OPEN
    assert chosen == client.subprotocol == "msgpack"


def test_websockets_client_offering_unknown_subprotocols() -> None:
    client, chosen = client_handshake(["mqtt", "stomp"], ["json", "msgpack"], "json")
    assert client.state is State.OPEN
    assert chosen == "json"
    assert client.subprotocol is None


# ----------------------------------------------------------------- subprotocol choice


@pytest.mark.parametrize(
    ("offered", "supported", "default", "chosen", "echoed"),
    [
        (None, ["json", "msgpack"], "json", "json", None),
        ("msgpack", ["json", "msgpack"], "json", "msgpack", "msgpack"),
        ("json, msgpack", ["msgpack", "json"], None, "json", "json"),
        (" , msgpack ,json", ["json", "msgpack"], "json", "msgpack", "msgpack"),
        ("mqtt", ["json"], "json", "json", None),
        ("mqtt", ["json"], None, None, None),
        ("", ["json"], None, None, None),
        ("JSON", ["json"], None, None, None),  # subprotocols are case-sensitive
    ],
)
def test_subprotocol_choice(
    offered: str | None,
    supported: list[str],
    default: str | None,
    chosen: str | None,
    echoed: str | None,
) -> None:
    extra = [] if offered is None else [f"Sec-WebSocket-Protocol: {offered}"]
    response, result = accept_response(request(*extra), supported, default)
    _, headers, _ = response_headers(response)
    assert result == chosen
    assert headers.get("Sec-WebSocket-Protocol") == echoed


def test_repeated_protocol_headers_joined() -> None:
    req = request("Sec-WebSocket-Protocol: mqtt", "Sec-WebSocket-Protocol: msgpack")
    assert req.headers["sec-websocket-protocol"] == "mqtt, msgpack"
    assert accept_response(req, ["msgpack"], None)[1] == "msgpack"


def test_extensions_never_negotiated() -> None:
    req = request("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    response, _ = accept_response(req, [], None)
    assert b"Extensions" not in response


# --------------------------------------------------------------------- upgrade checks


def test_is_websocket_upgrade() -> None:
    assert is_websocket_upgrade(request())
    assert is_websocket_upgrade(
        request(
            base="GET / HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n"
            "Connection: keep-alive, Upgrade\r\n"
        )
    )
    assert not is_websocket_upgrade(request(base="GET / HTTP/1.1\r\nHost: h\r\n"))
    post = UPGRADE.replace("GET", "POST", 1)
    assert not is_websocket_upgrade(request(base=post))
    no_conn = UPGRADE.replace("Connection: Upgrade", "Connection: keep-alive")
    assert not is_websocket_upgrade(request(base=no_conn))
    h2c = UPGRADE.replace("Upgrade: websocket", "Upgrade: h2c")
    assert not is_websocket_upgrade(request(base=h2c))


def test_connection_token_list() -> None:
    base = UPGRADE.replace("Connection: Upgrade", "Connection: keep-alive,  UPGRADE ")
    response, _ = accept_response(request(base=base), [], None)
    assert response.startswith(b"HTTP/1.1 101 ")


@pytest.mark.parametrize(
    ("old", "new", "status", "message"),
    [
        ("GET", "POST", 400, "GET"),
        ("Upgrade: websocket", "Upgrade: h2c", 426, "Upgrade"),
        ("Upgrade: websocket", "X-Upgrade: websocket", 426, "Upgrade"),
        ("Connection: Upgrade", "Connection: close", 426, "Connection"),
        ("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8", 426, "Version"),
        ("Sec-WebSocket-Version: 13", "X: 1", 426, "Version"),
        (f"Sec-WebSocket-Key: {KEY}", "X: 1", 400, "Key"),
        (KEY, "not base64!", 400, "Key"),
        (KEY, base64.b64encode(b"x" * 15).decode(), 400, "Key"),
        (KEY, base64.b64encode(b"x" * 17).decode(), 400, "Key"),
        (KEY, "dGhlIHNhbXBsZSBub25jZQ", 400, "Key"),  # missing padding
        (KEY, "dGhlIHNhbXBsZSBub25jZQ==é", 400, "Key"),
        (KEY, f"{KEY}\r\nSec-WebSocket-Key: {KEY}", 400, "Key"),  # repeated
    ],
)
def test_invalid_upgrade(old: str, new: str, status: int, message: str) -> None:
    req, _ = parse_request_head(
        head(base=UPGRADE.replace(old, new, 1)).decode("utf-8").encode("latin-1")
    )
    assert req is not None
    with pytest.raises(HandshakeError) as info:
        accept_response(req, ["json"], "json")
    assert info.value.status == status
    assert message in info.value.message


# ---------------------------------------------------------------------- head parsing


def test_parse_fields() -> None:
    data = (
        b"GET /a%20b/c?x=1&x=2&name=%E5%BC%A0%E4%B8%89&empty=&flag&plus=a+b HTTP/1.1\r\n"
        b"host: hub.example\r\n"
        b"X-Multi: one\r\n"
        b"x-multi:two\r\n"
        b"X-Spaces: \t padded value \t\r\n"
        b"X-Empty:\r\n"
        b"X-Latin: caf\xe9\r\n"
        b"\r\n"
        b"GET /next"
    )
    req, consumed = parse_request_head(data)
    assert req is not None
    assert consumed == req.consumed == data.index(b"GET /next")
    assert req.method == "GET"
    assert req.target == "/a%20b/c?x=1&x=2&name=%E5%BC%A0%E4%B8%89&empty=&flag&plus=a+b"
    assert req.path == "/a b/c"
    assert req.query == {"x": "1", "name": "张三", "empty": "", "flag": "", "plus": "a b"}
    assert req.headers == {
        "host": "hub.example",
        "x-multi": "one, two",
        "x-spaces": "padded value",
        "x-empty": "",
        "x-latin": "café",
    }


def test_parse_bytearray_and_no_query() -> None:
    req, _ = parse_request_head(bytearray(b"OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n"))
    assert req is not None
    assert (req.method, req.target, req.path, req.query) == ("OPTIONS", "/", "/", {})


def test_incomplete_head() -> None:
    data = head()
    for end in range(len(data)):
        assert parse_request_head(data[:end]) == (None, 0)
    assert parse_request_head(data)[1] == len(data)


def test_head_at_size_limit() -> None:
    data = head()
    assert parse_request_head(data, max_size=len(data))[1] == len(data)
    assert refused(data, max_size=len(data) - 1).status == 431


def test_head_too_large_without_end() -> None:
    data = b"GET / HTTP/1.1\r\nX: " + b"a" * 100
    assert parse_request_head(data[:103], max_size=100) == (None, 0)
    exc = refused(data[:104], max_size=100)
    assert (exc.status, exc.message) == (431, "request head too large")


def test_default_limit_is_16_kib() -> None:
    assert MAX_HEAD_SIZE == 16384
    big = b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 17000
    assert refused(big).status == 431
    assert refused(big + b"\r\n\r\n").status == 431


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /\r\nHost: h\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b" / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET / http/1.1\r\nHost: h\r\n\r\n", 505),
        (b"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /\xe4 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost h\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n: h\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX: 1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400),
        (b"\r\n\r\n", 400),
    ],
)
def test_malformed_heads(data: bytes, status: int) -> None:
    assert refused(data).status == status


def test_tab_allowed_in_header_value() -> None:
    req, _ = parse_request_head(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\tb\r\n\r\n")
    assert req is not None and req.headers["x"] == "a\tb"


@given(st.binary(max_size=300))
def test_garbage_raises_only_handshake_error(data: bytes) -> None:
    try:
        parse_request_head(data + b"\r\n\r\n", max_size=200)
    except HandshakeError as exc:
        assert exc.status in (400, 431, 505)


@given(st.integers(0, len(head()) - 1), st.binary(min_size=1, max_size=8))
def test_mutated_upgrade_raises_only_handshake_error(at: int, junk: bytes) -> None:
    data = head()
    data = data[:at] + junk + data[at + len(junk) :]
    try:
        req, _ = parse_request_head(data)
        if req is not None:
            is_websocket_upgrade(req)
            accept_response(req, ["json"], "json")
    except HandshakeError as exc:
        assert exc.status in (400, 426, 431, 505)


@given(st.text(alphabet=st.characters(codec="latin-1"), max_size=60))
def test_any_header_value_text(value: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Value: " + value.encode("latin-1") + b"\r\n\r\n"
    try:
        req, _ = parse_request_head(data)
    except HandshakeError as exc:
        assert exc.status == 400
    else:
        assert req is not None
        assert req.headers["x-value"] == value.strip(" \t")


# -------------------------------------------------------------------- error responses


@pytest.mark.parametrize(
    ("status", "phrase", "code"),
    [
        (400, "Bad Request", 107),
        (403, "Forbidden", 103),
        (431, "Request Header Fields Too Large", 106),
        (503, "Service Unavailable", 108),
        (505, "HTTP Version Not Supported", 107),
        (599, "Error", 100),
    ],
)
def test_error_response(status: int, phrase: str, code: int) -> None:
    response = error_response(status, 'bad "thing" 中')
    status_line, headers, body = response_headers(response)
    assert status_line == f"HTTP/1.1 {status} {phrase}"
    assert headers["Connection"] == "close"
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body)
    assert json.loads(body) == {"error": {"code": code, "message": 'bad "thing" 中'}}
    assert "Sec-WebSocket-Version" not in headers


def test_error_response_426_names_the_upgrade() -> None:
    _, headers, body = response_headers(error_response(426, "upgrade required"))
    assert headers["Upgrade"] == "websocket"
    assert headers["Sec-WebSocket-Version"] == "13"
    assert json.loads(body)["error"]["code"] == 107


def test_error_response_readable_by_websockets_client() -> None:
    client = ClientProtocol(parse_uri("ws://h/ws"))
    client.send_request(client.connect())
    client.receive_data(error_response(403, "forbidden"))
    assert client.handshake_exc is not None
    response = client.events_received()[0]
    assert response.status_code == 403  # type: ignore[union-attr]
    assert isinstance(response.headers, Headers)  # type: ignore[union-attr]


def test_http_1_0_request_parses_without_host() -> None:
    req, _ = parse_request_head(b"GET /healthz HTTP/1.0\r\n\r\n")
    assert req is not None and req.version == "HTTP/1.0" and req.path == "/healthz"
    assert refused(b"GET / HTTP/1.1\r\n\r\n").status == 400  # 1.1 still needs Host


def test_upgrade_needs_http_1_1() -> None:
    req, _ = parse_request_head(head().replace(b"HTTP/1.1", b"HTTP/1.0", 1))
    assert req is not None and is_websocket_upgrade(req)
    with pytest.raises(HandshakeError) as info:
        accept_response(req, ["json"], "json")
    assert info.value.status == 426
