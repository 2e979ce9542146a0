"""plan: true: what a run would change in each list, read from SendGrid, written nowhere, and exact.

Each test makes a plan over the command line, checks that the emulator received no write and the
plan no STATE, then makes the real run with the same settings and input and compares the plan with
what the real run changed: the account's contacts and each list's members before and after.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from sendgrid_emulator import SendGridEmulator
from tests.conftest import Cli, run_cli
from tests.support import Api, expected_emails, prefill, singer_lines, target_config

# The POSTs that only read (searches and contacts exports), named here, not taken from the code under test.
SEARCHES_AND_EXPORTS = {
    "/v3/marketing/contacts/search/emails",
    "/v3/marketing/contacts/search",
    "/v3/marketing/contacts/exports",
}


def scenario(tmp_path: Path, lines: list[str], name: str = "input.singer") -> Path:
    path = tmp_path / name
    path.write_text("".join(lines))
    return path


def writes(emulator: SendGridEmulator, since: int) -> list[str]:
    """The requests after the ``since``-th that could change the account: anything but GETs and reads."""
    made = [(r["method"], r["path"]) for r in emulator.requests_made()[since:]]
    return [f"{method} {path}" for method, path in made if method != "GET" and path not in SEARCHES_AND_EXPORTS]


class Snapshot:
    """The account's emails and each list's members, by list name."""

    def __init__(self, emulator: SendGridEmulator) -> None:
        self.account = emulator.list_emails()
        self.lists = {entry["name"]: emulator.list_emails(list_id) for list_id, entry in emulator.lists.items()}


def make_plan(emulator: SendGridEmulator, config: dict[str, Any], path: Path, tmp_path: Path) -> tuple[Cli, dict]:
    """A plan over the command line: no write reached the emulator, no STATE was written."""
    since = len(emulator.requests_made())
    lists_before = len(emulator.lists)
    plan = run_cli({**config, "plan": True}, path, tmp_path)
    assert writes(emulator, since) == []
    assert len(emulator.lists) == lists_before
    assert plan.stdout == "", "a plan writes no STATE"
    return plan, plan.summary["plan"]


def changes(before: Snapshot, after: Snapshot, name: str) -> dict[str, int]:
    """What a real run changed in a list: contacts created into it, members added and removed."""
    old, new = before.lists.get(name, set()), after.lists[name]
    created = after.account - before.account
    return {"create": len(new & created), "add": len(new - old), "remove": len(old - new)}


def exported_per_list(stderr: str) -> dict[str, int]:
    """The real run's contacts sent to each list, from its 'Contacts exported:' line."""
    [line] = [x for x in stderr.splitlines() if "Contacts exported:" in x]
    return {name: int(n) for n, name in re.findall(r"(\d+) to list '([^']+)'", line)}


def assert_plan_is_exact(plan: dict, before: Snapshot, after: Snapshot, real: Cli) -> None:
    sent = exported_per_list(real.stderr)
    for name, entry in plan["lists"].items():
        assert {k: entry[k] for k in ("create", "add", "remove")} == changes(before, after, name), name
        assert entry["create"] + entry["update"] == sent.get(name, 0), name


