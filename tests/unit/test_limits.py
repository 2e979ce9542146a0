"""SendGrid's limits, in the target's copy and the emulator's, as the conformance schemas write them.

The two copies are kept apart on purpose (a wrong limit must not be wrong in both unseen);
this test holds each to SendGrid's published definitions.
"""

from __future__ import annotations

import json
import re
from types import ModuleType

import pytest

import sendgrid_emulator.limits as emulator_limits
import target_sendgrid.sendgrid.limits as target_limits
from tests.support import ROOT

REQUESTS = json.loads((ROOT / "tests" / "schemas" / "marketing.json").read_text())["requests"]
UPSERT = REQUESTS["PUT /v3/marketing/contacts"]
CONTACTS = UPSERT["properties"]["contacts"]
CONTACT_FIELDS = CONTACTS["items"]["properties"]


@pytest.mark.parametrize("limits", [target_limits, emulator_limits], ids=["target", "emulator"])
def test_the_limits_are_sendgrids(limits: ModuleType) -> None:
    assert CONTACTS["maxItems"] == limits.MAX_CONTACTS_PER_UPSERT
    assert UPSERT["x-documented"]["max_body_bytes"] == limits.MAX_BODY_BYTES
    assert UPSERT["x-documented"]["max_text_custom_value"] == limits.MAX_TEXT_VALUE
    assert CONTACT_FIELDS["alternate_emails"]["maxItems"] == limits.MAX_ALTERNATE_EMAILS
    assert CONTACT_FIELDS["email"]["maxLength"] == limits.MAX_EMAIL_LENGTH
    assert (
        REQUESTS["POST /v3/marketing/contacts/search/emails"]["properties"]["emails"]["maxItems"]
        == limits.MAX_SEARCH_EMAILS
    )
    search = REQUESTS["POST /v3/marketing/contacts/search/emails"]["properties"]["emails"]
    assert search["items"]["maxLength"] == limits.MAX_SEARCH_EMAIL_LENGTH
    assert REQUESTS["POST /v3/marketing/lists"]["x-documented"]["max_lists"] == limits.MAX_LISTS
    assert (
        REQUESTS["POST /v3/marketing/field_definitions"]["x-documented"]["max_custom_fields"]
        == limits.MAX_CUSTOM_FIELDS
    )
    for name, limit in limits.FIELD_LIMITS.items():
        if name in CONTACT_FIELDS:  # the rest are writable but missing from the request schema (docs/sendgrid-api.md)
            assert limit == CONTACT_FIELDS[name].get("maxLength"), name


@pytest.mark.parametrize("limits", [target_limits, emulator_limits], ids=["target", "emulator"])
def test_custom_field_names_follow_sendgrids_pattern(limits: ModuleType) -> None:
    name = REQUESTS["POST /v3/marketing/field_definitions"]["properties"]["name"]
    published = re.compile(name["pattern"])
    for candidate in ("ltv", "_x", "A1_b", "1st", "has space", "é", "x" * name["maxLength"], "x" * 101):
        expected = bool(published.match(candidate)) and len(candidate) <= name["maxLength"]
        assert bool(limits.CUSTOM_FIELD_NAME.match(candidate)) == expected, candidate
