"""Property tests of the pure pieces: encoding, normalisation, masking, buckets."""

from __future__ import annotations

from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from adapters.core.ratelimit import RateSpec, TokenBucket
from adapters.core.signing import percent_encode
from adapters.masking import mask_phone
from adapters.phone import normalize_phone

mainland = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@given(st.text())
def test_percent_encoding_round_trips_and_keeps_only_unreserved(value: str) -> None:
    encoded = percent_encode(value)
    assert unquote(encoded, errors="surrogatepass") == value or max(value or "a") >= "\ud800"
    assert all(c.isascii() and (c.isalnum() or c in "-_.~%") for c in encoded)


@given(mainland, st.sampled_from(["", "+86", "0086", "86", "+86 "]))
def test_normalisation_is_canonical_and_idempotent(number: str, prefix: str) -> None:
    e164 = normalize_phone(prefix + number)
    assert e164 == "+86" + number
    assert normalize_phone(e164) == e164
    assert mask_phone(e164) == "+86" + number[:3] + "****" + number[-4:]


@given(st.lists(st.floats(min_value=0, max_value=10), max_size=50))
def test_bucket_never_exceeds_its_rate(steps: list[float]) -> None:
    now = [0.0]
    bucket = TokenBucket(RateSpec(3, 1.0), lambda: now[0])
    taken = 0
    for step in steps:
        now[0] += step
        taken += bucket.try_take() == 0.0
    assert taken <= 3 + 3 * now[0] + 1e-9
