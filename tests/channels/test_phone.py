"""Phone normalisation to E.164 and the masks used in logs (no hub needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.errors import AdapterError
from adapters.phone import normalize_phone as adapters_normalize
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
        ("+86 10 6512 3456", "+861065123456"),
        ("0755-8888 8888", "+8675588888888"),
        ("020-8888 8888", "+862088888888"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_normalize(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "123",
        "12800138000",
        "+86 123",
        "abc",
        "+0123456789",
        # a mobile with a digit missing is not a landline: 1… area codes are only 10
        "+86 1380013800",
        "01380013800",
        "+86 0 1380013800",
        "+86 1165123456",
    ],
)
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


# -- text typed with a Chinese IME, and digits of other scripts -------------------------
@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("１３９１２３４０００１", "+8613912340001"),  # full-width digits
        ("139１2340001", "+8613912340001"),  # one full-width digit among ASCII ones
        ("（010）6512－3456", "+861065123456"),  # full-width parentheses and hyphen
        ("139－1234－0001", "+8613912340001"),
        ("139—1234—0001", "+8613912340001"),  # em dash
        ("139–1234–0001", "+8613912340001"),  # en dash
        ("＋８６　１３９ １２３４ ０００１", "+8613912340001"),  # ideographic space
        ("００８６１３９１２３４０００１", "+8613912340001"),
        ("+86 (0)10 6512 3456", "+861065123456"),
        ("139.1234.0001", "+8613912340001"),
    ],
)
def test_ime_text_normalised(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164
    if not e164.startswith("+8610"):  # the SMS adapters take mobile numbers only
        assert adapters_normalize(raw) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "139\u06612340001",  # ARABIC-INDIC DIGIT ONE: \d matches it, NFKC keeps it
        "139\u09672340001",  # BENGALI DIGIT ONE
        "\u0967\u0969\u096f\u0967\u0968\u0969\u096a\u0966\u0966\u0966\u0967",  # Devanagari
        "139 1234 000１x",
        "139+12340001",
        "+86+13912340001",
    ],
)
def test_other_scripts_refused(raw: str) -> None:
    with pytest.raises(PhoneError):
        normalize_phone(raw)
    with pytest.raises(AdapterError):
        adapters_normalize(raw)


@given(st.text(alphabet=st.characters(categories=["Nd"]), min_size=11, max_size=11))
def test_stored_numbers_are_ascii(digits: str) -> None:
    """Whatever decimal digits come in, what is returned is ASCII or an error."""
    for fn in (normalize_phone, adapters_normalize):
        try:
            out = fn(digits)
        except (PhoneError, AdapterError):
            continue
        assert out.isascii() and out[1:].isdigit(), out
