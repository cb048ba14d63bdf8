"""Connection tokens (JWT): verify, mint, and the development-mode secrets.

A token's claims (PROTOCOL.md §6): ``sub`` (member id, required), ``exp``
(optional), ``name``, ``channels`` (extra channels; an entry
``{"channel": "...", "publish": true}`` grants publish too). Other claims are
kept in :attr:`Identity.claims` for the domain layer's authorizer.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import jwt

from hub.files import private_dir
from hub.protocol.errors import Code, HubError
from hub.protocol.names import validate_channel

__all__ = ["Identity", "TokenVerifier", "dev_secret", "parse_grants"]

log = logging.getLogger("hub.auth")

_MEMBER_MAX: Final = 128
_REGISTERED: Final = frozenset(
    {"sub", "exp", "iat", "nbf", "name", "channels", "iss", "aud", "jti"}
)
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_SUB_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-:@")


@dataclass(slots=True, frozen=True)
class Identity:
    """Who a connection or API call acts as."""

    member: str
    name: str | None = None
    exp: float | None = None
    grants: Mapping[str, bool] = field(default_factory=dict)  # channel -> may publish
    claims: Mapping[str, Any] = field(default_factory=dict)


def _valid_member(sub: object) -> bool:
    return (
        isinstance(sub, str) and 0 < len(sub) <= _MEMBER_MAX and all(ch in _SUB_CHARS for ch in sub)
    )


def _is_number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


def _check_claims(claims: Mapping[str, Any]) -> None:
    """Refuse (101) registered claims of the wrong type (PROTOCOL.md §6)."""
    for claim in ("exp", "nbf", "iat"):
        if claim in claims and not _is_number(claims[claim]):
            raise HubError(
                Code.UNAUTHORIZED,
                f"token {claim!r} claim must be a number (seconds since the epoch)",
            )
    if not _valid_member(claims.get("sub")):
        raise HubError(Code.UNAUTHORIZED, "token 'sub' is not a valid member id")
    name = claims.get("name")
    if name is not None and not isinstance(name, str):
        raise HubError(Code.UNAUTHORIZED, "token 'name' claim must be a string")
    for claim in ("iss", "jti"):
        if claim in claims and not isinstance(claims[claim], str):
            raise HubError(Code.UNAUTHORIZED, f"token {claim!r} claim must be a string")


def parse_grants(raw: object) -> dict[str, bool]:
    """The ``channels`` claim as ``{channel: may_publish}``; raise 101 when malformed."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise HubError(Code.UNAUTHORIZED, "token 'channels' claim must be a list")
    grants: dict[str, bool] = {}
    for entry in raw:
        if isinstance(entry, str):
            channel, publish = entry, False
        elif (
            isinstance(entry, dict)
            and isinstance(entry.get("channel"), str)
            and isinstance(entry.get("publish", False), bool)
        ):
            channel, publish = entry["channel"], entry.get("publish") is True
        else:
            raise HubError(
                Code.UNAUTHORIZED,
                "bad entry in token 'channels' claim: a channel name or "
                '{"channel": name, "publish": true|false}',
            )
        try:
            validate_channel(channel)
        except HubError:
            raise HubError(Code.UNAUTHORIZED, f"bad channel in token: {channel[:64]!r}") from None
        grants[channel] = grants.get(channel, False) or publish
    return grants


_EMPTY_GRANTS: Final[dict[str, bool]] = {}  # shared, never mutated

MAX_TOKEN_TTL: Final = 366 * 86400.0  # a minted token lives a year at most


def public_key_problem(pem: str) -> str | None:
    """Why ``pem`` is not an RSA or EC public key PyJWT can verify with, or None."""
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    problem = "not an RSA or EC public key"
    for algorithm in (RSAAlgorithm(RSAAlgorithm.SHA256), ECAlgorithm(ECAlgorithm.SHA256)):
        try:
            algorithm.prepare_key(pem)
            return None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            problem = str(exc) or problem
    return problem


