"""Mirror mode's bookkeeping, without SendGrid (a dry run removes nothing): when STATE is held, when the
lists are judged, and what stops a run. The removals themselves are tested against the emulator.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.contacts.custom_fields import CustomFieldRegistry
from target_sendgrid.contacts.routing import ListRouter
from target_sendgrid.lifecycle.failures import MirrorStopped
from target_sendgrid.report import RunReport
from target_sendgrid.sendgrid.client import FieldDefinition
from target_sendgrid.settings import Settings
from target_sendgrid.sync.mirror import MirrorMode

STAMP: FieldDefinition = {
    "id": "e7_N",
    "name": "singer_table_version",
    "field_type": "Number",
}  # the default mirror_version_field


class Deliveries:
    """The exporter as mirror mode sees it: what it was asked, in order."""

    def __init__(self, holding: bool = False) -> None:
        self.members: dict[str, set[str]] | None = {}
        self.left: dict[str, set[str]] | None = {}
        self.holding = holding
        self.calls: list[str] = []  # "settle", "hold", "release"

    def settle(self) -> None:
        self.calls.append("settle")

    def hold_state(self, held: bool) -> None:
        self.calls.append("hold" if held else "release")

    @property
    def held(self) -> bool:
        """Whether STATE is held now (the last word said)."""
        return [c for c in self.calls if c != "settle"][-1:] == ["hold"]


def mirror(deliveries: Deliveries, definitions: list[FieldDefinition] | None = None, **config: Any) -> MirrorMode:
    settings = Settings.from_config(
        {"api_key": "SG.k", "data_privacy_consent": True, "list_id": "L", "sync_mode": "mirror", **config}
    )
    fields = CustomFieldRegistry({}, [STAMP] if definitions is None else definitions, None, True)
    return MirrorMode(
        settings, None, ListRouter("L", {}, False), RunReport(), deliveries, fields, None, changes_sent=True
    )


def test_a_completed_version_is_judged_once_its_stamps_are_in_sendgrid_then_state_goes() -> None:
    deliveries = Deliveries()
    mode = mirror(deliveries)
    mode.note_record("people", 2)
    assert deliveries.calls == ["release"]  # versioned, none complete yet: STATE after a record may go
    mode.activate_version("people", 2)  # the closing message
    assert deliveries.calls == ["release", "settle", "release"]
    mode.finish()
    assert not deliveries.held


def test_a_version_announced_before_its_records_holds_state_until_the_end() -> None:
    """A resumed sync with nothing left may be closed by the input's end: its STATE waits for that."""
    deliveries = Deliveries()
    mode = mirror(deliveries)
    mode.activate_version("people", 3)
    assert deliveries.held and "settle" not in deliveries.calls
    mode.finish()
    assert not deliveries.held


def test_under_a_ceiling_a_completed_version_is_judged_at_the_end_of_the_input() -> None:
    """Nothing is sent before the input ends (max_contacts): settling then would wait for nothing."""
    deliveries = Deliveries(holding=True)
    mode = mirror(deliveries)
    mode.note_record("people", 2)
    mode.activate_version("people", 2)
    assert "settle" not in deliveries.calls and deliveries.held  # removals to come, after the end
    mode.finish()
    assert not deliveries.held


def test_an_unversioned_run_lets_state_go_only_at_its_end() -> None:
    deliveries = Deliveries()
    mode = mirror(deliveries)
    mode.note_record("people", None)
    assert deliveries.calls == []  # held from the start by whoever built it, and still
    mode.finish()
    assert deliveries.calls == ["release"]


def test_two_versioned_streams_stop_the_run_before_any_removal() -> None:
    deliveries = Deliveries()
    mode = mirror(deliveries)
    mode.note_record("people", 2)
    mode.note_record("accounts", 5)
    with pytest.raises(MirrorStopped, match=r"also read versions of \['accounts'\]"):
        mode.activate_version("people", 2)


def test_a_version_left_open_at_the_end_removes_nothing_unless_told_to_close_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mode = mirror(Deliveries())
    mode.note_record("people", 2)
    mode.finish()
    assert any("was not completed by an ACTIVATE_VERSION" in r.getMessage() for r in caplog.records)
    closing = mirror(Deliveries(), mirror_close_at_end_of_input=True)
    closing.note_record("people", 2)
    with caplog.at_level(logging.INFO, "target_sendgrid.sync.mirror"):
        closing.finish()
    assert any("table version 2 complete (the input ended)" in r.getMessage() for r in caplog.records)


def test_contacts_are_stamped_with_their_records_version() -> None:
    mode = mirror(Deliveries())
    mode.note_record("people", 1700000000)
    contact: dict[str, Any] = {"email": "a@x.io"}
    mode.stamp(contact)
    assert contact["custom_fields"] == {"e7_N": 1700000000}
    assert mode.existing_stamp_field() is not None


def test_a_stamp_field_the_account_lacks_is_not_created_until_a_contact_needs_it() -> None:
    mode = mirror(Deliveries(), definitions=[])
    assert mode.existing_stamp_field() is None
    mode.stamp({"email": "a@x.io"})  # a dry run pretends to create it
    assert mode.existing_stamp_field() is not None


def test_a_stamp_field_that_is_not_a_number_is_refused() -> None:
    text = CustomFieldRegistry({}, [FieldDefinition(id=STAMP["id"], name=STAMP["name"], field_type="Text")], None, True)
    with pytest.raises(ConfigValidationError) as refused:
        MirrorMode.check_stamp_field("Singer_Table_Version", text)
    assert "is a Text custom field" in refused.value.errors[0]
    MirrorMode.check_stamp_field("singer_table_version", CustomFieldRegistry({}, [STAMP], None, True))  # a Number: fine
