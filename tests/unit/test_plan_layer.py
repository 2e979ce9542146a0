"""The plan as a layer: what it hands the real run in the place of writing, and what the real run's seams do.

The stand-ins name what would be created, the leavers count mirror's stale members before the
safety stop fails the run as a real one would, and the plan's ending adds its object and lines;
a real run's creator and leavers write through the client. No request leaves the process.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.contacts.custom_fields import CustomFieldRegistry
from target_sendgrid.contacts.routing import ListRouter
from target_sendgrid.lifecycle.failures import MirrorStopped
from target_sendgrid.planning.layer import plan_layer
from target_sendgrid.planning.plan import Plan
from target_sendgrid.planning.stand_ins import StandIns, new_id
from target_sendgrid.report import RunReport
from target_sendgrid.sendgrid.api_errors import SendGridError
from target_sendgrid.sync.stale_members import Judged, RemoveFromLists
from target_sendgrid.sync.unchanged import MAX_LISTS, SendGridCopy
from tests.unit.fakes import FakeSendGrid

L1 = "11111111-1111-1111-1111-111111111111"


def leaving(*emails: str) -> Judged:
    """A list judged: these members leave it (contact ids c-<email>), out of ten."""
    return Judged([{"id": f"c-{e}", "key": hash(e)} for e in emails], 10)


def test_stand_ins_name_what_would_be_created_and_answer_with_ids_sendgrid_never_sees(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stand_ins = StandIns()
    with caplog.at_level(logging.INFO):
        ids, names = ListRouter.resolve(FakeWithLists([{"id": L1, "name": "Old"}]), ["Old", "Fresh"], stand_ins)
        registry = CustomFieldRegistry({"ltv": "ltv"}, [], stand_ins, create=True)
        [field] = registry.for_stream({"ltv": {"type": "number"}})
    assert ids == {"Old": L1, "Fresh": new_id("Fresh")}
    assert names[new_id("Fresh")] == "Fresh"
    assert (field.id, field.field_type) == (new_id("ltv"), "Number")
    assert (stand_ins.lists, stand_ins.fields) == ({new_id("Fresh"): "Fresh"}, ["ltv"])
    assert set(stand_ins.placeholders) == {new_id("Fresh")}
    assert "Plan: list 'Fresh' would be created" in caplog.text
    assert "Plan: custom field ltv (Number) would be created" in caplog.text
    router = ListRouter(new_id("Fresh"), {}, False, stand_ins.placeholders)
    router.names = names
    assert router.describe(new_id("Fresh")) == "'Fresh' (to be created)"


class FakeWithLists(FakeSendGrid):
    """The account's lists as a test sets them; a list created is an error (a plan creates none)."""

    def __init__(self, lists: list[dict[str, Any]]) -> None:
        super().__init__()
        self._lists = lists

    def lists(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self._lists

    def create_list(self, name: str) -> str:
        raise AssertionError(f"list {name!r} created")


def test_planned_leavers_count_every_list_then_stop_as_the_real_run_would() -> None:
    stand_ins = StandIns()
    layer = plan_layer(None, RunReport(), FakeSendGrid(), stand_ins, ListRouter(L1, {}, False))
    judged = {L1: leaving("a@x.io", "b@x.io")}
    assert layer.leavers.take(judged, {L1: None}, "why") == {L1: 2}
    with pytest.raises(MirrorStopped, match="too many"):
        layer.leavers.take({L1: leaving("c@x.io")}, {L1: "too many"}, "why")
    entry = layer.plan.summary({})["lists"][L1]
    assert (entry["remove"], entry["removal_stop"]) == (3, True)


def test_a_real_runs_leavers_remove_nothing_anywhere_past_the_stop_and_every_list_otherwise() -> None:
    client = FakeSendGrid()
    leavers = RemoveFromLists(client, timeout=5, max_attempts=1)
    with pytest.raises(MirrorStopped):
        leavers.take({"A": leaving("a@x.io"), "B": leaving("b@x.io")}, {"A": None, "B": "too many"}, "why")
    assert client.removals == []
    assert leavers.take({"A": leaving("a@x.io"), "B": Judged([], 3)}, {"A": None, "B": None}, "why") == {"A": 1, "B": 0}
    assert client.removals == [("A", ["c-a@x.io"])]


def test_the_plan_reads_sendgrids_copy_and_a_copy_it_cannot_read_fails_the_plan() -> None:
    layer = plan_layer(None, RunReport(), FakeSendGrid(), StandIns(), ListRouter(L1, {}, False))
    copy = SendGridCopy((), (), (L1,), False)
    copy.load(L1, [{"email": "m@x.io"}])
    layer.read(copy)
    assert layer.plan.exists("m@x.io") and not layer.plan.exists("n@x.io")
    failure = layer.unreadable(TimeoutError("export took too long"))
    assert isinstance(failure, SendGridError) and "no plan was made" in str(failure)


def test_the_plans_ending_adds_its_object_and_says_nothing_was_written() -> None:
    stand_ins = StandIns()
    fresh = stand_ins.create_list("Fresh")
    router = ListRouter(fresh, {}, False, stand_ins.placeholders)
    router.names = {fresh: "Fresh"}
    layer = plan_layer(None, RunReport(), FakeSendGrid(), stand_ins, router)
    stand_ins.create_custom_field("stamp", "Number")  # noted after the start (mirror's stamp): still in the plan
    summary: dict[str, Any] = {"would_export": 0}
    layer.add_to(summary)
    assert summary["plan"]["create_lists"] == ["Fresh"] and summary["plan"]["create_custom_fields"] == ["stamp"]
    assert summary["plan"]["lists"]["Fresh"]["id"] is None
    lines = layer.lines("finished", summary)
    assert lines[0].startswith("Plan for list 'Fresh' (to be created): 0 create")
    assert lines[-1].startswith("Plan finished (nothing was written to SendGrid, no STATE): ")
    assert json.loads(lines[-1].split(": ", 1)[1]) == summary
    assert layer.dry is True


def test_a_plan_counts_at_most_its_lists() -> None:
    segment_lists = {f"s{n}": f"list-{n}" for n in range(MAX_LISTS + 1)}
    with pytest.raises(ConfigValidationError, match="too many lists"):
        plan_layer(None, RunReport(), FakeSendGrid(), StandIns(), ListRouter(None, segment_lists, True))


def test_a_plan_made_with_its_lists_has_a_line_for_each() -> None:
    plan = Plan(None, "run-1", names={L1: "one"}, lists=(L1,))
    assert list(plan.summary({})["lists"]) == ["one"]
