"""The plan's arithmetic: each contact counted as the real run would touch it, in order; no email kept or written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from target_sendgrid.planning.plan import Plan
from target_sendgrid.planning.stand_ins import new_id
from target_sendgrid.sendgrid.api_errors import SendGridError
from target_sendgrid.sendgrid.transport import Transport

L1, L2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


def a_plan(members: dict[str, list[str]], path: Path | None = None) -> Plan:
    """A plan over SendGrid's copy of the lists: email -> the target lists it is in."""
    plan = Plan(str(path) if path else None, "run-1")
    copy = {hash(email): lists for email, lists in members.items()}
    plan.membership = copy.get
    plan.names = {L1: "one", L2: "two"}
    plan.lists((L1, L2))
    return plan


def test_a_contact_is_created_once_then_updated_and_joins_each_list_once() -> None:
    plan = a_plan({})
    plan.found(["new@x.io"], set())
    plan.upsert("new@x.io", (L1,), 1)
    plan.upsert("new@x.io", (L1, L2), 2)  # a later record of the same email, bound for two lists
    lists = plan.summary({})["lists"]
    assert (lists["one"]["create"], lists["one"]["update"], lists["one"]["add"]) == (1, 1, 1)
    assert (lists["two"]["create"], lists["two"]["update"], lists["two"]["add"]) == (0, 1, 1)


def test_members_update_without_joining_and_contacts_elsewhere_are_not_new() -> None:
    plan = a_plan({"member@x.io": [L1]})
    assert plan.unknown(["member@x.io", "elsewhere@x.io", "new@x.io"]) == ["elsewhere@x.io", "new@x.io"]
    plan.found(["elsewhere@x.io", "new@x.io"], {"elsewhere@x.io"})
    assert plan.unknown(["elsewhere@x.io", "new@x.io"]) == []  # each address is looked up once
    for n, email in enumerate(["member@x.io", "elsewhere@x.io", "new@x.io"], 1):
        plan.upsert(email, (L1,), n)
    one = plan.summary({L1: 4})["lists"]["one"]
    assert (one["create"], one["update"], one["add"], one["unchanged"]) == (1, 2, 2, 4)


def test_only_members_leave_and_a_contact_that_joins_and_leaves_changes_nothing() -> None:
    plan = a_plan({"member@x.io": [L1]})
    plan.remove("stranger@x.io", L1, 1)
    plan.remove("member@x.io", L1, 2)
    plan.remove("member@x.io", L1, 3)  # gone already
    plan.found(["new@x.io"], set())
    plan.upsert("new@x.io", (L2,), 4)
    plan.remove("new@x.io", L2, 5)
    lists = plan.summary({})["lists"]
    assert lists["one"]["remove"] == 1
    assert (lists["two"]["add"], lists["two"]["remove"]) == (0, 0)  # the list ends as it was


def test_a_deletion_takes_the_contact_out_of_every_list_and_a_missing_one_is_not_counted() -> None:
    plan = a_plan({"both@x.io": [L1, L2]})
    plan.found(["nobody@x.io"], set())
    assert plan.delete("both@x.io", 1) is True
    assert plan.delete("nobody@x.io", 2) is False
    summary = plan.summary({})
    assert summary["delete_contacts"] == 1
    assert summary["lists"]["one"]["remove"] == summary["lists"]["two"]["remove"] == 1


def test_mirror_stale_members_and_the_safety_stop_are_reported_per_list() -> None:
    plan = a_plan({"a@x.io": [L1], "b@x.io": [L1]})
    left = plan.leave(L1, [{"id": "c1", "key": hash("a@x.io")}, {"id": "c2", "key": hash("b@x.io")}], stopped=True)
    assert left == 2
    one = plan.summary({})["lists"]["one"]
    assert one["remove"] == 2 and one["removal_stop"] is True
    assert "safety stop would refuse" in plan.lines({})[0]


def test_lists_and_fields_to_create_are_named_and_have_no_id() -> None:
    plan = a_plan({})
    plan.new_lists = {new_id("Fresh"): "Fresh"}
    plan.new_fields = ["ltv"]
    plan.lists((new_id("Fresh"),))
    summary = plan.summary({})
    assert summary["lists"]["Fresh"]["id"] is None
    assert (summary["create_lists"], summary["create_custom_fields"]) == (["Fresh"], ["ltv"])
    assert "Plan for list 'Fresh' (to be created): 0 create" in "\n".join(plan.lines({}))


def test_the_plan_file_names_each_change_by_hash_never_by_address(tmp_path: Path) -> None:
    plan = a_plan({"member@x.io": [L1]}, tmp_path / "plan.jsonl")
    plan.found(["new@x.io"], set())
    plan.upsert("new@x.io", (L1,), 7)
    plan.remove("member@x.io", L1, 8)
    plan.leave(L2, [], stopped=False)
    plan.close()
    text = (tmp_path / "plan.jsonl").read_text()
    assert "@x.io" not in text
    lines = [json.loads(x) for x in text.splitlines()]
    assert [(x["list"], x["action"], x["record_number"], x.get("joins_list")) for x in lines] == [
        ("one", "create", 7, True),
        ("one", "remove", 8, None),
    ]
    assert all(x["email"].startswith("sha256:") and x["run_id"] == "run-1" for x in lines)
    assert (tmp_path / "plan.jsonl").stat().st_mode & 0o777 == 0o600


def test_a_change_planned_after_close_leaves_the_plan_file_whole(tmp_path: Path) -> None:
    """A worker still planning a batch when an interrupted run closes the plan: its line is dropped, and the
    file keeps what was written (it was reopened, truncated, before)."""
    plan = a_plan({}, tmp_path / "plan.jsonl")
    plan.found(["a@x.io", "b@x.io"], set())
    plan.upsert("a@x.io", (L1,), 1)
    plan.close()
    plan.upsert("b@x.io", (L1,), 2)
    lines = [json.loads(x) for x in (tmp_path / "plan.jsonl").read_text().splitlines()]
    assert [x["record_number"] for x in lines] == [1]


def test_a_read_only_transport_refuses_every_write_before_sending_it() -> None:
    transport = Transport("SG.key", "http://127.0.0.1:9", read_only=True, max_retries=0)  # nothing listens there
    for method, path in [
        ("PUT", "/v3/marketing/contacts"),
        ("POST", "/v3/marketing/lists"),
        ("DELETE", "/v3/marketing/contacts"),
        ("PATCH", "/v3/marketing/lists/x"),
    ]:
        with pytest.raises(SendGridError, match="was not sent: this run writes nothing"):
            transport.request(method, path)
    assert transport.requests_sent == 0
    with pytest.raises(SendGridError, match="Could not connect"):  # a read is sent (and finds nobody)
        transport.request("POST", "/v3/marketing/contacts/search/emails", json={"emails": ["a@x.io"]})


def test_an_exports_stale_rows_leave_though_no_copy_was_read_and_none_twice() -> None:
    plan = Plan(None, "run-1")  # no SCHEMA came, so no copy: mirror judged the list from its export
    plan.lists((L1,))
    rows = [{"id": "c1", "key": hash("a@x.io")}, {"id": "c2", "key": hash("b@x.io")}]
    assert plan.leave(L1, rows, stopped=True) == 2
    assert plan.leave(L1, rows, stopped=True) == 0
    assert plan.summary({})["lists"][L1]["remove"] == 2
