"""The client's pure rules: which URLs may carry the key, how long a 429 waits, how removals are chunked."""

from __future__ import annotations

import pytest

from target_sendgrid.sendgrid.removals import MAX_QUERY_CHARS, _chunks
from target_sendgrid.sendgrid.transport import reset_delay
from target_sendgrid.sendgrid.urls import check_url


def test_rate_limit_waits_as_the_reset_header_says() -> None:
    assert reset_delay({"x-ratelimit-reset": "3"}) == 3
    assert 9 <= reset_delay({"x-ratelimit-reset": str(__import__("time").time() + 10)}) <= 10  # epoch seconds
    assert reset_delay({}) == 1


def test_loopback_and_https_urls_are_allowed() -> None:
    for url in (
        "https://api.sendgrid.com",
        "https://api.eu.sendgrid.com/",
        "http://127.0.0.1:3030",
        "http://[::1]:80",
        "http://localhost:1",
    ):
        assert check_url(url) == url.rstrip("/")


def test_a_url_that_would_carry_the_key_in_clear_is_refused() -> None:
    for url in ("http://api.sendgrid.com", "ftp://127.0.0.1", "https://", "api.sendgrid.com"):
        with pytest.raises(ValueError, match="must be an https:// URL"):
            check_url(url)


def test_an_epoch_reset_in_the_past_waits_briefly_and_one_past_a_minute_at_most_two() -> None:
    assert reset_delay({"x-ratelimit-reset": "1000000001"}) == 0.05
    assert reset_delay({"x-ratelimit-reset": "900"}) == 120.0


@pytest.mark.parametrize("reset", ["soon", "nan", "inf", "-inf", "99999999999", "100000", None])
def test_a_reset_that_is_no_finite_plausible_number_waits_a_bounded_time_and_says_so(
    reset: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    assert reset_delay({"x-ratelimit-reset": reset}) == 5.0
    assert "Rate limited, with a reset SendGrid gave as" in caplog.text


def test_removals_are_chunked_under_100_ids_and_the_url_limit() -> None:
    short = [f"{i:036d}" for i in range(250)]
    assert [len(c) for c in _chunks(short)] == [100, 100, 50]
    long = ["x" * 1000 for _ in range(10)]
    chunks = _chunks(long)
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert all(len(",".join(c)) <= MAX_QUERY_CHARS for c in chunks)
    assert [i for c in chunks for i in c] == long
