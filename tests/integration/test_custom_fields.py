"""Custom fields by name: resolution, creation with inferred types, conversion, bad values."""

from __future__ import annotations

import json

import pytest
from singer_sdk.exceptions import ConfigValidationError

from sendgrid_emulator import SendGridEmulator
from tests.support import Api, run_target, target_config

MAPPING = {
    "lifetime_value": "ltv",
    "order_count": "orders",
    "signup_date": "signup",
    "last_seen": "last_seen",
    "plan": "plan",
    "opted_in": "opted_in",
    "tags": "tags",
    "profile": "profile",
    "notes": "notes",
}


def stored(api: Api, *emails: str) -> dict[str, dict]:
    """Custom fields of contacts by name, read back as a user would, with search/emails."""
    result = api("POST", "/v3/marketing/contacts/search/emails", json={"emails": list(emails)}).json()["result"]
    return {e: r["contact"]["custom_fields"] for e, r in result.items() if "contact" in r}


def test_created_with_inferred_types_and_every_conversion(emulator: SendGridEmulator, api: Api, tmp_path) -> None:
    rejected = tmp_path / "rejected.jsonl"
    config = target_config(
        emulator, custom_field_mapping=MAPPING, create_custom_fields=True, rejected_records_path=str(rejected)
    )
    run = run_target(config, "custom_fields.singer")
    types = {f["name"]: f["field_type"] for f in api("GET", "/v3/marketing/field_definitions").json()["custom_fields"]}
    assert types == {
        "lifetime_value": "Text",  # number or string in the schema: not purely numeric
        "order_count": "Number",
        "signup_date": "Date",
        "last_seen": "Date",
        "plan": "Text",
        "opted_in": "Text",
        "tags": "Text",
        "profile": "Text",
        "notes": "Text",
    }
    values = stored(api, "num@example.com", "epoch@example.com", "millis@example.com")
    num = values["num@example.com"]
    assert num["order_count"] == 3
    assert num["signup_date"] == "2024-01-31"
    assert num["last_seen"] == "2024-01-31T10:00:00Z"
    assert num["opted_in"] == "true"
    assert num["tags"] == '["a","b"]'
    assert num["profile"] == '{"tier":1}'
    assert len(num["notes"]) == 1000
    assert values["epoch@example.com"]["last_seen"] == "2024-01-31T10:00:00Z"  # epoch seconds
    assert values["epoch@example.com"]["opted_in"] == "false"
    assert values["millis@example.com"]["last_seen"] == "2024-01-31T10:00:00Z"  # epoch milliseconds
    assert run.summary["values_truncated"] == 1
    assert run.summary["custom_values_dropped"] == 1  # "yesterday" is no date
    assert all(job.status == "completed" for job in emulator.jobs.values())


def test_mapped_to_existing_fields_with_good_and_bad_values_in_one_batch(
    emulator: SendGridEmulator, api: Api, tmp_path
) -> None:
    emulator.create_custom_field("LTV", "Number")  # names match case-insensitively
    emulator.create_custom_field("plan", "Text")
    emulator.create_custom_field("last_seen", "Date")
    rejected = tmp_path / "rejected.jsonl"
    config = target_config(
        emulator,
        custom_field_mapping={"ltv": "ltv", "plan": "plan", "last_seen": "last_seen"},
        rejected_records_path=str(rejected),
    )
    run = run_target(config, "custom_fields.singer")
    puts = [r for r in emulator.requests_made() if r["method"] == "PUT"]
    assert len(puts) == 1  # the good and the bad values went in one batch
    values = stored(
        api,
        "num@example.com",
        "epoch@example.com",
        "millis@example.com",
        "bad-number@example.com",
        "bad-date@example.com",
    )
    assert values["num@example.com"] == {"LTV": 12.5, "plan": "gold", "last_seen": "2024-01-31T10:00:00Z"}
    assert values["epoch@example.com"]["LTV"] == 42
    assert values["millis@example.com"]["LTV"] == 7
    assert values["bad-number@example.com"] == {"plan": "silver"}  # only the bad value is lost
    assert values["bad-date@example.com"] == {"plan": "bronze"}
    assert all(job.status == "completed" for job in emulator.jobs.values())  # nothing failed in a job
    # A record whose only value beside its email was bad is still exported: it has an email and a list.
    assert "only-bad@example.com" in emulator.list_emails(config["list_id"])
    assert run.summary["rejected"] == 0 and run.summary["exported"] == 6
    assert run.summary["custom_values_dropped"] == 3  # each dropped value, once
    lines = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [(x["key"], x["reason"], x["detail"]) for x in lines] == [
        ({"id": 4}, "custom value dropped", "LTV: a text of 3 characters is not a number"),
        ({"id": 5}, "custom value dropped", "last_seen: a text of 9 characters is not an ISO-8601 date"),
        ({"id": 6}, "custom value dropped", "LTV: a text of 3 characters is not a number"),
    ]


def test_unknown_name_without_creation_stops_before_any_upsert(emulator: SendGridEmulator) -> None:
    emulator.create_custom_field("plan", "Text")
    config = target_config(emulator, custom_field_mapping={"lifetime_value": "ltv", "plan": "plan"})
    with pytest.raises(ConfigValidationError) as info:
        run_target(config, "custom_fields.singer")
    message = " ".join(info.value.errors)
    assert "['lifetime_value']" in message and "plan (Text)" in message and "create_custom_fields" in message
    # The key's scopes and the field definitions, nothing else.
    assert [(r["method"], r["path"]) for r in emulator.requests_made()] == [
        ("GET", "/v3/scopes"),
        ("GET", "/v3/marketing/field_definitions"),
    ]


@pytest.mark.parametrize("name", ["1st_order", "has space", "email", "x" * 101])
def test_invalid_names_are_refused_before_anything_is_sent(emulator: SendGridEmulator, name: str) -> None:
    with pytest.raises(ConfigValidationError):
        run_target(target_config(emulator, custom_field_mapping={name: "ltv"}, create_custom_fields=True), [])
    assert emulator.requests_made() == []
