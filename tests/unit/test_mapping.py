"""Records to contacts: the mapping by configuration or by common names, emails, limits, custom values."""

from __future__ import annotations

import pytest

from target_sendgrid.contacts.custom_fields import CustomField
from target_sendgrid.contacts.mapping import ContactMapper, Rejected, normalise_email, resolve_mapping


def test_common_names_are_matched_ignoring_case_and_punctuation() -> None:
    mapping = resolve_mapping(None, ["E-mail Address", "GivenName", "Surname", "ZIP", "Country", "unrelated"])
    assert mapping == {
        "email": "E-mail Address",
        "first_name": "GivenName",
        "last_name": "Surname",
        "postal_code": "ZIP",
        "country": "Country",
    }


def test_a_configured_mapping_is_taken_as_it_is() -> None:
    assert resolve_mapping({"email": "mail"}, ["email", "mail"]) == {"email": "mail"}


def test_a_configured_mapping_naming_no_sendgrid_field_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown SendGrid fields \\['fist_name'\\]"):
        resolve_mapping({"email": "e", "fist_name": "f"}, [])


@pytest.mark.parametrize(
    ("value", "reason"),
    [(None, "missing email"), ("", "missing email"), ("no-at-sign", "invalid email"), ("a@b", "invalid email")],
)
def test_an_email_sendgrid_would_refuse_is_rejected(value: object, reason: str) -> None:
    with pytest.raises(Rejected) as rejected:
        normalise_email(value)
    assert rejected.value.reason == reason


def test_an_email_is_trimmed_and_lower_cased() -> None:
    assert normalise_email("  Ann.Smith@Example.COM ") == "ann.smith@example.com"


def test_a_contact_keeps_absent_values_absent_and_cuts_long_ones() -> None:
    mapper = ContactMapper({"email": "e", "first_name": "f", "city": "c"})
    contact, truncated, dropped = mapper.build({"e": "A@x.io", "f": "N" * 60, "c": None})
    assert contact == {"email": "a@x.io", "first_name": "N" * 50}
    assert (truncated, dropped) == (1, [])


def test_alternate_emails_drop_the_primary_bad_ones_and_repeats() -> None:
    mapper = ContactMapper({"email": "e", "alternate_emails": "alt"})
    contact, _, _ = mapper.build({"e": "a@x.io", "alt": "A@x.io, b@x.io; bad; B@X.io c@x.io"})
    assert contact["alternate_emails"] == ["b@x.io", "c@x.io"]


def test_a_custom_value_that_cannot_be_converted_is_dropped_and_named() -> None:
    ltv = CustomField("e1_N", "ltv", "Number", "ltv")
    mapper = ContactMapper({"email": "e", "first_name": "f"}, [ltv])
    contact, _, dropped = mapper.build({"e": "a@x.io", "f": "Ann", "ltv": "n/a"})
    assert contact == {"email": "a@x.io", "first_name": "Ann"}
    assert dropped == [("ltv", "a text of 3 characters is not a number")]


def test_a_record_whose_only_other_value_is_dropped_is_still_a_contact() -> None:
    ltv = CustomField("e1_N", "ltv", "Number", "ltv")
    contact, _, dropped = ContactMapper({"email": "e"}, [ltv]).build({"e": "a@x.io", "ltv": "$99"})
    assert contact == {"email": "a@x.io"} and [field for field, _ in dropped] == ["ltv"]


def test_custom_values_are_keyed_by_field_id() -> None:
    ltv = CustomField("e1_N", "ltv", "Number", "ltv")
    contact, _, _ = ContactMapper({"email": "e"}, [ltv]).build({"e": "a@x.io", "ltv": "12.5"})
    assert contact["custom_fields"] == {"e1_N": 12.5}
