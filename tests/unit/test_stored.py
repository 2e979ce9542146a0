"""One rule for "as SendGrid stores it": a value converted to send compares equal with what SendGrid gives back.

skip_unchanged skips a contact only when its values, as sent, compare equal with SendGrid's export of
them, and mirror mode reads stamps from the same export. These properties hold for every value the
conversion accepts: what is sent and what comes back (a JSON export's number, a CSV export's text, a
Date written as the UI writes it) are the same value to the comparison.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from target_sendgrid.contacts.stored import stored, stored_number
from target_sendgrid.contacts.values import Unconvertible, as_text, convert
from target_sendgrid.sync.stale_members import stamp_of

finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
numbers = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    finite_floats,
    finite_floats.map(lambda f: Decimal(repr(f))),  # the SDK's reader gives fractions as Decimal
)
numeric_text = numbers.map(lambda n: f" {n} " if not isinstance(n, Decimal) else str(n))


def json_read_back(sent: Any) -> Any:
    """The value as a JSON export row gives it back (SendGrid's numbers are JSON numbers)."""
    encode = msgspec.json.Encoder(decimal_format="number").encode
    return msgspec.json.decode(encode({"v": sent}))["v"]


@given(st.one_of(numbers, numeric_text))
def test_a_number_as_sent_compares_equal_with_its_json_and_csv_read_back(value: Any) -> None:
    sent, _ = convert(value, "Number")
    assert stored("Number", sent) == stored("Number", value)
    assert stored("Number", json_read_back(sent)) == stored("Number", sent)
    assert stored("Number", as_text(sent)) == stored("Number", sent)  # a CSV export's text


@given(numbers, numbers)
def test_numbers_compare_equal_exactly_when_their_values_are_equal(a: Any, b: Any) -> None:
    def exact(n: Any) -> Decimal:
        return n if isinstance(n, Decimal) else Decimal(repr(n)) if isinstance(n, float) else Decimal(n)

    assert (stored("Number", a) == stored("Number", b)) == (exact(a) == exact(b))


dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31))
datetimes = st.datetimes(
    min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 12, 31), timezones=st.just(dt.timezone.utc)
)


@given(st.one_of(dates, datetimes, dates.map(dt.date.isoformat), datetimes.map(dt.datetime.isoformat)))
def test_a_date_as_sent_compares_equal_with_the_day_sendgrid_shows(value: Any) -> None:
    sent, _ = convert(value, "Date")
    day = dt.date.fromisoformat(sent[:10])
    assert stored("Date", sent) == stored("Date", value) == day.isoformat()
    assert stored("Date", day.strftime("%m/%d/%Y")) == stored("Date", sent)  # how the UI and CSV exports write it
    assert stored("Date", f"{day.isoformat()}T00:00:00Z") == stored("Date", sent)


@given(st.one_of(st.text(max_size=1200), st.integers(), finite_floats, st.booleans()))
def test_text_as_sent_compares_equal_with_itself_read_back(value: Any) -> None:
    sent, truncated = convert(value, "Text")
    assert stored("Text", json_read_back(sent)) == stored("Text", sent)
    if not truncated:
        assert stored("Text", sent) == stored("Text", value)
    if not sent:
        assert stored("Text", value) is None  # blank is no value, on both sides


@given(st.emails(), st.sampled_from([str.upper, str.lower, str.title]), st.sampled_from(["", " ", "\t"]))
def test_an_email_compares_without_case_or_blanks(email: str, case: Any, pad: str) -> None:
    assert stored("email", f"{pad}{case(email)}{pad}") == stored("email", email.lower())


@given(st.lists(st.emails(), max_size=5))
def test_alternate_emails_compare_as_a_set(emails: list[str]) -> None:
    as_csv = ", ".join(reversed([e.upper() for e in emails]))
    assert stored("alternate_emails", emails) == stored("alternate_emails", as_csv)


@given(st.integers(min_value=0, max_value=2**53), st.sampled_from([int, float, str]))
def test_a_mirror_stamp_reads_back_as_the_version_sent(version: int, form: Any) -> None:
    sent, _ = convert(version, "Number")
    assert stamp_of({"custom_fields": {"table_version": form(sent)}}, "table_version") == Decimal(version)
    assert stamp_of({"table_version": str(sent)}, "table_version") == Decimal(version)  # a CSV column


@given(st.one_of(st.booleans(), st.text().filter(lambda t: not t.strip().lstrip("+-").replace(".", "", 1).isdigit())))
def test_what_is_not_a_number_is_refused_to_send_and_never_a_stamp(value: Any) -> None:
    try:
        convert(value, "Number")
    except Unconvertible:
        assert stamp_of({"v": value}, "v") is None
    else:
        assume(False)  # numeric text the filter let through ("1e5", "nan"-like spellings are refused above)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_value_is_no_number_and_no_stamp(value: Any) -> None:
    assert stored_number(value) is None and stored("Number", value) is None
    assert stamp_of({"v": value}, "v") is None and stamp_of({}, "v") is None


@pytest.mark.parametrize("value", ["1e999999999", "-1E999999999", "9999999999e999999999"])
def test_a_number_past_what_a_decimal_holds_compares_as_its_text_not_a_failure(value: str) -> None:
    assert stored("Number", value) == value
