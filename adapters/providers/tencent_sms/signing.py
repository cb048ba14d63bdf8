"""Tencent Cloud API 3.0 signing: TC3-HMAC-SHA256."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ...core.signing import hmac_sha256, parse_authorization, sha256_hex

__all__ = [
    "TC3_ALGORITHM",
    "TC3Signature",
    "parse_tc3_authorization",
    "sign_tc3",
    "signatures_equal",
    "utc_date",
]

TC3_ALGORITHM = "TC3-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class TC3Signature:
    canonical_request: str
    string_to_sign: str
    secret_date: bytes
    secret_service: bytes
    secret_signing: bytes
    signature: str
    authorization: str


def utc_date(timestamp: int) -> str:
    """The credential-scope date: the UTC date of the UNIX timestamp."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def sign_tc3(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    method: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload: bytes,
) -> TC3Signature:
    """Sign; ``headers`` maps names to values sent, ``signed_headers`` picks which."""
    lowered = {name.lower(): value for name, value in headers.items()}
    names = sorted(name.lower() for name in signed_headers)
    canonical_headers = "".join(f"{name}:{lowered[name].strip().lower()}\n" for name in names)
    signed = ";".join(names)
    canonical_request = "\n".join(
        [method.upper(), "/", query, canonical_headers, signed, sha256_hex(payload)]
    )
    date = utc_date(timestamp)
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [TC3_ALGORITHM, str(timestamp), scope, sha256_hex(canonical_request.encode("utf-8"))]
    )
    secret_date = hmac_sha256(("TC3" + secret_key).encode("utf-8"), date)
    secret_service = hmac_sha256(secret_date, service)
    secret_signing = hmac_sha256(secret_service, "tc3_request")
    signature = hmac_sha256(secret_signing, string_to_sign).hex()
    authorization = (
        f"{TC3_ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return TC3Signature(
        canonical_request,
        string_to_sign,
        secret_date,
        secret_service,
        secret_signing,
        signature,
        authorization,
    )


def parse_tc3_authorization(value: str) -> dict[str, str] | None:
    """Split a TC3 ``Authorization`` header into Credential, SignedHeaders, Signature."""
    return parse_authorization(value, TC3_ALGORITHM)


def signatures_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))
