"""Phone normalisation to E.164 and the masks used in logs (no hub needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.directory.phone import PhoneError, mask_phone, mask_wechat, normalize_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("0086 13800138000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("＋86 13800138000", "+8613800138000"),
        ("010-6512 3456", "+861065123456"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_normalize(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["", "123", "12800138000", "+86 123", "abc", "+0123456789"])
def test_refused(raw: str) -> None:
    with pytest.raises(PhoneError):
        normalize_phone(raw)


def test_masks() -> None:
    assert mask_phone("+8613800138000") == "+86138****8000"
    assert mask_phone("+14155550100") == "+141****0100"
    assert mask_phone("12345") == "*****"
    assert mask_wechat("wxid_abc123") == "wx***3"


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mainland_mobiles_round_trip(number: str) -> None:
    e164 = normalize_phone(number)
    assert e164 == "+86" + number and normalize_phone(e164) == e164
    assert mask_phone(e164) == e164[:6] + "****" + e164[-4:]
