"""Values as SendGrid stores them: the text a person would write, numbers and dates converted or refused."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from target_sendgrid.contacts.values import Unconvertible, as_text, convert, number_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("12345.0"), "12345"),
        (Decimal("1e5"), "100000"),
        (Decimal("99.50"), "99.5"),
        (12.25, "12.25"),
        (True, "true"),
        (False, "false"),
        ({"a": [1, Decimal("2.50")]}, '{"a":[1,2.50]}'),
        ("  padded  ", "padded"),
        (dt.date(2024, 3, 15), "2024-03-15"),
    ],
)
def test_a_value_becomes_the_text_a_person_would_write(value: object, text: str) -> None:
    assert as_text(value) == text


def test_non_finite_numbers_are_written_as_they_are() -> None:
    assert number_text(float("inf")) == "inf"


@pytest.mark.parametrize(("value", "number"), [("42", 42), ("4.5", 4.5), (" 7 ", 7), ("1e3", 1000.0), (3, 3)])
def test_numbers_from_numbers_and_numeric_text(value: object, number: object) -> None:
    converted, truncated = convert(value, "Number")
    assert converted == number and type(converted) is type(number) and truncated is False


def test_a_decimal_keeps_its_digits() -> None:
    assert convert(Decimal("0.10"), "Number") == (Decimal("0.10"), False)


@pytest.mark.parametrize("value", ["n/a", True, float("nan"), Decimal("Infinity"), "inf"])
def test_what_is_not_a_finite_number_is_refused(value: object) -> None:
    with pytest.raises(Unconvertible):
        convert(value, "Number")


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("2024-03-15", "2024-03-15"),
        ("2024-03-15T10:00:00Z", "2024-03-15T10:00:00Z"),
        ("2024-03-15T10:00:00+02:00", "2024-03-15T10:00:00+02:00"),
        (1_700_000_000, "2023-11-14T22:13:20Z"),
        (1_700_000_000_000, "2023-11-14T22:13:20Z"),  # milliseconds
        (dt.date(2024, 1, 2), "2024-01-02"),
    ],
)
def test_dates_from_iso_text_dates_and_epoch_numbers(value: object, date: str) -> None:
    assert convert(value, "Date") == (date, False)


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("1700000000", "2023-11-14T22:13:20Z"),
        (" 1700000000000 ", "2023-11-14T22:13:20Z"),
        ("1700000000.5", "2023-11-14T22:13:20.500000Z"),
    ],
)
def test_epoch_seconds_or_milliseconds_as_numeric_text(value: str, date: str) -> None:
    assert convert(value, "Date") == (date, False)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("03/04/2024", "a date with slashes: day and month order is ambiguous"),
        ("15.03.2024", "a date with slashes: day and month order is ambiguous"),
        ("20240315", "a text of 8 characters is ambiguous: a date key (YYYYMMDD) or epoch seconds in 1970"),
        (20240315, "an integer is ambiguous: a date key (YYYYMMDD) or epoch seconds in 1970"),
        ("2024-13-01", "is not a valid ISO-8601 date"),
        ("2024-W11", "is not an ISO-8601 date"),
        ("yesterday", "is not an ISO-8601 date"),
    ],
)
def test_ambiguous_or_unknown_date_forms_are_refused_and_named_never_guessed(value: object, why: str) -> None:
    with pytest.raises(Unconvertible, match=re.escape(why)):
        convert(value, "Date")


def test_a_date_that_is_not_iso_is_refused_naming_its_kind_not_its_value() -> None:
    with pytest.raises(Unconvertible) as refused:
        convert("not a date at all", "Date")
    assert "not a date at all" not in str(refused.value)
    assert "a text of 17 characters" in str(refused.value)


def test_text_is_cut_at_sendgrids_limit_and_says_so() -> None:
    assert convert("x" * 1001, "Text") == ("x" * 1000, True)
    assert convert(["a", 1], "Text") == ('["a",1]', False)
