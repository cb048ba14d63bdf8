"""Connection tokens: HS256 with the secret, RS256/ES256 with the public key."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.auth import TokenVerifier
from hub.protocol.errors import Code, HubError
from tests.support.hubs import running_hub
from tests.support.ws import open_ws


def _pem_pair(kind: str) -> tuple[bytes, str]:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_public_key_tokens(alg: str) -> None:
    private, public = _pem_pair(alg)
    v = TokenVerifier(public_key=public)
    token = jwt.encode(
        {"sub": "m1", "channels": ["chat:x"], "role": "admin"}, private, algorithm=alg
    )
    ident = v.verify(token)
    assert ident.member == "m1" and ident.grants == {"chat:x": False}
    assert ident.claims == {"role": "admin"}  # registered claims are not repeated
    other, _ = _pem_pair(alg)
    with pytest.raises(HubError) as e:
        v.verify(jwt.encode({"sub": "m1"}, other, algorithm=alg))
    assert e.value.code == Code.UNAUTHORIZED
    expired = jwt.encode({"sub": "m1", "exp": int(time.time()) - 5}, private, algorithm=alg)
    with pytest.raises(HubError) as e:
        v.verify(expired)
    assert e.value.code == Code.TOKEN_EXPIRED


def test_hs256_token_is_not_accepted_by_a_public_key_only_hub() -> None:
    _, public = _pem_pair("RS256")
    v = TokenVerifier(public_key=public)
    with pytest.raises(HubError) as e:  # the public key as an HMAC secret: the classic confusion
        v.verify(jwt.encode({"sub": "m1"}, "s" * 40, algorithm="HS256"))
    assert e.value.code == Code.UNAUTHORIZED


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({}, Code.UNAUTHORIZED),
        ({"sub": ""}, Code.UNAUTHORIZED),
        ({"sub": "a" * 129}, Code.UNAUTHORIZED),
        ({"sub": "m1", "channels": "chat:x"}, Code.UNAUTHORIZED),
        ({"sub": "m1", "channels": [{"channel": "bad name"}]}, Code.UNAUTHORIZED),
        ({"sub": "m1", "channels": [5]}, Code.UNAUTHORIZED),
    ],
)
def test_malformed_claims(claims: dict[str, object], code: int) -> None:
    secret = "s" * 40
    with pytest.raises(HubError) as e:
        TokenVerifier(secret).verify(jwt.encode(claims, secret, algorithm="HS256"))
    assert e.value.code == code


async def test_rs256_through_a_socket(tmp_path: Path) -> None:
    private, public = _pem_pair("RS256")
    async with running_hub(tmp_path / "d", token_public_key=public, token_secret="") as h:
        token = jwt.encode({"sub": "m1"}, private, algorithm="RS256")
        c = await open_ws(h.ws_url, token)
        assert (await c.ok("ping"))["ok"]
