"""Where features meet, over the command line: each case docs/contract.md decides, as a user runs it.

Each test is a defect found where two features met (the "where features meet" issue): it failed
on the code before the contract was written down, and passes now.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sendgrid_emulator import SendGridEmulator
from tests.conftest import Cli, run_cli
from tests.support import DATA, Api, target_config

READS = ("/v3/marketing/contacts/search", "/v3/marketing/contacts/exports")


def writes(emulator: SendGridEmulator, since: int = 0) -> list[tuple[str, str]]:
    """Requests that may change the account (searches and exports only read), after the first ``since``."""
    made = emulator.requests_made()[since:]
    return [(r["method"], r["path"]) for r in made if r["method"] != "GET" and not r["path"].startswith(READS)]


def contact(emulator: SendGridEmulator, email: str) -> dict[str, Any]:
    [found] = [c for c in emulator.list_contacts() if c["email"] == email]
    return found


def with_batch_files(scenario: str, tmp_path: Path) -> Path:
    """A scenario whose BATCH manifest names files in tests/data (``@DATA@``), as a file a tap would send."""
    path = tmp_path / scenario
    path.write_text((DATA / scenario).read_text().replace("@DATA@", str(DATA)))
    return path


def upsert(api: Api, list_id: str, contacts: list[dict[str, Any]], emulator: SendGridEmulator) -> None:
    assert api("PUT", "/v3/marketing/contacts", json={"list_ids": [list_id], "contacts": contacts}).status_code == 202
    emulator.wait_for_jobs()


def test_versioned_mirror_through_batch_files_removes_only_the_stale_members(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    """A singer-sdk tap in BATCH mode: ACTIVATE_VERSION, then files whose records carry no version."""
    config = target_config(emulator, sync_mode="mirror", mirror_close_at_end_of_input=True)
    stamp = emulator.create_custom_field("singer_table_version", "Number")
    old = [{"email": e, "custom_fields": {stamp: 1700000000001}} for e in ("ann@example.com", "bo@example.com")]
    upsert(
        api, config["list_id"], [*old, {"email": "cy@example.com", "custom_fields": {stamp: 1700000000001}}], emulator
    )
    run = run_cli(config, with_batch_files("mirror_batch_version.singer", tmp_path), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert emulator.list_emails(config["list_id"]) == {"ann@example.com", "bo@example.com"}
    assert run.summary["removed_from_lists"] == 1
    assert contact(emulator, "ann@example.com")["custom_fields"]["singer_table_version"] == 1700000000002
    assert run.states == [{"bookmarks": {"customers": {"done": True}}}]


def test_a_dry_run_emits_no_state(emulator: SendGridEmulator, tmp_path: Path) -> None:
    run = run_cli(target_config(emulator, dry_run=True), "nightly_base.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.states == []  # under meltano run, a bookmark past rows never sent would skip them next time
    assert run.summary["would_export"] == 10
    assert "Contacts that would be exported (dry run, nothing was sent): 10 to list" in run.stderr
    assert "Contacts exported:" not in run.stderr
    assert writes(emulator) == []


def test_a_partial_field_mapping_still_finds_email_by_name(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, field_mapping={"first_name": "given"})
    run = run_cli(config, "partial_mapping.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.summary["exported"] == 2 and run.summary["rejected"] == 0
    assert contact(emulator, "ann@example.com")["first_name"] == "Ann"
    assert "'email': 'email'" in run.stderr and "'first_name': 'given'" in run.stderr  # the mapping used, logged


def test_an_all_unchanged_rerun_with_a_filtered_record_is_not_empty(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, segments=["vip"], skip_unchanged=True, fail_on_empty_export=True)
    first = run_cli(config, "nightly_segment.singer", tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    again = run_cli(config, "nightly_segment.singer", tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (again.summary["unchanged"], again.summary["filtered_by_segment"], again.summary["exported"]) == (4, 1, 0)
    assert "No contact was exported" not in again.stderr
    assert again.states == [{"bookmarks": {"profiles": {"done": True}}}]


def test_a_run_over_max_contacts_writes_nothing(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, max_contacts=5, batch_size=2)
    run = run_cli(config, "nightly_base.singer", tmp_path)
    assert run.returncode == 1
    assert "The input holds 10 contacts to export, more than max_contacts=5" in run.stderr
    assert writes(emulator) == [] and run.states == []
    assert run.summary["not_sent"] == 10 and run.summary["exported"] == 0


def test_empty_cells_leave_sendgrids_values_alone_and_are_never_dropped_values(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    """A CSV tap's empty cell means no value, in reserved and custom fields of every type alike."""
    fields = {"ltv": "Number", "signup": "Date", "plan": "Text"}
    ids = {name: emulator.create_custom_field(name, kind) for name, kind in fields.items()}
    rejected = tmp_path / "rejected.jsonl"
    config = target_config(emulator, custom_field_mapping={n: n for n in fields}, rejected_records_path=str(rejected))
    before = {"ltv": 5, "signup": "2020-01-01", "plan": "silver"}
    known = {"first_name": "Annie", "city": "Rome", "custom_fields": {ids[n]: v for n, v in before.items()}}
    upsert(
        api, config["list_id"], [{"email": "ann@example.com", **known}, {"email": "bo@example.com", **known}], emulator
    )
    run = run_cli(config, "empty_cells.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.summary["custom_values_dropped"] == 0 and "dropped:" not in run.stderr
    assert not rejected.exists() or rejected.read_text() == ""
    ann, bo, cy = (contact(emulator, f"{n}@example.com") for n in ("ann", "bo", "cy"))
    assert (ann["first_name"], ann["city"], ann["custom_fields"]) == ("Annie", "Rome", before)
    assert (bo["first_name"], bo["city"], bo["custom_fields"]) == ("Bo", "Oslo", before)
    assert cy["custom_fields"] == {"ltv": 12.5, "signup": "2024-03-15", "plan": "gold"}
    assert "city" not in cy or not cy["city"]


def test_a_typed_custom_field_is_created_with_its_type(emulator: SendGridEmulator, tmp_path: Path) -> None:
    mapping = {
        "lifetime_value": {"property": "ltv", "type": "Number"},
        "signup_date": {"property": "signup", "type": "Date"},
    }
    config = target_config(emulator, custom_field_mapping={**mapping, "plan": "plan"}, create_custom_fields=True)
    run = run_cli(config, "empty_cells.singer", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    types = {f["name"]: f["field_type"] for f in emulator.custom_fields.values()}
    assert types == {"lifetime_value": "Number", "signup_date": "Date", "plan": "Text"}
    assert contact(emulator, "cy@example.com")["custom_fields"]["lifetime_value"] == 12.5
    # The field created as Text from a string property says how to declare its type.
    assert "Custom field plan is created as Text, from property 'plan'" in run.stderr
    assert '{"plan": {"property": "plan", "type": "Number"}}' in run.stderr


def test_a_declared_type_the_account_does_not_have_is_refused_at_start(
    emulator: SendGridEmulator, tmp_path: Path
) -> None:
    emulator.create_custom_field("lifetime_value", "Text")
    config = target_config(emulator, custom_field_mapping={"lifetime_value": {"property": "ltv", "type": "Number"}})
    run = run_cli(config, "empty_cells.singer", tmp_path)
    assert run.returncode == 1
    assert (
        "custom_field_mapping declares lifetime_value as Number, but this SendGrid account has it as a Text"
        in run.stderr
    )
    assert writes(emulator) == [] and run.states == []


def plan_then_run(
    emulator: SendGridEmulator, config: dict[str, Any], scenario: str | Path, tmp_path: Path
) -> tuple[Cli, Cli]:
    since = len(emulator.requests_made())
    plan = run_cli({**config, "plan": True}, scenario, tmp_path)
    assert writes(emulator, since) == [] and plan.states == []
    return plan, run_cli(config, scenario, tmp_path)


def test_an_unversioned_mirror_plan_names_no_stamp_field_and_the_run_creates_none(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    config = target_config(emulator, sync_mode="mirror", create_custom_fields=True)
    upsert(api, config["list_id"], [{"email": "gone@example.com"}], emulator)
    plan, real = plan_then_run(emulator, config, "nightly_base.singer", tmp_path)
    assert plan.returncode == real.returncode == 0, plan.stderr[-3000:] + real.stderr[-3000:]
    assert plan.summary["plan"]["create_custom_fields"] == []
    assert emulator.custom_fields == {}  # the run created no field either
    assert plan.summary["plan"]["lists"]["list 0"]["remove"] == real.summary["removed_from_lists"] == 1
    assert "skip_unchanged: list" not in plan.stderr and "Plan: list 'list 0'" in plan.stderr
    assert f"Mirror: removed 1 contacts from list 'list 0' ({config['list_id']}): members" in real.stderr  # by name


def test_a_deletion_plan_logs_and_counts_what_the_run_does(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    config = target_config(emulator, deleted_records="delete_contacts")
    upsert(api, config["list_id"], [{"email": "ann@example.com"}], emulator)
    lines = [
        {
            "type": "SCHEMA",
            "stream": "people",
            "key_properties": [],
            "schema": {"properties": {"email": {}, "_sdc_deleted_at": {}}},
        },
        {"type": "RECORD", "stream": "people", "record": {"email": "ann@example.com", "_sdc_deleted_at": "2026-12-01"}},
        {
            "type": "RECORD",
            "stream": "people",
            "record": {"email": "never@example.com", "_sdc_deleted_at": "2026-12-01"},
        },
    ]
    path = tmp_path / "deletions.singer"
    path.write_text("".join(json.dumps(m) + "\n" for m in lines))
    plan, real = plan_then_run(emulator, config, path, tmp_path)
    assert plan.returncode == real.returncode == 0, plan.stderr[-3000:] + real.stderr[-3000:]
    assert plan.summary["deleted_contacts"] == real.summary["deleted_contacts"] == 2
    assert plan.summary["plan"]["delete_contacts"] == 1 and emulator.list_emails() == set()
    assert (
        "Plan: 1 contacts would be deleted from the account, every list with them, for records flagged deleted"
        in plan.stderr
    )
    assert "(1 are gone already; deleted_contacts counts both)" in plan.stderr
    assert (
        "Deleted 1 contacts from the account, every list with them, for records flagged deleted (1 were gone"
        in real.stderr
    )


@pytest.mark.parametrize("entry", [{"property": "ltv", "type": "Integer"}, {"prop": "ltv"}, 5])
def test_a_custom_field_entry_that_is_neither_form_is_refused_naming_both(
    emulator: SendGridEmulator, tmp_path: Path, entry: Any
) -> None:
    run = run_cli(target_config(emulator, custom_field_mapping={"ltv": entry}), "empty_cells.singer", tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert (
        "custom_field_mapping entry 'ltv' must be a record property's name, or an object such as "
        '{"property": "ltv", "type": "Number"} with a type of Text, Number or Date.'
    ) in run.stderr.splitlines()[-1]
    assert emulator.requests_made() == []
