"""deleted_records: delete_contacts: a customer erased in the warehouse leaves SendGrid's account, never more.

A record the tap flags deleted deletes its contact (every list with it), looked up by its primary
email, through DELETE /v3/marketing/contacts?ids= in calls under the URL limit, each job followed
to its end before the STATE that covers the record; max_contact_deletions stops a run that would
delete more, before any deletion is sent.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from sendgrid_emulator import SendGridEmulator
from target_sendgrid.target import TargetSendGrid
from tests.conftest import run_cli, target_command
from tests.support import Api, StateLines, target_config


def people(tmp_path: Path, rows: list[tuple[str, bool]], states_every: int = 0) -> Path:
    """A stream of people (email, flagged deleted), with a STATE after every ``states_every`` records."""
    schema = {"properties": {"id": {"type": "integer"}, "email": {"type": "string"}, "_sdc_deleted_at": {}}}
    lines = [{"type": "SCHEMA", "stream": "people", "schema": schema, "key_properties": ["id"]}]
    for n, (email, deleted) in enumerate(rows, 1):
        record = {"id": n, "email": email, **({"_sdc_deleted_at": "2026-11-30T10:00:00Z"} if deleted else {})}
        lines.append({"type": "RECORD", "stream": "people", "record": record})
        if states_every and n % states_every == 0:
            lines.append({"type": "STATE", "value": {"at": n}})
    lines.append({"type": "STATE", "value": {"at": len(rows)}})
    path = tmp_path / "people.singer"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def prefill(api: Api, emulator: SendGridEmulator, list_ids: list[str], emails: list[str]) -> None:
    for start in range(0, len(emails), 1000):
        chunk = [{"email": e} for e in emails[start : start + 1000]]
        assert api("PUT", "/v3/marketing/contacts", json={"list_ids": list_ids, "contacts": chunk}).status_code == 202
    emulator.wait_for_jobs()


def test_flagged_records_contacts_leave_the_account_and_every_list_and_nothing_else_does(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    config = target_config(emulator, deleted_records="delete_contacts")
    other = emulator.create_list("another list")
    prefill(api, emulator, [config["list_id"], other], ["ann@x.io", "bo@x.io", "cy@x.io"])
    run = run_cli(config, people(tmp_path, [("ann@x.io", False), ("BO@x.io", True), ("dee@x.io", False)]), tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert emulator.list_emails() == {"ann@x.io", "cy@x.io", "dee@x.io"}  # bo is gone from the account
    assert "bo@x.io" not in emulator.list_emails(other)
    assert run.summary["deleted_contacts"] == 1 and run.summary["deleted_records"] == 1
    assert "Deleted 1 contacts from the account" in run.stderr and "bo@x.io" not in run.stderr
    assert run.states == [{"at": 3}]


def test_the_state_covering_a_deleted_record_waits_for_its_deletion(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    config = target_config(emulator, deleted_records="delete_contacts")
    prefill(api, emulator, [config["list_id"]], ["bo@x.io"])
    path = people(tmp_path, [("ann@x.io", False), ("bo@x.io", True), ("cy@x.io", False)], states_every=1)
    written: list[tuple[dict, bool]] = []  # each STATE, and whether bo was still in SendGrid when it came out
    seen = lambda state: written.append((state, "bo@x.io" in emulator.list_emails()))  # noqa: E731
    with contextlib.redirect_stdout(StateLines(seen)):
        TargetSendGrid(config=config).listen(io.StringIO(path.read_text()))
    assert [s for s, _ in written][-1] == {"at": 3}
    assert all(not still_there for state, still_there in written if state["at"] >= 2)  # bo gone first
    assert {"at": 1} in [s for s, _ in written]  # the STATE before the deleted record moved on at once


def test_the_ceiling_stops_a_run_that_would_delete_more_before_any_deletion(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    config = target_config(emulator, deleted_records="delete_contacts", max_contact_deletions=3)
    emails = [f"p{i}@x.io" for i in range(5)]
    prefill(api, emulator, [config["list_id"]], emails)
    run = run_cli(config, people(tmp_path, [(e, True) for e in emails]), tmp_path)
    assert run.returncode == 1
    assert (
        "would delete 5 contacts from the account, more than max_contact_deletions=3: nothing was deleted" in run.stderr
    )
    assert emulator.list_emails() == set(emails)
    assert [r for r in emulator.requests_made() if r["method"] == "DELETE"] == []
    assert run.states == []


def test_a_thousand_deletions_are_sent_without_a_414(emulator: SendGridEmulator, api: Api, tmp_path: Path) -> None:
    config = target_config(emulator, deleted_records="delete_contacts", max_contact_deletions=1000)
    emails = [f"person.{i:04d}@example.com" for i in range(1000)]
    prefill(api, emulator, [config["list_id"]], [*emails, "keep@example.com"])
    run = run_cli(config, people(tmp_path, [(e, True) for e in emails]), tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert emulator.list_emails() == {"keep@example.com"}
    deletes = [r for r in emulator.requests_made() if r["method"] == "DELETE"]
    assert len(deletes) >= 10 and all(r["status"] == 202 for r in deletes)
    assert run.summary["deleted_contacts"] == 1000


def test_a_dry_run_counts_the_deletions_and_sends_none(emulator: SendGridEmulator, api: Api, tmp_path: Path) -> None:
    config = target_config(emulator, deleted_records="delete_contacts", dry_run=True)
    prefill(api, emulator, [config["list_id"]], ["bo@x.io"])
    before = len(emulator.requests_made())
    run = run_cli(config, people(tmp_path, [("bo@x.io", True)]), tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.summary["deleted_contacts"] == 1 and emulator.list_emails() == {"bo@x.io"}
    assert emulator.requests_made()[before:] == []  # a dry run sends nothing at all


def test_killed_during_its_deletions_a_resumed_run_ends_exact(
    emulator: SendGridEmulator, api: Api, tmp_path: Path
) -> None:
    emulator.job_delay = 0.3  # each deletion job takes a while: the kill lands among them
    config = target_config(emulator, deleted_records="delete_contacts", max_contact_deletions=0)
    gone = [f"gone.{i:04d}@example.com" for i in range(600)]
    kept = [f"kept.{i:04d}@example.com" for i in range(50)]
    prefill(api, emulator, [config["list_id"]], gone + kept)
    path = people(tmp_path, [(e, True) for e in gone] + [(e, False) for e in kept], states_every=100)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with subprocess.Popen(
        target_command(tmp_path / "config.json", path), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as first:
        deadline = time.monotonic() + 60
        while not set(gone) - emulator.list_emails() and time.monotonic() < deadline:  # the first job applied
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        states = [json.loads(line) for line in first.communicate()[0].decode().splitlines() if line.strip()]
    assert 0 < len(set(gone) - emulator.list_emails()) < len(gone)  # killed among its deletions
    assert all(s["at"] < 1 for s in states)  # no STATE past the first deleted record
    run = run_cli(config, path, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert emulator.list_emails() == set(kept)
    assert run.summary["deleted_contacts"] == len(gone)  # the ones gone already count as deleted
    assert run.states[-1] == {"at": 650}