class TokenVerifier:
    """Verifies connection tokens (HS256 secret and/or RS256/ES256 public key); mints HS256."""

    __slots__ = ("_keys", "_secret")

    def __init__(self, secret: str = "", public_key: str = "") -> None:
        if not secret and not public_key:
            raise ValueError("a token secret or a public key is required")
        self._secret = secret
        keys: list[tuple[Any, list[str]]] = []
        if secret:
            keys.append((secret, ["HS256"]))
        if public_key:
            keys.append((public_key, ["RS256", "ES256"]))
        self._keys = keys

    def verify(self, token: str, now: float | None = None) -> Identity:
        """Return the token's identity or raise :class:`HubError` (101 bad, 109 expired).

        Every caller (upgrade, ``connect``, ``refresh``, the HTTP routes that take a
        member token) comes here, so the claims are enforced the same way everywhere.
        PyJWT checks the signature, ``sub``/``jti`` being strings and ``exp``/``nbf``/
        ``iat`` against the clock; it reads the time claims with ``int()``, so a
        numeric string or ``true`` would pass (and a string ``exp`` never expired
        here): :func:`_check_claims` refuses registered claims of the wrong type
        before the clock is consulted."""
        claims: dict[str, Any] | None = None
        problem = "invalid token"
        for key, algorithms in self._keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=algorithms,
                    options={
                        "require": ["sub"],
                        "verify_aud": False,
                        "verify_sub": True,
                        "verify_jti": True,
                        # the clock comes once the claims' types are known good
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                    },
                )
                break
            except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
                continue
            except jwt.PyJWTError as exc:  # signed, but a claim is wrong (or not a JWT)
                problem = f"invalid token: {exc}"
        if claims is None:
            raise HubError(Code.UNAUTHORIZED, problem)
        _check_claims(claims)  # a malformed time is 101, never "expired" nor "no expiry"
        try:  # the signature is verified: PyJWT checks exp, nbf and iat against the clock
            jwt.decode(
                token,
                options={
                    "verify_signature": False,
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,
                },
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise HubError(Code.TOKEN_EXPIRED, "token expired") from None
        except jwt.PyJWTError as exc:
            raise HubError(Code.UNAUTHORIZED, f"invalid token: {exc}") from None
        sub = claims["sub"]
        exp = claims.get("exp")
        name = claims.get("name")
        extra = {k: v for k, v in claims.items() if k not in _REGISTERED}
        return Identity(
            member=sub,
            name=name,
            exp=None if exp is None else float(exp),
            grants=parse_grants(claims.get("channels")) or _EMPTY_GRANTS,
            claims=extra or _EMPTY,
        )

    def mint(
        self,
        sub: str,
        *,
        channels: Sequence[object] | None = None,
        ttl: float | None = None,
        name: str | None = None,
        extra: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> str:
        """An HS256 token for ``sub`` (requires the secret); ``ttl`` at most
        :data:`MAX_TOKEN_TTL` seconds."""
        if not self._secret:
            raise HubError(Code.INTERNAL, "minting needs HUB_TOKEN_SECRET")
        if ttl is not None and not 0 < ttl <= MAX_TOKEN_TTL:
            raise HubError(Code.BAD_REQUEST, f"'ttl' must be between 0 and {MAX_TOKEN_TTL:g} s")
        if not _valid_member(sub):
            raise HubError(Code.BAD_REQUEST, "'sub' is not a valid member id")
        claims: dict[str, Any] = dict(extra or {})
        claims["sub"] = sub
        if channels:
            parse_grants(list(channels))  # validate
            claims["channels"] = list(channels)
        if name:
            claims["name"] = name
        if ttl is not None:
            claims["exp"] = int((time.time() if now is None else now) + ttl)
        return jwt.encode(claims, self._secret, algorithm="HS256")


def dev_secret(data_dir: str, name: str) -> tuple[str, bool]:
    """A development secret kept in ``data_dir/name`` (created once); returns (value, created)."""
    path = Path(data_dir) / name
    try:
        value = path.read_text().strip()
        if value:
            return value, False
    except FileNotFoundError:
        pass
    private_dir(path.parent)
    value = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    try:
        os.link(tmp, path)  # atomic, and fails if another process created it first
    except FileExistsError:
        return path.read_text().strip(), False
    finally:
        tmp.unlink()
    return value, True
