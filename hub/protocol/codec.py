"""The two wire codecs: ``hub.v1.json`` (text frames) and ``hub.v1.msgpack`` (binary frames).

Both encode the same maps. Decoding never raises anything but :class:`DecodeError`;
encoding is done once per broadcast per codec by the caller, never per subscriber.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Final

import msgpack
import orjson

__all__ = [
    "JSON",
    "MSGPACK",
    "SUBPROTOCOLS",
    "Codec",
    "DecodeError",
    "codec_for",
]


class DecodeError(ValueError):
    """A frame could not be decoded by the connection's codec."""


class Codec(ABC):
    """One wire format: a name, whether its frames are binary, and encode/decode."""

    __slots__ = ("binary", "index", "name")

    def __init__(self, name: str, binary: bool, index: int) -> None:
        self.name = name
        self.binary = binary
        self.index = index  # position in per-codec caches (0 json, 1 msgpack)

    @abstractmethod
    def encode(self, obj: Any) -> bytes: ...

    @abstractmethod
    def decode(self, data: bytes) -> Any:
        """Decode one frame's payload; raise :class:`DecodeError` on bad input."""

    def __repr__(self) -> str:
        return f"<Codec {self.name}>"


class _Json(Codec):
    __slots__ = ()

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"invalid JSON: {exc.msg}") from None


_unpack_kwargs: Final = {
    "raw": False,
    "strict_map_key": True,
}


class _Msgpack(Codec):
    __slots__ = ()

    def encode(self, obj: Any) -> bytes:
        return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]

    def decode(self, data: bytes) -> Any:
        try:
            return msgpack.unpackb(data, **_unpack_kwargs)
        except Exception as exc:  # msgpack raises many unrelated types on bad input
            raise DecodeError(f"invalid MessagePack: {type(exc).__name__}") from None


JSON: Final[Codec] = _Json("hub.v1.json", False, 0)
MSGPACK: Final[Codec] = _Msgpack("hub.v1.msgpack", True, 1)
SUBPROTOCOLS: Final = (JSON.name, MSGPACK.name)
_BY_NAME: Final = {JSON.name: JSON, MSGPACK.name: MSGPACK}


def codec_for(subprotocol: str | None) -> Codec:
    """The codec of a negotiated subprotocol; JSON when none was negotiated."""
    return _BY_NAME.get(subprotocol or "", JSON)
