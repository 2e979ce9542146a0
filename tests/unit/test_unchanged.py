"""skip_unchanged's copy of SendGrid's lists: values compared as SendGrid stores them, memberships by bit; a read
that fails costs only speed, a bug is raised."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from typing_extensions import override

from target_sendgrid.contacts.custom_fields import CustomField
from target_sendgrid.contacts.routing import ListRouter
from target_sendgrid.contacts.stored import stored
from target_sendgrid.planning.layer import plan_layer
from target_sendgrid.planning.stand_ins import StandIns
from target_sendgrid.report import RunReport
from target_sendgrid.sendgrid.api_errors import NotFound, SendGridError
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.sync.unchanged import SendGridCopy, read_copy

LTV = CustomField("e1_N", "ltv", "Number", "ltv")
SIGNUP = CustomField("e2_D", "signup", "Date", "signup")


def copy_of(rows: dict[str, list[dict]]) -> SendGridCopy:
    copy = SendGridCopy(("first_name",), (LTV, SIGNUP), tuple(rows), keep_ids=True)
    for list_id, members in rows.items():
        copy.load(list_id, members)
    return copy


def test_values_compare_as_sendgrid_stores_them() -> None:
    assert stored("Number", "12.50") == stored("Number", 12.5)
    assert stored("Date", "03/15/2024") == stored("Date", "2024-03-15T10:00:00Z") == "2024-03-15"
    assert stored("Text", "  ") is None and stored("Text", None) is None
    assert stored("alternate_emails", "B@x.io, a@x.io") == stored("alternate_emails", ["a@x.io", "b@x.io"])


def test_a_contact_with_the_same_values_in_its_lists_is_current() -> None:
    row = {"email": "a@x.io", "id": "c1", "first_name": "Ann", "custom_fields": {"ltv": "12.5", "signup": "2024-03-15"}}
    copy = copy_of({"L1": [row], "L2": [row]})
    contact = {"email": "a@x.io", "first_name": "Ann", "custom_fields": {"e1_N": 12.5, "e2_D": "2024-03-15"}}
    assert copy.is_current(contact, ("L1", "L2"))
    assert not copy.is_current({**contact, "first_name": "Anne"}, ("L1",))
    assert not copy.is_current(contact, ("L3",))  # a list the copy does not hold


def test_a_member_of_one_list_only_is_not_current_for_both() -> None:
    copy = copy_of({"L1": [{"email": "a@x.io", "id": "c1"}], "L2": []})
    assert copy.is_current({"email": "a@x.io"}, ("L1",))
    assert not copy.is_current({"email": "a@x.io"}, ("L1", "L2"))
    assert not copy.is_current({"email": "new@x.io"}, ("L1",))


def test_the_members_of_a_list_keep_their_ids_for_mirror_mode() -> None:
    copy = copy_of({"L1": [{"email": "a@x.io", "id": "c1"}, {"email": "b@x.io", "id": "c2"}], "L2": []})
    assert sorted(m["id"] for m in copy.members_of("L1")) == ["c1", "c2"]
    assert list(copy.members_of("L2")) == []


class Exports(SendGridClient):
    """A client whose list exports give ``rows``, then fail with ``failure`` (no request leaves the process)."""

    def __init__(self, rows: list[dict[str, Any]], failure: BaseException | None = None) -> None:
        super().__init__("SG.fake-key", "https://api.sendgrid.com")
        self.rows = rows
        self.failure = failure

    @override
    def list_members(self, list_id: str, timeout: float) -> Iterator[dict[str, Any]]:
        yield from self.rows
        if self.failure is not None:
            raise self.failure


def read(client: SendGridClient, required: bool = False) -> SendGridCopy | None:
    """Read list L1's copy; ``required``: for a plan, which cannot go on without it."""
    router = ListRouter("L1", {}, segments_selected=False)
    user = plan_layer(None, RunReport(), client, StandIns(), router) if required else None
    return read_copy(client, router, ("first_name",), (), 60, user=user)


def test_a_read_copy_holds_the_members() -> None:
    copy = read(Exports([{"email": "a@x.io", "first_name": "Ann"}]))
    assert copy is not None and copy.is_current({"email": "a@x.io", "first_name": "Ann"}, ("L1",))


@pytest.mark.parametrize(
    ("rows", "failure", "named"),
    [
        ([], NotFound("export of list L1: not found"), "NotFound: export of list L1: not found"),
        ([], TimeoutError("export of list L1 still pending"), "TimeoutError: export of list L1 still pending"),
        ([{"email": ["a@x.io"]}], None, "SendGridError: a member of list L1 came with an email that is not text"),
    ],
)
def test_lists_that_cannot_be_read_send_every_contact_and_a_plan_is_refused(
    rows: list[dict[str, Any]], failure: BaseException | None, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert read(Exports(rows, failure)) is None
    assert f"could not read the target lists' current members ({named}); every contact is sent" in caplog.text
    with pytest.raises(SendGridError, match="no plan was made"):
        read(Exports(rows, failure), required=True)


@pytest.mark.parametrize("required", [False, True])
def test_a_bug_while_reading_is_raised_as_it_is(required: bool) -> None:
    with pytest.raises(TypeError, match="a bug"):
        read(Exports([{"email": "a@x.io"}], TypeError("a bug")), required=required)
