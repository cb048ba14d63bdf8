"""Alibaba Cloud signing: ACS3-HMAC-SHA256 (V3) and the legacy RPC HMAC-SHA1 (V2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ...core.signing import parse_authorization, percent_encode, sha256_hex

__all__ = [
    "V3_ALGORITHM",
    "V3Signature",
    "canonical_query",
    "parse_v3_authorization",
    "sign_v3",
    "v2_signature",
    "v2_string_to_sign",
]

V3_ALGORITHM = "ACS3-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class V3Signature:
    canonical_request: str
    string_to_sign: str
    signed_headers: str
    signature: str
    authorization: str


def canonical_query(params: Mapping[str, str]) -> str:
    """Sorted by name, both sides RFC 3986-encoded, ``name=`` for empty values."""
    return "&".join(
        f"{percent_encode(name)}={percent_encode(params[name])}" for name in sorted(params)
    )


def _signable(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in ("host", "content-type") or lower.startswith("x-acs-"):
            grouped.setdefault(lower, []).append(value.strip())
    return {name: ",".join(sorted(values)) for name, values in grouped.items()}


def sign_v3(
    *,
    access_key_id: str,
    access_key_secret: str,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Iterable[tuple[str, str]],
    payload_hash: str,
) -> V3Signature:
    """Sign a request; ``headers`` are the headers sent (``host``, ``x-acs-*``...)."""
    signable = _signable(headers)
    names = sorted(signable)
    canonical_headers = "".join(f"{name}:{signable[name]}\n" for name in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        [
            method.upper(),
            path,
            canonical_query(query),
            canonical_headers,
            signed_headers,
            payload_hash,
        ]
    )
    string_to_sign = f"{V3_ALGORITHM}\n{sha256_hex(canonical_request.encode('utf-8'))}"
    signature = hmac.new(
        access_key_secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    authorization = (
        f"{V3_ALGORITHM} Credential={access_key_id},"
        f"SignedHeaders={signed_headers},Signature={signature}"
    )
    return V3Signature(canonical_request, string_to_sign, signed_headers, signature, authorization)


def parse_v3_authorization(value: str) -> dict[str, str] | None:
    """``ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`` → its parts."""
    return parse_authorization(value, V3_ALGORITHM)


def v2_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """``METHOD&%2F&percentEncode(canonicalized query)``; ``Signature`` excluded."""
    filtered = {k: v for k, v in params.items() if k != "Signature"}
    return f"{method.upper()}&%2F&{percent_encode(canonical_query(filtered))}"


def v2_signature(access_key_secret: str, method: str, params: Mapping[str, str]) -> str:
    """Base64(HMAC-SHA1(secret + "&", string to sign))."""
    digest = hmac.new(
        (access_key_secret + "&").encode("utf-8"),
        v2_string_to_sign(method, params).encode("utf-8"),
        hashlib.sha1,
    ).digest()
    return base64.b64encode(digest).decode("ascii")