def test_a_first_export_into_an_empty_list(emulator: SendGridEmulator, api: Api, tmp_path: Path) -> None:
    config = target_config(emulator, max_contacts=0)
    elsewhere = emulator.create_list("another list")
    already = sorted(expected_emails(1_000))[:120]  # contacts of the account in another list
    prefill(emulator, api, elsewhere, already)
    path = scenario(tmp_path, singer_lines(1_000, state_every=100))
    before = Snapshot(emulator)
    run, plan = make_plan(emulator, {**config, "plan_path": str(tmp_path / "plan.jsonl")}, path, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    entry = plan["lists"]["list 0"]
    assert entry["id"] == config["list_id"]
    assert entry["update"] == 120 and entry["create"] == len(expected_emails(1_000)) - 120
    assert entry["unchanged"] == entry["remove"] == 0 and entry["removal_stop"] is False
    assert plan["create_lists"] == [] and plan["create_custom_fields"] == []
    assert re.search(r"Plan for list 'list 0' \([0-9a-f-]{36}\): \d+ create, 120 update, 0 unchanged", run.stderr)
    # The plan file: one line per contact, its email hashed, never written out.
    lines = [json.loads(x) for x in (tmp_path / "plan.jsonl").read_text().splitlines()]
    assert len(lines) == entry["create"] + entry["update"]
    hashes = {line["email"] for line in lines}
    assert "sha256:" + hashlib.sha256(already[0].encode()).hexdigest() in hashes
    text = (tmp_path / "plan.jsonl").read_text() + run.stderr
    assert not any(email in text for email in already)
    real = run_cli(config, path, tmp_path)
    assert real.returncode == 0, real.stderr[-3000:]
    after = Snapshot(emulator)
    assert_plan_is_exact(plan, before, after, real)
    assert real.summary["created"] == entry["create"] and real.summary["updated"] == entry["update"]


def test_an_unchanged_rerun_with_skip_unchanged(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, skip_unchanged=True)
    path = scenario(tmp_path, singer_lines(500, state_every=100))
    assert run_cli(config, path, tmp_path).returncode == 0
    before = Snapshot(emulator)
    run, plan = make_plan(emulator, config, path, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    entry = plan["lists"]["list 0"]
    assert entry["unchanged"] == len(expected_emails(500))
    assert entry["create"] == entry["update"] == entry["add"] == entry["remove"] == 0
    real = run_cli(config, path, tmp_path)
    assert real.summary["unchanged"] == entry["unchanged"] and real.summary["exported"] == 0
    assert_plan_is_exact(plan, before, Snapshot(emulator), real)


def test_a_one_percent_change(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, skip_unchanged=True)
    lines = singer_lines(1_000, state_every=100)
    assert run_cli(config, scenario(tmp_path, lines, "first.singer"), tmp_path).returncode == 0
    changed = 0
    for n, line in enumerate(lines):
        message = json.loads(line)
        if message["type"] == "RECORD" and n % 100 == 7 and "@" in str(message["record"].get("email")):
            message["record"]["first_name"] = f"Renamed{n}"
            lines[n] = json.dumps(message) + "\n"
            changed += 1
    path = scenario(tmp_path, lines, "changed.singer")
    before = Snapshot(emulator)
    run, plan = make_plan(emulator, config, path, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    entry = plan["lists"]["list 0"]
    assert entry["update"] == changed > 0 and entry["create"] == entry["add"] == 0
    real = run_cli(config, path, tmp_path)
    assert real.summary["exported"] == changed and real.summary["unchanged"] == entry["unchanged"]
    assert_plan_is_exact(plan, before, Snapshot(emulator), real)


def mirror_input(emulator: SendGridEmulator, tmp_path: Path, members: int, leaving: int) -> tuple[dict, Path]:
    """A list of ``members`` members, and an input that holds all but ``leaving`` of them."""
    config = target_config(emulator, sync_mode="mirror")
    lines = singer_lines(members, state_every=100)
    assert run_cli(config, scenario(tmp_path, lines, "all.singer"), tmp_path).returncode == 0
    records = [n for n, line in enumerate(lines) if json.loads(line)["type"] == "RECORD"]
    gone = {n for n in records[:: len(records) // leaving][:leaving]}
    return config, scenario(tmp_path, [x for n, x in enumerate(lines) if n not in gone], "fewer.singer")


def test_mirror_with_five_percent_stale_members(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config, path = mirror_input(emulator, tmp_path, 1_000, 50)
    before = Snapshot(emulator)
    run, plan = make_plan(emulator, config, path, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    entry = plan["lists"]["list 0"]
    assert 40 < entry["remove"] <= 50 and entry["removal_stop"] is False  # some generated emails are invalid
    real = run_cli(config, path, tmp_path)
    assert real.returncode == 0, real.stderr[-3000:]
    assert_plan_is_exact(plan, before, Snapshot(emulator), real)


def test_mirror_past_the_safety_stop(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config, path = mirror_input(emulator, tmp_path, 400, 300)
    before = Snapshot(emulator)
    run, plan = make_plan(emulator, config, path, tmp_path)
    assert run.returncode != 0
    entry = plan["lists"]["list 0"]
    assert entry["removal_stop"] is True and entry["remove"] > 200
    assert "Plan for list 'list 0'" in run.stderr and "safety stop would refuse" in run.stderr
    [refusal] = [x for x in run.stderr.splitlines() if "more than mirror_max_removal_fraction" in x]
    assert f"would remove {entry['remove']} of the" in refusal
    real = run_cli(config, path, tmp_path)
    assert real.returncode != 0  # refused by the same stop, which removed nothing
    after = Snapshot(emulator)
    assert after.lists["list 0"] == before.lists["list 0"]


def test_segment_lists_with_a_list_still_to_create(emulator: SendGridEmulator, api: Api, tmp_path: Path) -> None:
    emulator.create_list("Known list")
    config = target_config(
        emulator,
        list_id=None,
        segment_lists={"vip": "Known list", "high_ltv": "New list"},
        segments=["vip", "high_ltv"],
        custom_field_mapping={"ltv_score": "lifetime_value"},
        create_custom_fields=True,
    )
    path = scenario(tmp_path, singer_lines(800, state_every=100))
    before = Snapshot(emulator)
    fields_before = len(emulator.custom_fields)
    run, plan = make_plan(emulator, config, path, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(emulator.custom_fields) == fields_before
    assert plan["create_lists"] == ["New list"] and plan["create_custom_fields"] == ["ltv_score"]
    assert plan["lists"]["New list"]["id"] is None and plan["lists"]["Known list"]["id"]
    assert plan["lists"]["New list"]["create"] > 0 and plan["lists"]["Known list"]["create"] > 0
    assert "Plan for list 'New list' (to be created)" in run.stderr
    real = run_cli(config, path, tmp_path)
    assert real.returncode == 0, real.stderr[-3000:]
    assert_plan_is_exact(plan, before, Snapshot(emulator), real)


def test_deletions_and_removals_of_leavers(emulator: SendGridEmulator, api: Api, tmp_path: Path) -> None:
    config = target_config(emulator, deleted_records="delete_contacts", segments=["vip"], remove_non_members=True)
    other = emulator.create_list("another list")
    prefill(emulator, api, config["list_id"], ["ann@x.io", "bo@x.io", "cy@x.io"])
    prefill(emulator, api, other, ["bo@x.io", "dee@x.io"])
    schema = {"properties": {"email": {"type": "string"}, "segments": {"type": "array"}, "_sdc_deleted_at": {}}}
    rows = [("ann@x.io", "vip", None), ("bo@x.io", "vip", "2026-11-30"), ("cy@x.io", "other", None)]
    rows += [("dee@x.io", "vip", None), ("eve@x.io", "vip", None), ("fay@x.io", "other", "2026-11-30")]
    messages = [{"type": "SCHEMA", "stream": "people", "schema": schema, "key_properties": ["email"]}]
    for email, segment, deleted in rows:
        record = {"email": email, "segments": [segment], **({"_sdc_deleted_at": deleted} if deleted else {})}
        messages.append({"type": "RECORD", "stream": "people", "record": record})
    path = scenario(tmp_path, [json.dumps(m) + "\n" for m in messages])
    before = Snapshot(emulator)
    run, plan = make_plan(emulator, config, path, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    entry = plan["lists"]["list 0"]
    # ann stays (update); dee joins from elsewhere (update); eve is new; cy leaves; bo is deleted (fay: no contact).
    assert (entry["create"], entry["update"], entry["add"], entry["remove"]) == (1, 2, 2, 2)
    assert plan["delete_contacts"] == 1
    real = run_cli(config, path, tmp_path)
    assert real.returncode == 0, real.stderr[-3000:]
    after = Snapshot(emulator)
    assert_plan_is_exact(plan, before, after, real)
    assert before.account - after.account == {"bo@x.io"}


@pytest.mark.parametrize("settings", [{"dry_run": True}, {"plan_path": "plan.jsonl", "plan": False}])
def test_settings_a_plan_cannot_take(emulator: SendGridEmulator, tmp_path: Path, settings: dict) -> None:
    config = {**target_config(emulator), "plan": True, **settings}
    run = run_cli(config, scenario(tmp_path, singer_lines(5)), tmp_path)
    assert run.returncode != 0
    assert "plan" in run.stderr.splitlines()[-1] and "Traceback" not in run.stderr
    assert writes(emulator, 0) == []


def versioned(tmp_path: Path, version: int, ids: range | list[int]) -> Path:
    """One table version of a pipelinewise-style tap: ACTIVATE_VERSION, its records, ACTIVATE_VERSION."""
    schema = {"properties": {"id": {"type": "integer"}, "email": {"type": "string"}}}
    messages: list[dict] = [{"type": "SCHEMA", "stream": "customers", "schema": schema, "key_properties": ["id"]}]
    messages.append({"type": "ACTIVATE_VERSION", "stream": "customers", "version": version})
    for n in ids:
        record = {"id": n, "email": f"member{n}@example.com"}
        messages.append({"type": "RECORD", "stream": "customers", "version": version, "record": record})
    messages.append({"type": "ACTIVATE_VERSION", "stream": "customers", "version": version})
    messages.append({"type": "STATE", "value": {"bookmarks": {"customers": {"version": version}}}})
    return scenario(tmp_path, [json.dumps(m) + "\n" for m in messages], f"v{version}.singer")


def test_versioned_mirror(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, sync_mode="mirror")
    assert run_cli(config, versioned(tmp_path, 1, range(1, 101)), tmp_path).returncode == 0
    path = versioned(tmp_path, 2, [*range(1, 96), *range(101, 106)])
    before = Snapshot(emulator)
    run, plan = make_plan(emulator, config, path, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    entry = plan["lists"]["list 0"]
    assert (entry["create"], entry["update"], entry["add"], entry["remove"]) == (5, 95, 5, 5)
    real = run_cli(config, path, tmp_path)
    assert real.returncode == 0, real.stderr[-3000:]
    assert_plan_is_exact(plan, before, Snapshot(emulator), real)


def test_past_max_contacts_the_plan_is_printed_then_refused(emulator: SendGridEmulator, tmp_path: Path) -> None:
    config = target_config(emulator, max_contacts=100, batch_size=50)
    run, plan = make_plan(emulator, config, scenario(tmp_path, singer_lines(300)), tmp_path)
    assert run.returncode != 0
    # All or nothing: a real run over the ceiling sends none of its contacts, so the plan has none to create.
    assert plan["lists"]["list 0"]["create"] == 0 and run.summary["would_export"] == 0
    lines = run.stderr.splitlines()
    assert any("Plan for list 'list 0'" in x for x in lines)
    assert "more than max_contacts=100" in lines[-1] and "Traceback" not in run.stderr


@pytest.mark.parametrize("where", ["a folder", "a link"])
def test_a_plan_path_that_is_no_file_is_refused_before_anything_is_sent(
    emulator: SendGridEmulator, tmp_path: Path, where: str
) -> None:
    path = tmp_path / "plans"
    if where == "a folder":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "elsewhere.jsonl")
    config = {**target_config(emulator), "plan": True, "plan_path": str(path)}
    run = run_cli(config, scenario(tmp_path, singer_lines(5)), tmp_path)
    assert run.returncode != 0
    assert f"plan_path {path}:" in run.stderr.splitlines()[-1] and "Traceback" not in run.stderr
    assert emulator.requests_made() == []  # refused before the key check: nothing reached SendGrid
    assert not (tmp_path / "elsewhere.jsonl").exists()
