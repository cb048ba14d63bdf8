"""A thin aiohttp client: explicit bytes in, status/headers/bytes out, typed failures."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from yarl import URL

from ..errors import SendTimeoutError, TransientProviderError, TransportError
from ..masking import masked_logger

__all__ = ["HttpClient", "HttpResponse", "encode_json", "host_header"]

log = masked_logger("adapters.http")


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, non-ASCII unescaped: the exact bytes that get signed."""
    return orjson.dumps(value)


def host_header(url: URL) -> str:
    """The ``Host`` value aiohttp sends for ``url`` (port only when not the default)."""
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    if url.explicit_port is not None and not url.is_default_port():
        return f"{host}:{url.port}"
    return host


def _shown(url: URL) -> str:
    """A URL fit for logs: no query (tokens, keys and phone numbers live there)."""
    return str(url.with_query(None).with_fragment(None))


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self, provider: str) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise TransientProviderError(
                f"HTTP {self.status} with a body that is not JSON",
                provider=provider,
                code=f"http_{self.status}",
            ) from exc


class HttpClient:
    """One aiohttp session per adapter, created lazily inside the running loop."""

    def __init__(self, provider: str, *, timeout: float, connect_timeout: float) -> None:
        self._provider = provider
        self._timeout = aiohttp.ClientTimeout(
            total=timeout, sock_connect=min(connect_timeout, timeout)
        )
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> HttpResponse:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.request(
                method, url, headers=dict(headers or {}), data=body
            ) as response:
                payload = await response.read()
                return HttpResponse(response.status, dict(response.headers), payload)
        except TimeoutError as exc:
            log.warning("%s %s timed out", method, _shown(url))
            raise SendTimeoutError(
                f"no answer within {self._timeout.total:g}s; the provider may have accepted it",
                provider=self._provider,
                code="timeout",
            ) from exc
        except aiohttp.ClientError as exc:
            log.warning("%s %s failed: %s", method, _shown(url), type(exc).__name__)
            raise TransportError(
                f"connection failed: {type(exc).__name__}",
                provider=self._provider,
                code="connection_error",
            ) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
            await asyncio.sleep(0)
